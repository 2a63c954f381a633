"""A pseudo-distributed Apache Hadoop 3.4.2 for the tests: HDFS (one DataNode) and YARN (two
NodeManagers) with MapReduce, in one JVM (MiniHadoopClusterManager, started by
`tests/hadoop/bin/hadoop minicluster`), and the client configuration that runs jobs on it with
`s3://` read and written through S3A on the moto server, as on EMR 7.10 and later.

    from minicluster import MiniCluster, minicluster  # noqa: F401  (the session's cluster)

    def test_something(minicluster: MiniCluster, aws: AwsServer, tmp_path) -> None:
        conf = minicluster.client_conf(tmp_path / "conf", aws.endpoint)
        subprocess.run(["hadoop", "jar", ...], env=minicluster.env(conf, ...))

The cluster is small, to fit two cores: containers of 512 MB (the application master, each map
and each reduce task), and the NodeManagers' 4 GB each (the mini cluster's default).
"""
import os
import shutil
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from conftest import clean_env
from support.hadoop_support import FAST_JVM, HADOOP_DIR, LAUNCHER, RESOLVE_TIMEOUT

VERSION = "3.4.2"
NODE_MANAGERS = 2
START_TIMEOUT = 240  # the mini clusters start in about 20 s on 2 cores
STOP_TIMEOUT = 30
CONTAINER_MB = 512
# The JVMs of the containers: small heaps, a fast start, and the module openings Hadoop passes
# its own JVMs on Java 17 (as tests/hadoop/bin/hadoop does); Java 8 ignores them.
JAVA_OPENS = ("-XX:+IgnoreUnrecognizedVMOptions --add-opens=java.base/java.lang=ALL-UNNAMED "
              "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED "
              "--add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED "
              "--add-opens=java.base/java.net=ALL-UNNAMED "
              "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED")
TASK_JVM = "-Xmx300m %s %s" % (FAST_JVM, JAVA_OPENS)
# The addresses of the ResourceManager and the JobHistoryServer that a client or an application
# master reaches. The mini cluster takes them as given (it runs with fixed ports): each gets a
# free port on the loopback interface, so that clusters on one machine do not collide.
SERVICE_ADDRESSES = [
    "yarn.resourcemanager.scheduler.address", "yarn.resourcemanager.resource-tracker.address",
    "yarn.resourcemanager.admin.address", "yarn.resourcemanager.webapp.address",
    "mapreduce.jobhistory.webapp.address", "mapreduce.jobhistory.admin.address",
]
# S3A against the moto server: path-style requests (no bucket.host names), plain HTTP, the fixed
# test credentials of tests/support/aws_server.py; and s3:// read by S3A, as EMR 7.10+ configures it.
S3_SETTINGS = {
    "fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
    "fs.AbstractFileSystem.s3.impl": "org.apache.hadoop.fs.s3a.S3A",
    "fs.s3a.path.style.access": "true",
    "fs.s3a.connection.ssl.enabled": "false",
    "fs.s3a.endpoint.region": "us-east-1",
    "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    "fs.s3a.access.key": "testing",
    "fs.s3a.secret.key": "testing",
}


def free_ports(count: int) -> List[int]:
    """Ports free on 127.0.0.1 now (held together, so that they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def java_home() -> str:
    """The Java the containers run with: $JAVA_HOME, else that of `java` on PATH."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    assert java, "java is not on PATH"
    return str(Path(java).resolve().parent.parent)


def write_site(path: Path, properties: Dict[str, str]) -> None:
    """A Hadoop configuration file (core-site.xml, ...) with these properties."""
    root = ElementTree.Element("configuration")
    for name, value in properties.items():
        prop = ElementTree.SubElement(root, "property")
        ElementTree.SubElement(prop, "name").text = name
        ElementTree.SubElement(prop, "value").text = value
    ElementTree.ElementTree(root).write(str(path), encoding="utf-8", xml_declaration=True)


