#!/usr/bin/env python3
"""Run librdkafka's mock Kafka cluster (a third-party broker implementation) on loopback.

Usage: mock_cluster.py [BROKERS] [--control-port PORT] [--parent-pid PID] [--exit-on-stdin-eof]

It uses the librdkafka shared library bundled in the confluent-kafka wheel, through ctypes. On start it
prints two lines to stdout:

    BOOTSTRAP host:port,host:port,...
    CONTROL port

then serves a line protocol on 127.0.0.1:CONTROL. Each line is one command and gets one line back
(librdkafka's error code for the call, 0 meaning success, unless stated):

    topic NAME PARTITIONS REPLICATION   create a topic (36 = TOPIC_ALREADY_EXISTS)
    err API_KEY CODE [CODE ...]         the next requests of that API fail with those codes, in order
    clear API_KEY                       forget the errors queued for that API ("ok")
    brokerdown ID | brokerup ID         take a broker's listener down / bring it back
    rtt ID MS                           delay every response of a broker by MS milliseconds
    leader TOPIC PARTITION ID           move a partition's leadership
    advertise ID HOST PORT              the address Metadata gives for a broker (e.g. a proxy)
    topicerr TOPIC CODE                 Metadata reports CODE for the topic (0 clears it)
    bootstrap                           the bootstrap list
    ping                                "pong"
    quit                                stop the cluster and exit

A line that cannot be parsed gets "error: ..." back; an unknown command gets "unknown".

The cluster stops when its parent process dies (so a killed test run leaves nothing behind), on
SIGTERM/SIGINT, on `quit`, and with --exit-on-stdin-eof when stdin closes.
"""
import argparse
import ctypes
import glob
import os
import signal
import socket
import sys
import threading
import time

try:
    import confluent_kafka
except ImportError:
    sys.exit("mock_cluster.py: confluent-kafka is not installed: run scripts/test.sh "
             "(it installs it) or `python3 -m pip install confluent-kafka`")


def load_librdkafka():
    here = os.path.dirname(confluent_kafka.__file__)
    # manylinux wheels vendor it as confluent_kafka.libs/librdkafka-<hash>.so.1
    candidates = sorted(glob.glob(os.path.join(here, "..", "confluent_kafka.libs", "librdkafka*")))
    candidates += sorted(glob.glob(os.path.join(here, ".libs", "librdkafka*")))
    candidates += ["librdkafka.so.1"]  # a system library, as a last resort
    errors = []
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            lib.rd_kafka_mock_cluster_new  # noqa: B018 - must exist
            return lib
        except (OSError, AttributeError) as e:
            errors.append(f"{path}: {e}")
    sys.exit("mock_cluster.py: no librdkafka with the mock cluster API found:\n  " + "\n  ".join(errors))


L = load_librdkafka()
vp, c_int, i16, i32 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int16, ctypes.c_int32


def sig(name, restype, *argtypes):
    f = getattr(L, name)
    f.restype, f.argtypes = restype, list(argtypes)
    return f


rd_kafka_conf_new = sig("rd_kafka_conf_new", vp)
rd_kafka_conf_set = sig("rd_kafka_conf_set", c_int, vp, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_size_t)
rd_kafka_new = sig("rd_kafka_new", vp, c_int, vp, ctypes.c_char_p, ctypes.c_size_t)
mock_cluster_new = sig("rd_kafka_mock_cluster_new", vp, vp, c_int)
mock_bootstraps = sig("rd_kafka_mock_cluster_bootstraps", ctypes.c_char_p, vp)
topic_create = sig("rd_kafka_mock_topic_create", c_int, vp, ctypes.c_char_p, c_int, c_int)
topic_set_error = sig("rd_kafka_mock_topic_set_error", None, vp, ctypes.c_char_p, c_int)
broker_set_down = sig("rd_kafka_mock_broker_set_down", c_int, vp, i32)
broker_set_up = sig("rd_kafka_mock_broker_set_up", c_int, vp, i32)
broker_set_rtt = sig("rd_kafka_mock_broker_set_rtt", c_int, vp, i32, c_int)
partition_set_leader = sig("rd_kafka_mock_partition_set_leader", c_int, vp, ctypes.c_char_p, i32, i32)
clear_request_errors = sig("rd_kafka_mock_clear_request_errors", None, vp, i16)
broker_set_host_port = sig("rd_kafka_mock_broker_set_host_port", c_int, vp, i32, ctypes.c_char_p, c_int)
push_request_errors_array = sig("rd_kafka_mock_push_request_errors_array", None, vp, i16, ctypes.c_size_t,
                                ctypes.POINTER(c_int))


