#!/usr/bin/env python3
"""Run Apache Kafka itself (jars from Maven Central) as a KRaft cluster on loopback, for tests and benchmarks.

Usage: kafka_cluster.py [NODES] [--feature F=L ...] [--set KEY=VALUE ...] [--dir DIR] [--parent-pid PID]
                        [--security] [--telemetry]
       kafka_cluster.py --fetch-only

Every node is a combined broker+controller (`process.roles=broker,controller`, static
`controller.quorum.voters`). Each has three listeners on free loopback ports: CLIENT (what clients
and the bootstrap list use), INTERNAL (replication between brokers, so a test proxy in front of a
CLIENT port sees only the client's traffic) and CONTROLLER (the Raft quorum). Replication factor and
`min.insync.replicas` default to 3 and 2 with three or more nodes (1 and 1 with fewer), so acks=all
means something.

Jars: `mvn dependency:copy-dependencies` of scripts/kafka/pom.xml into .brokers/kafka-VERSION/lib
(skipped when that folder is complete; Maven's own cache makes a re-fetch quick). Java 17+ and Maven
must be on PATH; a clear message says which is missing.

On start the storage of every node is formatted (one cluster id, `--feature` settings such as
`transaction.version=1`), the nodes start, and once Metadata lists every broker it prints

    BOOTSTRAP host:port,host:port,...
    CONTROL port
    NODE id host:port          (one line per node: its CLIENT listener)
    DIR path                   (configs, data and logs: node-ID.log)

then serves a line protocol on 127.0.0.1:CONTROL, one command a line, one line back:

    kill ID          SIGKILL the node (no controlled shutdown) and reap it     "ok"
    stop ID          SIGTERM: controlled shutdown, waits until it exited       "ok"
    start ID         start a stopped node again from its data directory and
                     wait until Metadata lists it (an unfenced broker)         "ok" or "error: ..."
    alive            the ids of running nodes, space-separated
    bootstrap        the bootstrap list
    ping             "pong"
    quit             stop every node and exit

With --security every node also gets these listeners (on free loopback ports, advertised as
127.0.0.1), an authorizer and ACLs; CLIENT, INTERNAL and CONTROLLER stay as they are:

    CLIENT_SSL          SSL, server.pem (CN and SAN localhost, SAN IP 127.0.0.1), no client certificate
    CLIENT_MTLS         SSL, ssl.client.auth=required (certificates signed by ca.pem); the principal is
                        the certificate's CN (ssl.principal.mapping.rules): client.pem is User:writer
    CLIENT_SSL_BADNAME  SSL, a certificate for DNS:wrong-name.invalid only
    CLIENT_SSL_EXPIRED  SSL, a certificate (names as server.pem) valid 2020-01-01 .. 2021-01-01
    CLIENT_SASL         SASL_PLAINTEXT: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER
    CLIENT_SASL_SSL     SASL_SSL (server.pem), the same mechanisms
    CLIENT_SASL_REAUTH  SASL_PLAINTEXT: PLAIN, SCRAM-SHA-256, OAUTHBEARER; connections.max.reauth.ms=3000 there only
                        (SaslAuthenticate answers a 3 s session lifetime; the broker closes a
                        connection that did not re-authenticate in time)

Users: alice/alice-secret and bob/bob-secret (PLAIN, and SCRAM-SHA-256/512 credentials written at
format time); OAUTHBEARER takes Kafka's unsecured JWTs (alg none), sub=NAME being User:NAME.
Authorizer StandardAuthorizer, super.users User:ANONYMOUS (every PLAINTEXT listener and the SSL ones
without client certificates) and User:admin. ACLs: User:alice and User:writer: Write, Describe and
Create on every topic, Write and Describe on every transactional id, IdempotentWrite on the cluster;
User:bob: Read and Describe on every topic, nothing else (added with CreateAcls once the nodes are
up). The certificates are made with `openssl` into DIR/security while the storage is formatted (EC
P-256 keys as unencrypted PKCS#8 PEM; see make_pki: ca.pem, other-ca.pem, client.pem, client.key,
client-encrypted.key with password client-key-secret, ...). After the lines above it prints

    SECURITY_DIR path          (DIR/security)
    LISTENER name host:port,...  (one line each: SSL, MTLS, SSL_BADNAME, SSL_EXPIRED, SASL, SASL_SSL,
                               SASL_REAUTH; one host:port per node)

scripts/security_check.py checks every one with librdkafka.

With --telemetry every node runs a client-telemetry plugin (KIP-714): scripts/telemetry/
KbTelemetryReceiver.java (compiled with javac once, into .brokers/telemetry-plugin/HASH) on the
classpath and in `metric.reporters` (a broker offers GetTelemetrySubscriptions and PushTelemetry only
with such a plugin). It decodes every accepted PushTelemetry with Kafka's own OpenTelemetry classes
and appends one JSON line to DIR/telemetry-nodeID.jsonl (client_instance_id, terminating, client_id,
resource, metrics with kind, temporality and points). Once the nodes are up a client-metrics
subscription `kb-telemetry` (metrics=org.apache.kafka.producer., interval.ms=1000,
match=client_id=kb-telemetry.*) is created with Kafka's ConfigCommand, and it prints

    TELEMETRY_DIR path         (DIR: the telemetry-node*.jsonl files)

The cluster stops when its parent process dies (so a killed test run leaves nothing behind), on
SIGTERM/SIGINT and on `quit`. JVM options: KB_KAFKA_JVM_OPTS (default: a 512 MiB heap, serial GC,
C1 only: three JVMs on a 2-core machine start faster that way; give full JIT for benchmarks).
"""
import argparse
import base64
import concurrent.futures
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POM = os.path.join(ROOT, "scripts", "kafka", "pom.xml")
DEFAULT_JVM_OPTS = "-Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto"


