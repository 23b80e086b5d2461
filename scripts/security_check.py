#!/usr/bin/env python3
"""Smoke test of the --security listeners of scripts/kafka_cluster.py, with librdkafka (confluent-kafka).

    scripts/security_check.py [--from FILE]

Reads the endpoints from the environment scripts/with-brokers.sh exports (KB_KAFKA_TV1_BOOTSTRAP,
KB_KAFKA_SECURITY_DIR, KB_KAFKA_SSL, ...), or from FILE: what `kafka_cluster.py --security` printed.
Every path produces one message and must succeed (TLS, mutual TLS, SASL PLAIN/SCRAM/OAUTHBEARER in
plain text and over TLS, idempotent and transactional producers) or fail (wrong CA, wrong host name,
expired certificate, wrong password, unknown user, no client certificate, a user without Write).
It also asks the SASL_REAUTH listener, with a raw SaslAuthenticate v1, for the session lifetime.
Prints one line per case with librdkafka's error text; exits 1 if any case went the wrong way.
"""
import argparse
import logging
import os
import socket
import struct
import sys
import threading
import time
import uuid

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

QUIET = logging.getLogger("security_check.librdkafka")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False
NAMES = ["SSL", "MTLS", "SSL_BADNAME", "SSL_EXPIRED", "SASL", "SASL_SSL", "SASL_REAUTH"]
TOPIC = "security-check"
STOP_ON = {KafkaError._SSL, KafkaError._AUTHENTICATION, KafkaError.TOPIC_AUTHORIZATION_FAILED,
           KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
           KafkaError.SASL_AUTHENTICATION_FAILED}