def start_cluster(nbrokers):
    errbuf = ctypes.create_string_buffer(512)
    conf = rd_kafka_conf_new()
    for k, v in ((b"log_level", b"0"), (b"client.id", b"kafka-blocking-mock")):
        if rd_kafka_conf_set(conf, k, v, errbuf, len(errbuf)) != 0:
            sys.exit(f"mock_cluster.py: rd_kafka_conf_set {k!r}: {errbuf.value.decode()}")
    rk = rd_kafka_new(0, conf, errbuf, len(errbuf))  # 0 = RD_KAFKA_PRODUCER; it only hosts the cluster
    if not rk:
        sys.exit(f"mock_cluster.py: rd_kafka_new: {errbuf.value.decode()}")
    mc = mock_cluster_new(rk, nbrokers)
    if not mc:
        sys.exit("mock_cluster.py: rd_kafka_mock_cluster_new failed")
    return rk, mc


def handle(mc, line):
    a = line.split()
    if not a:
        return "ok"
    c, args = a[0], a[1:]
    if c == "topic":
        name, parts, rf = args[0], int(args[1]), int(args[2])
        return str(topic_create(mc, name.encode(), parts, rf))
    if c == "err":
        codes = [int(x) for x in args[1:]]
        push_request_errors_array(mc, int(args[0]), len(codes), (c_int * len(codes))(*codes))
        return "0"
    if c == "clear":
        clear_request_errors(mc, int(args[0]))
        return "ok"
    if c == "brokerdown":
        return str(broker_set_down(mc, int(args[0])))
    if c == "brokerup":
        return str(broker_set_up(mc, int(args[0])))
    if c == "rtt":
        return str(broker_set_rtt(mc, int(args[0]), int(args[1])))
    if c == "leader":
        return str(partition_set_leader(mc, args[0].encode(), int(args[1]), int(args[2])))
    if c == "advertise":
        return str(broker_set_host_port(mc, int(args[0]), args[1].encode(), int(args[2])))
    if c == "topicerr":
        topic_set_error(mc, args[0].encode(), int(args[1]))
        return "0"
    if c == "bootstrap":
        return mock_bootstraps(mc).decode()
    if c == "ping":
        return "pong"
    if c == "quit":
        os._exit(0)
    return "unknown"


def serve(mc, conn):
    with conn, conn.makefile("rw", encoding="utf-8", newline="\n") as f:
        for line in f:
            try:
                reply = handle(mc, line)
            except (IndexError, ValueError) as e:
                reply = f"error: {type(e).__name__}: {e} (in {line.strip()!r})"
            f.write(reply + "\n")
            f.flush()


def watch_parent(parent_pid):
    """Exit when the process that started us is gone (it was killed before it could stop us):
    either our parent changed (we were re-parented to init or a subreaper) or --parent-pid ended."""
    first_parent = os.getppid()
    while True:
        time.sleep(0.5)
        if first_parent != 1 and os.getppid() != first_parent:
            os._exit(0)
        if parent_pid is None:
            continue
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass


def watch_stdin():
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("brokers", type=int, nargs="?", default=3)
    ap.add_argument("--control-port", type=int, default=int(os.environ.get("MOCK_CONTROL_PORT", "0")))
    ap.add_argument("--parent-pid", type=int,
                    help="also exit when this process ends (the parent is always watched)")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    a = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    threading.Thread(target=watch_parent, args=(a.parent_pid,), daemon=True).start()
    if a.exit_on_stdin_eof:
        threading.Thread(target=watch_stdin, daemon=True).start()

    _rk, mc = start_cluster(a.brokers)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", a.control_port))
    srv.listen(16)
    print("BOOTSTRAP", mock_bootstraps(mc).decode(), flush=True)
    print("CONTROL", srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(mc, conn), daemon=True).start()


if __name__ == "__main__":
    main()