class MiniCluster:
    """One MiniHadoopClusterManager process, in its own process group, with its addresses."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.log = workdir / "cluster.log"
        self.process = None  # type: Optional[subprocess.Popen]
        self.addresses = {}  # type: Dict[str, str]
        self.namenode = ""
        self.classpath = ""
        self.streaming_jar = ""

    def launcher_env(self, **extra: str) -> Dict[str, str]:
        return clean_env(FIREHOSE_HADOOP_VERSION=VERSION, TMPDIR=str(self.workdir),
                         JAVA_HOME=java_home(), **extra)

    def resolve(self) -> None:
        """The jars (Maven, once): the cluster's class path and the client's streaming jar."""
        for command in ("minicluster-classpath", "streaming-jar"):
            result = subprocess.run([str(LAUNCHER), command], env=self.launcher_env(),
                                    capture_output=True, timeout=RESOLVE_TIMEOUT)
            if result.returncode != 0:
                pytest.fail("could not resolve Hadoop %s (tests/hadoop/bin/hadoop %s):\n%s" % (
                    VERSION, command, result.stderr.decode("utf-8", "replace")), pytrace=False)
            if command == "streaming-jar":
                self.streaming_jar = result.stdout.decode().strip()
            else:
                self.classpath = result.stdout.decode().strip()

    def start(self) -> float:
        """Start the cluster and wait until it serves; the seconds that took."""
        namenode, resourcemanager, history, *others = free_ports(3 + len(SERVICE_ADDRESSES))
        self.namenode = "hdfs://localhost:%d" % namenode
        self.addresses = {"yarn.resourcemanager.address": "localhost:%d" % resourcemanager,
                          "mapreduce.jobhistory.address": "localhost:%d" % history}
        self.addresses.update((name, "localhost:%d" % port)
                              for name, port in zip(SERVICE_ADDRESSES, others))
        settings = dict(self.addresses, **{
            "dfs.replication": "1",
            "hadoop.tmp.dir": str(self.workdir / "hadoop-tmp"),
            "yarn.nodemanager.vmem-check-enabled": "false",
            "yarn.scheduler.minimum-allocation-mb": "256",
            "yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage": "99",
        })
        args = ["minicluster", "-nodemanagers", str(NODE_MANAGERS), "-datanodes", "1", "-format",
                "-nnport", str(namenode), "-rmport", str(resourcemanager), "-jhsport", str(history),
                "-writeDetails", str(self.workdir / "details.json")]
        for name, value in settings.items():
            args += ["-D", "%s=%s" % (name, value)]
        # The cluster's own configuration is the mini clusters' defaults and the settings above:
        # not tests/hadoop/conf/ (the LocalJobRunner's), only its logging.
        conf_dir = self.workdir / "conf"
        conf_dir.mkdir()
        shutil.copy2(str(HADOOP_DIR / "conf" / "log4j.properties"), str(conf_dir / "log4j.properties"))
        started = time.monotonic()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([str(LAUNCHER)] + args, cwd=str(self.workdir),
                                            env=self.launcher_env(HADOOP_OPTS="-XX:+UseSerialGC",
                                                                  HADOOP_CONF_DIR=str(conf_dir)),
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        while not (self.workdir / "details.json").is_file():
            if self.process.poll() is not None or time.monotonic() - started > START_TIMEOUT:
                self.stop()
                pytest.fail("the mini cluster did not start:\n" + self.log_tail(), pytrace=False)
            time.sleep(0.5)
        return time.monotonic() - started

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the cluster's JVM and the containers it started (its process group)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)

    def client_conf(self, conf_dir: Path, s3_endpoint: str) -> Path:
        """A HADOOP_CONF_DIR for jobs on this cluster, with s3:// on the S3 at `s3_endpoint`."""
        conf_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(str(HADOOP_DIR / "conf" / "log4j.properties"), str(conf_dir / "log4j.properties"))
        write_site(conf_dir / "core-site.xml", dict(S3_SETTINGS, **{
            "fs.defaultFS": self.namenode,
            "hadoop.tmp.dir": "${java.io.tmpdir}/hadoop-${user.name}",
            "fs.s3a.endpoint": s3_endpoint,
            "dfs.replication": "1",
        }))
        write_site(conf_dir / "yarn-site.xml", {
            name: value for name, value in self.addresses.items() if name.startswith("yarn.")})
        write_site(conf_dir / "mapred-site.xml", dict({
            name: value for name, value in self.addresses.items() if name.startswith("mapreduce.")}, **{
            "mapreduce.framework.name": "yarn",
            # The containers run on this machine: this configuration and the cluster's jars.
            "mapreduce.application.classpath": "%s,%s" % (conf_dir, self.classpath.split(":", 1)[1]),
            "yarn.app.mapreduce.am.resource.mb": str(CONTAINER_MB),
            "mapreduce.map.memory.mb": str(CONTAINER_MB),
            "mapreduce.reduce.memory.mb": str(CONTAINER_MB),
            "yarn.app.mapreduce.am.command-opts": TASK_JVM,
            "mapreduce.map.java.opts": TASK_JVM,
            "mapreduce.reduce.java.opts": TASK_JVM,
            "mapreduce.task.io.sort.mb": "16",
            # Two cores: no second attempt of a slow task.
            "mapreduce.map.speculative": "false",
            "mapreduce.reduce.speculative": "false",
            "mapreduce.client.progressmonitor.pollinterval": "200",
        }))
        return conf_dir

    def env(self, conf_dir: Path, **extra: str) -> Dict[str, str]:
        """A shell on the cluster's client: `hadoop` (3.4.2, this configuration) first on PATH and
        HADOOP_STREAMING_JAR set, as on an EMR primary node."""
        env = self.launcher_env(HADOOP_CONF_DIR=str(conf_dir), HADOOP_STREAMING_JAR=self.streaming_jar,
                                HADOOP_OPTS=FAST_JVM, **extra)
        env["PATH"] = str(LAUNCHER.parent) + os.pathsep + env.get("PATH", "")
        return env


@pytest.fixture(scope="session")
def minicluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiniCluster]:
    """The session's cluster, started on first use and stopped at the end of the session."""
    cluster = MiniCluster(tmp_path_factory.mktemp("minicluster"))
    cluster.resolve()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