def endpoints(path):
    if path:
        ep = {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                w = line.split()
                if w[:1] == ["BOOTSTRAP"]:
                    ep["PLAINTEXT"] = w[1]
                elif w[:1] == ["SECURITY_DIR"]:
                    ep["DIR"] = w[1]
                elif w[:1] == ["LISTENER"]:
                    ep[w[1]] = w[2]
        return ep
    ep = {"PLAINTEXT": os.environ.get("KB_KAFKA_TV1_BOOTSTRAP"), "DIR": os.environ.get("KB_KAFKA_SECURITY_DIR")}
    ep.update({n: os.environ.get(f"KB_KAFKA_{n}") for n in NAMES})
    return ep


def produce(conf, transactional=False, timeout=10.0):
    """None on success, else librdkafka's error text (error callback and delivery report)."""
    errors, done = [], threading.Event()
    result = {}

    def on_error(e):
        errors.append(e)
        transport = sum(x.code() == KafkaError._TRANSPORT for x in errors)
        if e.code() in STOP_ON or e.fatal() or transport >= 3:
            done.set()

    def on_delivery(err, _msg):
        result["err"] = err
        done.set()

    p = Producer({**conf, "error_cb": on_error, "message.timeout.ms": int(timeout * 1000),
                  "log_level": 0, "logger": QUIET})
    try:
        if transactional:
            p.init_transactions(timeout)
            p.begin_transaction()
        p.produce(TOPIC, b"hello", on_delivery=on_delivery)
        deadline = time.time() + timeout + 2
        while not done.is_set() and time.time() < deadline:
            p.poll(0.1)
        if transactional and result.get("err") is None and "err" in result:
            p.commit_transaction(timeout)
    except Exception as e:  # noqa: BLE001 - KafkaException from the transactional API
        return f"{type(e).__name__}: {e}"
    finally:
        try:
            p.flush(0)
        except Exception:  # noqa: BLE001 - a fatal error is raised again here
            pass
    if "err" in result and result["err"] is None:
        return None
    text = list(dict.fromkeys(str(e) for e in errors))[:2]
    if result.get("err") is not None:
        text.append(f"delivery: {result['err']}")
    return " | ".join(text) or "no delivery report in time"


def sasl_lifetime(addr, user, password, then_wait=None):
    """session_lifetime_ms of a SaslAuthenticate v1 answer for PLAIN user/password (0: no re-auth);
    with then_wait, (lifetime, whether an ApiVersions request then_wait seconds later was answered)."""
    host, port = addr.split(",")[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        def call(api, ver, body, corr):
            hdr = struct.pack(">hhih", api, ver, corr, 5) + b"check"
            s.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
            n = struct.unpack(">i", recv(4))[0]
            data = recv(n)
            assert struct.unpack(">i", data[:4])[0] == corr
            return data[4:]

        def recv(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise ConnectionError("closed")
                buf += chunk
            return buf
        mech = b"PLAIN"
        r = call(17, 1, struct.pack(">h", len(mech)) + mech, 1)
        if struct.unpack(">h", r[:2])[0] != 0:
            return f"SaslHandshake error {struct.unpack('>h', r[:2])[0]}"
        tok = b"\0" + user.encode() + b"\0" + password.encode()
        r = call(36, 1, struct.pack(">i", len(tok)) + tok, 2)
        err, mlen = struct.unpack(">hh", r[:4])
        off = 4 + max(mlen, 0)
        if err != 0:
            return f"SaslAuthenticate error {err}: {r[4:off].decode(errors='replace')}"
        alen = struct.unpack(">i", r[off:off + 4])[0]
        off += 4 + max(alen, 0)
        lifetime = struct.unpack(">q", r[off:off + 8])[0]
        if then_wait is None:
            return lifetime
        time.sleep(then_wait)
        try:
            call(18, 0, b"", 3)
            return lifetime, True
        except (ConnectionError, OSError):
            return lifetime, False


def tls_verify(addr, ca):
    """Python's own verdict on a listener's certificate (names the reason librdkafka does not)."""
    import ssl
    host, port = addr.split(",")[0].rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=ca)
    try:
        with socket.create_connection((host, int(port)), timeout=10) as raw, ctx.wrap_socket(raw, server_hostname=host):
            return "verified"
    except ssl.SSLCertVerificationError as e:
        return e.verify_message


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="src", help="kafka_cluster.py's output instead of the KB_KAFKA_* environment")
    ep = endpoints(ap.parse_args().src)
    missing = [k for k in ["PLAINTEXT", "DIR", *NAMES] if not ep.get(k)]
    if missing:
        sys.exit(f"security_check.py: no endpoint for {', '.join(missing)}")
    d = ep["DIR"]
    ca, other_ca = os.path.join(d, "ca.pem"), os.path.join(d, "other-ca.pem")
    cert, key, enc_key = (os.path.join(d, n) for n in ("client.pem", "client.key", "client-encrypted.key"))

    admin = AdminClient({"bootstrap.servers": ep["PLAINTEXT"], "log_level": 0})
    try:
        admin.create_topics([NewTopic(TOPIC, 1)])[TOPIC].result(20)
    except Exception as e:  # noqa: BLE001 - exists already
        if "TOPIC_ALREADY_EXISTS" not in str(e):
            raise

    def ssl(name, **kw):
        return {"bootstrap.servers": ep[name], "security.protocol": "SSL", "ssl.ca.location": ca, **kw}

    def sasl(name, mech, user="alice", password=None, tls=False, **kw):
        c = {"bootstrap.servers": ep[name], "security.protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
             "sasl.mechanism": mech, **kw}
        if tls:
            c["ssl.ca.location"] = ca
        if mech == "OAUTHBEARER":
            c.update({"enable.sasl.oauthbearer.unsecure.jwt": True, "sasl.oauthbearer.config": f"principal={user}"})
        else:
            c.update({"sasl.username": user, "sasl.password": password or f"{user}-secret"})
        return c

    mtls = ssl("MTLS", **{"ssl.certificate.location": cert, "ssl.key.location": key})
    ok = [
        ("SSL, ssl.ca.location=ca.pem", ssl("SSL"), False),
        ("MTLS, client certificate CN=writer", mtls, False),
        ("MTLS, encrypted client key + ssl.key.password", {**mtls, "ssl.key.location": enc_key,
                                                          "ssl.key.password": "client-key-secret"}, False),
        ("MTLS, writer idempotent", {**mtls, "enable.idempotence": True}, False),
        ("MTLS, writer transactional", {**mtls, "transactional.id": f"check-writer-{uuid.uuid4()}"}, True),
        ("SSL_BADNAME without hostname verification", ssl("SSL_BADNAME", **{"ssl.endpoint.identification.algorithm": "none"}), False),
    ]
    for tls, name in ((False, "SASL"), (True, "SASL_SSL")):
        for mech in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"):
            ok.append((f"{name} {mech} alice", sasl(name, mech, tls=tls), False))
    ok += [
        ("SASL PLAIN alice idempotent", sasl("SASL", "PLAIN", **{"enable.idempotence": True}), False),
        ("SASL SCRAM-SHA-256 alice transactional", sasl("SASL", "SCRAM-SHA-256", **{"transactional.id": f"check-alice-{uuid.uuid4()}"}), True),
        ("SASL_REAUTH PLAIN alice", sasl("SASL_REAUTH", "PLAIN"), False),
        ("SASL_REAUTH SCRAM-SHA-256 alice", sasl("SASL_REAUTH", "SCRAM-SHA-256"), False),
    ]
    bad = [
        ("SSL, ssl.ca.location=other-ca.pem (wrong CA)", ssl("SSL", **{"ssl.ca.location": other_ca}), False),
        ("SSL_BADNAME with hostname verification", ssl("SSL_BADNAME"), False),
        ("SSL_EXPIRED", ssl("SSL_EXPIRED"), False),
        ("MTLS without a client certificate", ssl("MTLS"), False),
        ("SASL PLAIN wrong password", sasl("SASL", "PLAIN", password="wrong"), False),
        ("SASL SCRAM-SHA-256 wrong password", sasl("SASL", "SCRAM-SHA-256", password="wrong"), False),
        ("SASL SCRAM-SHA-512 unknown user", sasl("SASL", "SCRAM-SHA-512", user="mallory"), False),
        ("SASL PLAIN unknown user", sasl("SASL", "PLAIN", user="mallory"), False),
        ("SASL_SSL PLAIN bob (no Write)", sasl("SASL_SSL", "PLAIN", user="bob", tls=True), False),
        ("SASL SCRAM-SHA-512 bob (no Write)", sasl("SASL", "SCRAM-SHA-512", user="bob"), False),
        ("SASL OAUTHBEARER bob (no Write)", sasl("SASL", "OAUTHBEARER", user="bob"), False),
        ("SASL PLAIN bob idempotent (no IdempotentWrite)", sasl("SASL", "PLAIN", user="bob", **{"enable.idempotence": True}), False),
        ("SASL_REAUTH SCRAM-SHA-512 (not enabled there)", sasl("SASL_REAUTH", "SCRAM-SHA-512"), False),
    ]
    results = {}

    def run(label, conf, txn):
        results[label] = produce(conf, txn, timeout=8.0)

    def expiry():  # the broker closes a connection whose 3 s session ran out without re-authentication
        results["expiry"] = [sasl_lifetime(ep[n], "alice", "alice-secret", then_wait=3.5) for n in ("SASL_REAUTH", "SASL")]
    threads = [threading.Thread(target=run, args=c) for c in ok + bad] + [threading.Thread(target=expiry)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wrong = 0
    for label, _, _ in ok:
        r = results[label]
        wrong += r is not None
        print(f"{'ok  ' if r is None else 'FAIL'} expect success: {label}{'' if r is None else ': ' + r}")
    for label, _, _ in bad:
        r = results[label]
        wrong += r is None
        print(f"{'ok  ' if r is not None else 'FAIL'} expect failure: {label}: {r if r is not None else 'it succeeded'}")
    for (name, want), got in zip((("SASL_REAUTH", (3000, False)), ("SASL", (0, True))), results["expiry"]):
        wrong += got != want
        print(f"{'ok  ' if got == want else 'FAIL'} {name}: SaslAuthenticate session_lifetime_ms, request 3.5 s later "
              f"answered: {got} (want {want})")
    for name, want in (("SSL", "verified"), ("SSL_BADNAME", "IP address mismatch"), ("SSL_EXPIRED", "certificate has expired")):
        got = tls_verify(ep[name], ca)
        wrong += not got.startswith(want)
        print(f"{'ok  ' if got.startswith(want) else 'FAIL'} {name}: Python ssl says: {got}")
    print(f"security_check.py: {'all as expected' if not wrong else f'{wrong} case(s) went the wrong way'}")
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