def die(msg):
    print(f"kafka_cluster.py: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def say(msg):
    print(f"kafka_cluster.py: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- jars

def kafka_version():
    with open(POM, encoding="utf-8") as f:
        m = re.search(r"<kafka.version>([^<]+)</kafka.version>", f.read())
    if not m:
        die(f"no <kafka.version> in {POM}")
    return m.group(1)


def check_java():
    java = shutil.which("java")
    if not java:
        die("Apache Kafka needs Java 17 or newer, and `java` is not on PATH (e.g. `apt-get install openjdk-17-jre-headless`)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(m.group(1)) if m else 0
    if major == 1 and m.group(2):  # "1.8.0_..." style
        major = int(m.group(2))
    if major < 17:
        die(f"Apache Kafka {kafka_version()} needs Java 17 or newer; `java -version` says: {out.strip().splitlines()[0] if out.strip() else '?'}")
    return java


def ensure_jars():
    """The folder of jars for kafka_version(), fetched with Maven when it is not complete yet."""
    lib = os.path.join(ROOT, ".brokers", f"kafka-{kafka_version()}", "lib")
    done = os.path.join(lib, ".complete")
    if os.path.exists(done):
        return lib
    mvn = shutil.which("mvn")
    if not mvn:
        die("fetching Apache Kafka's jars needs Maven, and `mvn` is not on PATH (e.g. `apt-get install maven`)")
    tmp = lib + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    say(f"fetching Apache Kafka {kafka_version()} jars with Maven into {lib}")
    t0 = time.time()
    r = subprocess.run([mvn, "-q", "-B", "-f", POM, "dependency:copy-dependencies", "-DincludeScope=runtime",
                        f"-DoutputDirectory={tmp}"], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        die(f"`mvn dependency:copy-dependencies -f {POM}` failed ({r.returncode}):\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
    if not any(n.startswith("kafka_2.13-") for n in os.listdir(tmp)):
        die(f"Maven finished but {tmp} holds no kafka_2.13 jar")
    shutil.rmtree(lib, ignore_errors=True)
    os.rename(tmp, lib)
    with open(done, "w") as f:
        f.write(f"{kafka_version()}\n")
    say(f"fetched {len(os.listdir(lib)) - 1} jars in {time.time() - t0:.0f} s")
    return lib


# ---------------------------------------------------------------- cluster

def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def cluster_id():
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


LOG4J = """status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = out
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
logger.controller.name = org.apache.kafka.controller.QuorumController
logger.controller.level = INFO
"""


# ---------------------------------------------------------------- security (--security)

# Extra listeners of a --security node: (listener name, security protocol, LISTENER line name).
SECURE_LISTENERS = [
    ("CLIENT_SSL", "SSL", "SSL"),
    ("CLIENT_MTLS", "SSL", "MTLS"),
    ("CLIENT_SSL_BADNAME", "SSL", "SSL_BADNAME"),
    ("CLIENT_SSL_EXPIRED", "SSL", "SSL_EXPIRED"),
    ("CLIENT_SASL", "SASL_PLAINTEXT", "SASL"),
    ("CLIENT_SASL_SSL", "SASL_SSL", "SASL_SSL"),
    ("CLIENT_SASL_REAUTH", "SASL_PLAINTEXT", "SASL_REAUTH"),
]
SASL_USERS = {"alice": "alice-secret", "bob": "bob-secret"}
SASL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
REAUTH_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "OAUTHBEARER"]
REAUTH_MS = 3000
CLIENT_KEY_PASSWORD = "client-key-secret"

OPENSSL_CNF = """# test PKI of kafka_cluster.py --security
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[badname_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong-name.invalid
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
# `openssl ca` only for the expired certificate (openssl 3.0's x509 -req has no -not_before/-not_after)
[expired_ca]
database = {d}/ca-db/index.txt
serial = {d}/ca-db/serial
new_certs_dir = {d}/ca-db
certificate = {d}/ca.pem
private_key = {d}/ca.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
"""


def make_pki(d):
    """Test certificates in folder d with `openssl` (EC P-256 keys: generated in milliseconds; every
    key an unencrypted PKCS#8 PEM, which Kafka's PEM key store reads without a password):

        ca.pem ca.key              the CA every certificate below is signed by
        other-ca.pem               an unrelated CA (a client trusting only it must fail)
        server.pem                 CN=localhost, SAN DNS:localhost,IP:127.0.0.1, 10 years
        server-badname.pem         SAN DNS:wrong-name.invalid only
        server-expired.pem         SAN as server.pem, valid 2020-01-01 .. 2021-01-01
        client.pem client.key      CN=writer (mutual TLS: principal User:writer)
        client-encrypted.key       client.key as encrypted PKCS#8 (PBES2, AES-256-CBC), password
                                   client-key-secret
        *-keystore.pem             what the broker reads: key, certificate, CA
    """
    os.makedirs(os.path.join(d, "ca-db"), exist_ok=True)
    cnf = os.path.join(d, "openssl.cnf")
    with open(cnf, "w") as f:
        f.write(OPENSSL_CNF.replace("{d}", d))
    open(os.path.join(d, "ca-db", "index.txt"), "w").close()
    with open(os.path.join(d, "ca-db", "serial"), "w") as f:
        f.write(f"{uuid.uuid4().int >> 65:016X}\n")

    def path(name):
        return os.path.join(d, name)

    def openssl(*args, stdin=None):
        r = subprocess.run(["openssl", *args], input=stdin, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"`openssl {' '.join(args)}` failed ({r.returncode}): "
                               f"{r.stderr.decode(errors='replace').strip()}")
        return r.stdout

    def key(name):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path(name + ".key"))

    def csr(name, cn):
        key(name)
        return openssl("req", "-new", "-config", cnf, "-key", path(name + ".key"), "-subj", f"/CN={cn}")

    def signed(name, cn, ext):
        openssl("x509", "-req", "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                "-set_serial", str(uuid.uuid4().int >> 65), "-days", "3650", "-sha256",
                "-extfile", cnf, "-extensions", ext, "-out", path(name + ".pem"), stdin=csr(name, cn))

    for name, cn in (("ca", "kafka-blocking test CA"), ("other-ca", "kafka-blocking other test CA")):
        key(name)
        openssl("req", "-x509", "-new", "-config", cnf, "-key", path(name + ".key"), "-subj", f"/CN={cn}",
                "-days", "3650", "-sha256", "-extensions", "ca_ext", "-out", path(name + ".pem"))
    signed("server", "localhost", "server_ext")
    signed("server-badname", "wrong-name.invalid", "badname_ext")
    signed("client", "writer", "client_ext")
    with open(path("server-expired.csr"), "wb") as f:
        f.write(csr("server-expired", "localhost"))
    openssl("ca", "-batch", "-config", cnf, "-name", "expired_ca", "-notext", "-extfile", cnf, "-extensions",
            "server_ext", "-startdate", "20200101000000Z", "-enddate", "20210101000000Z",
            "-in", path("server-expired.csr"), "-out", path("server-expired.pem"))
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", f"pass:{CLIENT_KEY_PASSWORD}",
            "-in", path("client.key"), "-out", path("client-encrypted.key"))
    with open(path("ca.pem"), "rb") as f:
        ca = f.read()
    for name in ("server", "server-badname", "server-expired"):
        with open(path(name + ".key"), "rb") as k, open(path(name + ".pem"), "rb") as c:
            chain = k.read() + c.read() + ca
        with open(path(name + "-keystore.pem"), "wb") as f:
            f.write(chain)


def security_props(secdir):
    """Broker properties of the SECURE_LISTENERS (their ports are in `listeners`)."""
    def ks(name):
        return os.path.join(secdir, f"{name}-keystore.pem")
    props = {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": ks("server"),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": os.path.join(secdir, "ca.pem"),
        "listener.name.client_mtls.ssl.client.auth": "required",
        "listener.name.client_ssl_badname.ssl.keystore.location": ks("server-badname"),
        "listener.name.client_ssl_expired.ssl.keystore.location": ks("server-expired"),
        # CN=writer -> User:writer (the default would be User:CN=writer)
        "ssl.principal.mapping.rules": "RULE:^CN=([^,]+)$/$1/,DEFAULT",
        "sasl.enabled.mechanisms": ",".join(SASL_MECHANISMS),
        "listener.name.client_sasl_reauth.sasl.enabled.mechanisms": ",".join(REAUTH_MECHANISMS),
        "listener.name.client_sasl_reauth.connections.max.reauth.ms": str(REAUTH_MS),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        # ANONYMOUS: every PLAINTEXT listener (CLIENT, INTERNAL, CONTROLLER) and the SSL ones without
        # client certificates, so that what runs on CLIENT sees no difference.
        "super.users": "User:ANONYMOUS;User:admin",
    }
    plain = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
             + " ".join(f'user_{u}="{p}"' for u, p in SASL_USERS.items()) + ";")
    jaas = {
        "PLAIN": plain,
        "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        # The broker's own (unsecured) token; clients' unsecured JWTs are checked by Kafka's default
        # OAuthBearerUnsecuredValidatorCallbackHandler, and sub=NAME is User:NAME.
        "OAUTHBEARER": "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
                       'unsecuredLoginStringClaim_sub="admin";',
    }
    for listener, mechs in (("client_sasl", SASL_MECHANISMS), ("client_sasl_ssl", SASL_MECHANISMS),
                            ("client_sasl_reauth", REAUTH_MECHANISMS)):
        for m in mechs:
            props[f"listener.name.{listener}.{m.lower()}.sasl.jaas.config"] = jaas[m]
    return props


def scram_format_args():
    return [a for u, p in SASL_USERS.items() for m in ("SCRAM-SHA-256", "SCRAM-SHA-512")
            for a in ("--add-scram", f"{m}=[name={u},password={p}]")]


# ACLs (StandardAuthorizer; the PLAINTEXT CLIENT listener's ANONYMOUS is a superuser): alice (SASL)
# and writer (mutual TLS) may produce to every topic, idempotently and transactionally; bob may only
# read and describe topics. As AclCommand: `--add --allow-principal User:alice --allow-principal
# User:writer --producer --idempotent --topic '*' --transactional-id '*'` and `--add
# --allow-principal User:bob --operation Read --operation Describe --topic '*'`. (confluent-kafka
# calls Kafka's CLUSTER resource BROKER.)
ACLS = [(user, res, name, op) for user in ("alice", "writer")
        for res, name, op in [("TOPIC", "*", "WRITE"), ("TOPIC", "*", "DESCRIBE"), ("TOPIC", "*", "CREATE"),
                              ("BROKER", "kafka-cluster", "IDEMPOTENT_WRITE"),
                              ("TRANSACTIONAL_ID", "*", "WRITE"), ("TRANSACTIONAL_ID", "*", "DESCRIBE")]] + \
       [("bob", "TOPIC", "*", "READ"), ("bob", "TOPIC", "*", "DESCRIBE")]


def acl_bindings():
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType
    return [AclBinding(ResourceType[res], name, ResourcePatternType.LITERAL, f"User:{user}", "*", AclOperation[op],
                       AclPermissionType.ALLOW) for user, res, name, op in ACLS]


def compile_telemetry_plugin(java, lib):
    """javac scripts/telemetry/KbTelemetryReceiver.java against Kafka's jars, once: the classes are
    kept in .brokers/telemetry-plugin/<hash of the source and the jar folder>, so a changed .java file
    (or other jars) is compiled again, and clusters started at the same time share one build (each
    compiles into a folder of its own and renames it into place). Returns the class folder."""
    src = os.path.join(ROOT, "scripts", "telemetry", "KbTelemetryReceiver.java")
    with open(src, "rb") as f:
        key = hashlib.sha256(f.read() + b"\0" + lib.encode()).hexdigest()[:16]
    cache = os.path.join(ROOT, ".brokers", "telemetry-plugin")
    out = os.path.join(cache, key)
    if os.path.exists(os.path.join(out, "kb", "KbTelemetryReceiver.class")):
        return out
    javac = os.path.join(os.path.dirname(os.path.realpath(java)), "javac")
    if not os.path.exists(javac):
        javac = shutil.which("javac") or die("--telemetry needs javac (a JDK, not only a JRE)")
    os.makedirs(cache, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f"{key}.", dir=cache)
    os.chmod(tmp, 0o755)
    r = subprocess.run([javac, "--release", "17", "-nowarn", "-d", tmp, "-cp", os.path.join(lib, "*"), src],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        die(f"compiling {src} failed:\n{r.stdout}{r.stderr}")
    try:
        os.rename(tmp, out)
    except OSError:  # another cluster got there first: its build is the same
        shutil.rmtree(tmp, ignore_errors=True)
    return out


class Cluster:
    def __init__(self, java, lib, nodes, features, settings, workdir, security=False, telemetry=False):
        self.java, self.lib, self.n, self.dir = java, lib, nodes, workdir
        self.plugin = compile_telemetry_plugin(java, lib) if telemetry else None
        self.ids = list(range(1, nodes + 1))
        extra = len(SECURE_LISTENERS) if security else 0
        ports = free_ports((3 + extra) * nodes)
        self.client = {i: ports[k] for k, i in enumerate(self.ids)}
        self.internal = {i: ports[nodes + k] for k, i in enumerate(self.ids)}
        self.controller = {i: ports[2 * nodes + k] for k, i in enumerate(self.ids)}
        # --security: {listener name: {node id: port}}, the folder of certificates
        self.secure = {name: {i: ports[(3 + j) * nodes + k] for k, i in enumerate(self.ids)}
                       for j, (name, _, _) in enumerate(SECURE_LISTENERS)} if security else {}
        self.secdir = os.path.join(workdir, "security") if security else None
        self.procs = {}
        self.lock = threading.Lock()
        self.features = features
        self.log4j = os.path.join(workdir, "log4j2.properties")
        with open(self.log4j, "w") as f:
            f.write(LOG4J)
        rf = 3 if nodes >= 3 else 1
        isr = 2 if nodes >= 3 else 1
        voters = ",".join(f"{i}@127.0.0.1:{self.controller[i]}" for i in self.ids)
        for i in self.ids:
            listeners = f"CLIENT://127.0.0.1:{self.client[i]},INTERNAL://127.0.0.1:{self.internal[i]}"
            protocols = "CONTROLLER:PLAINTEXT,CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT"
            if security:
                listeners += "".join(f",{name}://127.0.0.1:{self.secure[name][i]}" for name, _, _ in SECURE_LISTENERS)
                protocols += "".join(f",{name}:{proto}" for name, proto, _ in SECURE_LISTENERS)
            props = {
                "process.roles": "broker,controller",
                "node.id": str(i),
                "controller.quorum.voters": voters,
                "listeners": f"{listeners},CONTROLLER://127.0.0.1:{self.controller[i]}",
                "advertised.listeners": listeners,
                "controller.listener.names": "CONTROLLER",
                "inter.broker.listener.name": "INTERNAL",
                "listener.security.protocol.map": protocols,
                "log.dirs": os.path.join(workdir, f"data-{i}"),
                "num.partitions": "1",
                "default.replication.factor": str(rf),
                "min.insync.replicas": str(isr),
                "offsets.topic.replication.factor": str(rf),
                "offsets.topic.num.partitions": "3",
                "transaction.state.log.replication.factor": str(rf),
                "transaction.state.log.min.isr": str(isr),
                "transaction.state.log.num.partitions": "3",
                "share.coordinator.state.topic.replication.factor": str(rf),
                "share.coordinator.state.topic.min.isr": str(isr),
                "group.initial.rebalance.delay.ms": "0",
                "auto.create.topics.enable": "false",
                # A killed broker is fenced (and leaves the ISR) after this long without a heartbeat.
                "broker.session.timeout.ms": "6000",
                "broker.heartbeat.interval.ms": "1000",
                # Transactions whose transaction.timeout.ms ran out are aborted within a second.
                "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
                # Client quotas are measured over the last 2 s (default 11 s), so that a test
                # quota takes effect within seconds.
                "quota.window.num": "2",
                "quota.window.size.seconds": "1",
                "log.flush.interval.messages": "9223372036854775807",
            }
            if security:
                props.update(security_props(self.secdir))
            if self.plugin:
                props["metric.reporters"] = "kb.KbTelemetryReceiver"
                props["kb.telemetry.file"] = os.path.join(workdir, f"telemetry-node{i}.jsonl")
            for kv in settings:
                k, _, v = kv.partition("=")
                props[k] = v
            with open(self.config(i), "w") as f:
                f.writelines(f"{k}={v}\n" for k, v in props.items())

    def config(self, i):
        return os.path.join(self.dir, f"server-{i}.properties")

    def bootstrap(self):
        return ",".join(f"127.0.0.1:{self.client[i]}" for i in self.ids)

    def listener_lines(self):
        """(LISTENER line name, host:port,...) of every --security listener."""
        return [(short, ",".join(f"127.0.0.1:{self.secure[name][i]}" for i in self.ids))
                for name, _, short in SECURE_LISTENERS] if self.secdir else []

    def jvm(self, *args, opts=None):
        opts = (opts if opts is not None else os.environ.get("KB_KAFKA_JVM_OPTS", DEFAULT_JVM_OPTS)).split()
        cp = os.path.join(self.lib, "*") + (os.pathsep + self.plugin if self.plugin else "")
        return [self.java, *opts, f"-Dlog4j2.configurationFile={self.log4j}", "-cp", cp, *args]

    def add_telemetry_subscription(self):
        """The client-metrics subscription the --telemetry tests use, through Kafka's ConfigCommand."""
        cmd = self.jvm("org.apache.kafka.tools.ConfigCommand", "--bootstrap-server", self.bootstrap(), "--alter",
                       "--entity-type", "client-metrics", "--entity-name", "kb-telemetry", "--add-config",
                       "metrics=[org.apache.kafka.producer.],interval.ms=1000,match=[client_id=kb-telemetry.*]",
                       opts="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1")
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"creating the client-metrics subscription failed: {r.stdout}{r.stderr}")

    def format(self):
        cid = cluster_id()
        procs = []
        for i in self.ids:
            cmd = self.jvm("kafka.tools.StorageTool", "format", "-t", cid, "-c", self.config(i),
                           opts="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1")
            for f in self.features:
                cmd += ["--feature", f]
            if self.secdir:
                cmd += scram_format_args()
            procs.append((i, subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True)))
        for i, p in procs:
            out, _ = p.communicate()
            if p.returncode != 0:
                die(f"formatting node {i} failed ({p.returncode}):\n{out[-3000:]}")

    def add_acls(self, deadline):
        """ACLS through CreateAcls on the CLIENT listener (its ANONYMOUS is a superuser), in this process
        (an AclCommand JVM would cost seconds of start-up on a 2-core machine), then until DescribeAcls
        on every node (answered from its broker's authorizer) lists them all."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import (AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                           ResourcePatternType, ResourceType)
        want = set(acl_bindings())
        admin = AdminClient({"bootstrap.servers": self.bootstrap(), "log_level": 0})
        try:
            for f in admin.create_acls(list(want), request_timeout=max(1.0, deadline - time.time())).values():
                f.result()
        except KafkaException as e:
            raise RuntimeError(f"CreateAcls failed: {e}") from None
        everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                      AclPermissionType.ANY)
        for i in self.ids:
            node = AdminClient({"bootstrap.servers": f"127.0.0.1:{self.client[i]}", "log_level": 0})
            while True:
                try:
                    if want <= set(node.describe_acls(everything, request_timeout=5).result()):
                        break
                except KafkaException:
                    pass
                if time.time() > deadline:
                    raise RuntimeError(f"node {i} did not list the ACLs in time (see {self.dir}/node-{i}.log)")
                time.sleep(0.1)

    def start(self, i):
        with self.lock:
            p = self.procs.get(i)
            if p is not None and p.poll() is None:
                return
            log = open(os.path.join(self.dir, f"node-{i}.log"), "ab")
            self.procs[i] = subprocess.Popen(self.jvm("kafka.Kafka", self.config(i)), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT)
            log.close()

    def signal(self, i, sig, timeout):
        with self.lock:
            p = self.procs.get(i)
        if p is None or p.poll() is not None:
            return
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def alive(self):
        with self.lock:
            return [i for i in self.ids if self.procs.get(i) is not None and self.procs[i].poll() is None]

    def listed_brokers(self, timeout):
        """The broker ids Metadata from any running node lists, or None."""
        from confluent_kafka.admin import AdminClient
        up = self.alive()
        if not up:
            return None
        admin = AdminClient({"bootstrap.servers": ",".join(f"127.0.0.1:{self.client[i]}" for i in up),
                             "log_level": 0})
        try:
            return set(admin.list_topics(timeout=timeout).brokers)
        except Exception:  # noqa: BLE001 - not up yet
            return None

    def accepting(self, i):
        try:
            socket.create_connection(("127.0.0.1", self.client[i]), timeout=1.0).close()
            return True
        except OSError:
            return False

    def wait_listed(self, ids, deadline):
        """Until every node of `ids` accepts on its client port (its broker has caught up with the
        metadata log: a broker opens its listeners last) and Metadata lists it."""
        while time.time() < deadline:
            for i in ids:
                p = self.procs.get(i)
                if p is None or p.poll() is not None:
                    raise RuntimeError(f"node {i} exited with {p.returncode if p else '?'} (see {self.dir}/node-{i}.log)")
            if not all(self.accepting(i) for i in ids):
                time.sleep(0.2)
                continue
            got = self.listed_brokers(timeout=2.0)
            if got is not None and set(ids) <= got:
                return
            time.sleep(0.2)
        raise RuntimeError(f"Metadata did not list nodes {ids} in time (see {self.dir}/node-*.log)")

    def stop_all(self):
        for i in self.ids:
            with self.lock:
                p = self.procs.get(i)
            if p is not None and p.poll() is None:
                p.kill()
        for p in list(self.procs.values()):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass


def handle(cl, line, start_timeout):
    a = line.split()
    if not a:
        return "ok"
    c, args = a[0], a[1:]
    if c in ("kill", "stop", "start"):
        i = int(args[0])
        if i not in cl.ids:
            return f"error: no node {i}"
        if c == "kill":
            cl.signal(i, signal.SIGKILL, 30)
        elif c == "stop":
            cl.signal(i, signal.SIGTERM, 60)
        else:
            cl.start(i)
            try:
                cl.wait_listed([i], time.time() + start_timeout)
            except RuntimeError as e:
                return f"error: {e}"
        return "ok"
    if c == "alive":
        return " ".join(str(i) for i in cl.alive())
    if c == "bootstrap":
        return cl.bootstrap()
    if c == "ping":
        return "pong"
    if c == "quit":
        cl.stop_all()
        os._exit(0)
    return "unknown"


def serve(cl, conn, start_timeout):
    with conn, conn.makefile("rw", encoding="utf-8", newline="\n") as f:
        for line in f:
            try:
                reply = handle(cl, line, start_timeout)
            except (IndexError, ValueError) as e:
                reply = f"error: {type(e).__name__}: {e} (in {line.strip()!r})"
            f.write(reply + "\n")
            f.flush()


def watch_parent(cl, parent_pid):
    first_parent = os.getppid()
    while True:
        time.sleep(0.5)
        gone = first_parent != 1 and os.getppid() != first_parent
        if parent_pid is not None and not gone:
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                gone = True
            except PermissionError:
                pass
        if gone:
            cl.stop_all()
            os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("nodes", type=int, nargs="?", default=3)
    ap.add_argument("--feature", action="append", default=[], help="a format-time feature level, e.g. transaction.version=1")
    ap.add_argument("--set", action="append", default=[], help="a broker property KEY=VALUE for every node")
    ap.add_argument("--dir", help="work folder (default: a new temporary one)")
    ap.add_argument("--parent-pid", type=int, help="also exit when this process ends (the parent is always watched)")
    ap.add_argument("--start-timeout", type=float, default=120.0)
    ap.add_argument("--security", action="store_true",
                    help="also TLS, mutual TLS and SASL listeners, SCRAM users, an authorizer and ACLs (see above)")
    ap.add_argument("--telemetry", action="store_true",
                    help="a client-telemetry plugin on every node and a client-metrics subscription (see above)")
    ap.add_argument("--fetch-only", action="store_true", help="fetch the jars, print their folder and exit")
    a = ap.parse_args()
    java = check_java()
    lib = ensure_jars()
    if a.fetch_only:
        print(lib)
        return
    workdir = a.dir or tempfile.mkdtemp(prefix="kafka-blocking-kafka.")
    os.makedirs(workdir, exist_ok=True)
    cl = Cluster(java, lib, a.nodes, a.feature, a.set, workdir, security=a.security, telemetry=a.telemetry)

    def on_signal(*_):
        cl.stop_all()
        os._exit(0)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=watch_parent, args=(cl, a.parent_pid), daemon=True).start()

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pki = pool.submit(make_pki, cl.secdir) if cl.secdir else None  # while the storage is formatted
        cl.format()
        try:
            if pki:
                pki.result()
        except (RuntimeError, OSError) as e:
            die(f"making the test certificates in {cl.secdir}: {e}")
    for i in cl.ids:
        cl.start(i)
    try:
        cl.wait_listed(cl.ids, t0 + a.start_timeout)
        if cl.secdir:
            cl.add_acls(t0 + a.start_timeout)
        if cl.plugin:
            cl.add_telemetry_subscription()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        cl.stop_all()
        die(str(e))
    say(f"{a.nodes} nodes up in {time.time() - t0:.1f} s")
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    print("BOOTSTRAP", cl.bootstrap(), flush=True)
    print("CONTROL", srv.getsockname()[1], flush=True)
    for i in cl.ids:
        print("NODE", i, f"127.0.0.1:{cl.client[i]}", flush=True)
    print("DIR", workdir, flush=True)
    if cl.plugin:
        print("TELEMETRY_DIR", workdir, flush=True)
    if cl.secdir:
        print("SECURITY_DIR", cl.secdir, flush=True)
        for short, addrs in cl.listener_lines():
            print("LISTENER", short, addrs, flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(cl, conn, a.start_timeout), daemon=True).start()


if __name__ == "__main__":
    main()
