"""Real Apache Hadoop Streaming for the tests: the session fixture that resolves it once (with
Maven, through tests/hadoop/bin/hadoop), a way to run a streaming job and read its counters from
the console, and an independent implementation of Hadoop's default partitioner.

Two versions: 3.3.6 (EMR 6.15 and 7.0-7.2; the `hadoop` fixture) and 3.4.2 (EMR 7.13 and 7.14).
A module that holds the project to both defines its own `hadoop` fixture with
`params=HADOOP_VERSIONS` that returns `resolve_hadoop(request.param, tmp_path_factory)`."""
import os
import re
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from conftest import REPO, clean_env

HADOOP_DIR = REPO / "tests" / "hadoop"
LAUNCHER = HADOOP_DIR / "bin" / "hadoop"
HADOOP_VERSION = "3.3.6"  # the launcher's default
HADOOP_VERSIONS = ["3.3.6", "3.4.2"]
COUNTER_GROUP = "firehose-mr"
RESOLVE_TIMEOUT = 1200  # the first Maven download of about 60 MB, on a slow day
JOB_TIMEOUT = 300
# Jobs of a few seconds on small data: a JVM that starts fast beats one that optimises hard.
FAST_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"

# Read the input tree recursively (the LocalJobRunner, like EMR, does not descend into
# subdirectories otherwise: "Not a file: .../2017/02").
RECURSIVE = ["-D", "mapreduce.input.fileinputformat.input.dir.recursive=true"]


class HadoopRun:
    """What one `hadoop jar ...` printed and returned."""

    def __init__(self, args: List[str], result: subprocess.CompletedProcess) -> None:
        self.args = args
        self.returncode = result.returncode
        self.stdout = result.stdout.decode("utf-8", "replace")
        self.stderr = result.stderr.decode("utf-8", "replace")

    @property
    def console(self) -> str:
        return self.stdout + self.stderr

    def counters(self, group: str = COUNTER_GROUP) -> Dict[str, int]:
        """One counter group of the job, as the job's end-of-run report prints it."""
        return job_counters(self.console).get(group, {})

    def describe(self) -> str:
        return "hadoop %s\nexit status %d\n%s" % (" ".join(self.args), self.returncode,
                                                  self.console)


class Hadoop:
    """The test-time Hadoop: the launcher, the streaming jar, and an environment with both."""

    def __init__(self, streaming_jar: str, scratch: Path, version: str = HADOOP_VERSION) -> None:
        self.launcher = LAUNCHER
        self.streaming_jar = streaming_jar
        self.scratch = scratch
        self.version = version

    def env(self, **extra: str) -> Dict[str, str]:
        """A user's shell with this `hadoop` first on PATH and HADOOP_STREAMING_JAR set."""
        env = clean_env(**extra)
        env["PATH"] = str(LAUNCHER.parent) + os.pathsep + env.get("PATH", "")
        env["HADOOP_STREAMING_JAR"] = self.streaming_jar
        env["FIREHOSE_HADOOP_VERSION"] = self.version
        env.setdefault("TMPDIR", str(self.scratch))
        env.setdefault("HADOOP_OPTS", FAST_JVM)
        return env

    def run(self, args: List[str], cwd: Path, check: bool = True, **env: str) -> HadoopRun:
        """`hadoop ARGS...` in `cwd` (where -files links the shipped files for the tasks), with
        these environment variables set too (HADOOP_OPTS: the JVM's options)."""
        result = subprocess.run([str(self.launcher)] + args, cwd=str(cwd), env=self.env(**env),
                                capture_output=True, timeout=JOB_TIMEOUT)
        run = HadoopRun(args, result)
        if check and run.returncode != 0:
            raise AssertionError("Hadoop failed:\n" + run.describe())
        return run

    def streaming(self, args: List[str], cwd: Path, check: bool = True, **env: str) -> HadoopRun:
        """`hadoop jar $HADOOP_STREAMING_JAR ARGS...`, the command of an EMR step."""
        return self.run(["jar", self.streaming_jar] + args, cwd, check=check, **env)


_COUNTERS_HEADER = re.compile(r"(?:^|[ :])Counters:(?: \d+)?$")
_GROUP_LINE = re.compile(r"^\t(\S.*?)\s*$")
_COUNTER_LINE = re.compile(r"^\t\t(.+)=(-?\d+)$")


def job_counters(console: str) -> Dict[str, Dict[str, int]]:
    """The counters of a job's final report: a line ending in `Counters: N`, then TAB + group
    name and TAB TAB + name=value lines, as org.apache.hadoop.mapreduce.Job prints them at the
    end of a job (and run_local.sh prints its summary). The last such report counts."""
    lines = console.splitlines()
    starts = [i for i, line in enumerate(lines) if _COUNTERS_HEADER.search(line)]
    if not starts:
        return {}
    groups = {}  # type: Dict[str, Dict[str, int]]
    group = None  # type: Optional[Dict[str, int]]
    for line in lines[starts[-1] + 1:]:
        counter = _COUNTER_LINE.match(line)
        if counter and group is not None:
            group[counter.group(1)] = int(counter.group(2))
            continue
        named = _GROUP_LINE.match(line)
        if not named:
            break
        group = groups.setdefault(named.group(1), {})
    return groups


def hash_partition(key: bytes, reducers: int) -> int:
    """Hadoop's default HashPartitioner on a streaming key: Text.hashCode() (31 * h + b over the
    key's bytes taken as signed Java bytes, in 32-bit arithmetic), then (h & MAX_INT) % reducers."""
    h = 1
    for byte in key:
        signed = byte - 256 if byte > 127 else byte
        h = (31 * h + signed) & 0xFFFFFFFF
    return (h & 0x7FFFFFFF) % reducers


def output_files(directory: Path) -> Dict[str, bytes]:
    """The files of a job's output directory as a user sees them: not the `.name.crc` checksum
    files that Hadoop's local file system writes beside each file (S3 and HDFS have none)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())
            if p.is_file() and not p.name.startswith(".")}


def part_files(directory: Path) -> Dict[str, bytes]:
    return {name: data for name, data in output_files(directory).items()
            if name.startswith("part-")}


def resolve_hadoop(version: str, tmp_path_factory: pytest.TempPathFactory) -> Hadoop:
    """Resolve one version of the test-time Hadoop (Maven, cached in ~/.m2 and .cache/hadoop).
    If that fails, every Hadoop test fails with Maven's messages: they are never skipped."""
    scratch = tmp_path_factory.mktemp("hadoop-%s-tmp" % version)
    env = clean_env(TMPDIR=str(scratch), FIREHOSE_HADOOP_VERSION=version)
    try:
        resolved = subprocess.run([str(LAUNCHER), "streaming-jar"], env=env, capture_output=True,
                                  timeout=RESOLVE_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("resolving Hadoop with Maven took over %d s" % RESOLVE_TIMEOUT, pytrace=False)
    if resolved.returncode != 0:
        pytest.fail("could not resolve the test-time Hadoop "
                    "(tests/hadoop/bin/hadoop streaming-jar):\n" + resolved.stderr.decode("utf-8", "replace"), pytrace=False)
    jar = resolved.stdout.decode().strip()
    assert Path(jar).is_file(), jar
    return Hadoop(jar, scratch, version)


@pytest.fixture(scope="session")
def hadoop(tmp_path_factory: pytest.TempPathFactory) -> Hadoop:
    """The test-time Hadoop 3.3.6, resolved once per session."""
    return resolve_hadoop(HADOOP_VERSION, tmp_path_factory)
