"""What real Apache Hadoop Streaming does, pinned with tiny stand-in scripts, so that run_local.sh
(and anyone who reads these tests) can match it: how input is cut into lines and which files are
read, what a task's environment holds, what the reducer receives, what lands in the part files,
how counters come out. Also the `hadoop` launcher itself (tests/hadoop/bin/hadoop).

The probe job runs once per module; each test reads one aspect of it."""
import bz2
import gzip
import json
import re
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import REPO, clean_env, tool
from support import snappy_files
from support.hadoop_support import (FAST_JVM, HADOOP_DIR, HADOOP_VERSION, LAUNCHER, RECURSIVE, Hadoop, HadoopRun,
                            hash_partition, hadoop, output_files, part_files)  # noqa: F401 (fixture)

pytestmark = pytest.mark.hadoop

# A stand-in task: saves what it read and its environment, as <task id>.stdin / .env in $DUMP,
# reports counters and a status, then writes the lines in $EMIT (Python escapes) to stdout.
PROBE = r'''#!/usr/bin/env python3
import json, os, sys
data = sys.stdin.buffer.read()
task = os.environ["mapreduce_task_id"]
dump = os.environ["PROBE_DUMP"]
with open(os.path.join(dump, task + ".stdin"), "wb") as f:
    f.write(data)
with open(os.path.join(dump, task + ".env"), "w") as f:
    json.dump(dict(os.environ), f)
sys.stderr.write("reporter:counter:firehose-mr,lines,%d\n" % data.count(b"\n"))
sys.stderr.write("reporter:counter:firehose-mr,zero,0\n")
sys.stderr.write("reporter:status:probing\n")
sys.stderr.write("a plain stderr line from %s\n" % task)
sys.stdout.buffer.write(sys.argv[1].encode("latin-1").decode("unicode_escape").encode("latin-1"))
'''

# What each map task writes: keys that sort differently as keys and as whole lines ("a" and
# "a\x01"), a line without TAB, a lone CR, an empty value, an empty key, multibyte UTF-8.
MAP_EMITS = "a\\x01\\tsecond\\na\\tfirst\\nnotab\\ncr\\tx\\ry\\nemptyval\\t\\n\\tempty-key\\n" \
            "\\xc3\\xa9t\\xc3\\xa9\\t1\\n"
# What the reduce task writes.
REDUCE_EMITS = "no\\x20tab\\x20here\\ntwo\\tcolumns\\ntrailing\\ttab\\t\\n" \
               "crlf\\tline\\r\\nlone\\tcr\\rsplit\\n"

INPUT_FILES = {
    "2017/02/27/14/plain": b"a\rb\r\nc\nlast line without newline",
    "2017/02/27/14/bom": b"\xef\xbb\xbfbom first\nthen \xef\xbb\xbf\n",
    "2017/02/27/14/packed.gz": gzip.compress(b"gz1\ngz2\n"),
    "2017/02/27/15/packed.bz2": bz2.compress(b"bz\n"),
    "2017/02/27/15/empty": b"",
    "2017/02/27/15/_underscore": b"HIDDEN\n",
    "2017/02/27/15/.dot": b"HIDDEN\n",
    "_dir/file": b"HIDDEN\n",
    ".dir/file": b"HIDDEN\n",
}


class Probe:
    """The probe job's run, its output directory and what its tasks saved."""

    def __init__(self, run: HadoopRun, root: Path, output: Path, dump: Path) -> None:
        self.run = run
        self.root = root
        self.output = output
        self.dump = dump

    def tasks(self, kind: str) -> List[str]:
        return sorted(p.stem for p in self.dump.glob("*_%s_*.env" % kind))

    def stdin(self, task: str) -> bytes:
        return (self.dump / (task + ".stdin")).read_bytes()

    def env(self, task: str) -> Dict[str, str]:
        return json.loads((self.dump / (task + ".env")).read_text())

    def map_inputs(self) -> Dict[str, bytes]:
        """What each map task read, by the input file it was given (its path below the input)."""
        prefix = "file:" + str(self.root / "input") + "/"
        found = {}
        for task in self.tasks("m"):
            path = self.env(task)["mapreduce_map_input_file"]
            assert path.startswith(prefix), path
            found[path[len(prefix):]] = self.stdin(task)
        return found


def write_tree(root: Path, files: Dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


@pytest.fixture(scope="module")
def probe(hadoop: Hadoop, tmp_path_factory: pytest.TempPathFactory) -> Probe:
    """One streaming job with the probe as mapper and reducer, the scripts shipped with -files
    from another directory, as in an EMR step."""
    root = tmp_path_factory.mktemp("probe")
    write_tree(root / "input", INPUT_FILES)
    scripts, work, dump = root / "scripts", root / "work", root / "dump"
    for directory in (scripts, work, dump):
        directory.mkdir()
    (scripts / "probe.py").write_text(PROBE)
    (scripts / "probe.py").chmod(0o755)
    run = hadoop.streaming(
        ["-D", "mapreduce.job.reduces=1"] + RECURSIVE
        + ["-files", str(scripts / "probe.py"), "-cmdenv", "PROBE_DUMP=" + str(dump),
           "-input", str(root / "input"), "-output", str(root / "output"),
           "-mapper", "probe.py " + MAP_EMITS, "-reducer", "probe.py " + REDUCE_EMITS], cwd=work)
    return Probe(run, root, root / "output", dump)


# -- input: which files, which lines ------------------------------------------------------------

def test_one_map_task_per_file_and_names_starting_with_underscore_or_dot_are_skipped(probe):
    assert sorted(probe.map_inputs()) == ["2017/02/27/14/bom", "2017/02/27/14/packed.gz",
                                          "2017/02/27/14/plain",
                                          "2017/02/27/15/empty", "2017/02/27/15/packed.bz2"]
    assert all(b"HIDDEN" not in data for data in probe.map_inputs().values())


def test_lines_end_at_lf_crlf_or_a_lone_cr_and_every_line_reaches_the_mapper_with_lf(probe):
    assert probe.map_inputs()["2017/02/27/14/plain"] == b"a\nb\nc\nlast line without newline\n"


def test_a_utf8_byte_order_mark_is_dropped_at_the_start_of_a_file_only(probe):
    assert probe.map_inputs()["2017/02/27/14/bom"] == b"bom first\nthen \xef\xbb\xbf\n"


def test_gz_and_bz2_are_decompressed_by_extension_and_an_empty_file_gets_a_map_task(probe):
    inputs = probe.map_inputs()
    assert inputs["2017/02/27/14/packed.gz"] == b"gz1\ngz2\n"
    assert inputs["2017/02/27/15/packed.bz2"] == b"bz\n"
    assert inputs["2017/02/27/15/empty"] == b""


# -- the tasks' environment --------------------------------------------------------------------

def test_map_task_environment(probe):
    maps = probe.tasks("m")
    assert len(maps) == 5
    for index, task in enumerate(maps):
        env = probe.env(task)
        job = env["mapreduce_job_id"]
        assert re.fullmatch(r"job_local\d+_0001", job)
        assert task == "task_%s_m_%06d" % (job[len("job_"):], index)
        assert env["mapreduce_task_id"] == task          # the task, not the attempt
        assert env["mapreduce_task_attempt_id"] == "attempt_%s_0" % task[len("task_"):]
        assert env["mapreduce_task_ismap"] == "true"
        assert env["mapreduce_task_partition"] == str(index)  # the map's number
        assert env["mapreduce_map_input_file"].startswith("file:/")  # a URI: file:/abs/path
        assert env["map_input_file"] == env["mapreduce_map_input_file"]
        assert env["mapreduce_map_input_start"] == "0"
        assert env["mapreduce_map_input_length"] == env["map_input_length"]
        assert env["PROBE_DUMP"] == str(probe.dump)       # -cmdenv
        assert env["mapreduce_output_fileoutputformat_outputdir"] == "file:" + str(probe.output)
    [gz] = [probe.env(t) for t in maps if probe.env(t)["map_input_file"].endswith(".gz")]
    assert gz["mapreduce_map_input_length"] == str(len(INPUT_FILES["2017/02/27/14/packed.gz"]))


def test_reduce_task_environment(probe):
    [task] = probe.tasks("r")
    env = probe.env(task)
    assert task == "task_%s_r_000000" % env["mapreduce_job_id"][len("job_"):]
    assert env["mapreduce_task_ismap"] == "false"
    assert env["mapreduce_task_partition"] == "0"
    assert "mapreduce_map_input_file" not in env and "map_input_file" not in env


# -- between map and reduce ---------------------------------------------------------------------

def test_reducer_input_is_sorted_by_key_bytes_alone_and_a_line_without_tab_gets_one(probe):
    [task] = probe.tasks("r")
    per_map = [b"\tempty-key\n", b"a\tfirst\n", b"a\x01\tsecond\n", b"cr\tx\n", b"emptyval\t\n",
               b"notab\t\n", b"y\t\n", "été\t1\n".encode()]
    # Five map tasks each wrote the same lines. Keys compare as unsigned bytes, without the value:
    # "a" < "a\x01" here, while `LC_ALL=C sort` on whole lines puts "a\x01\t..." before "a\t...".
    # The lone CR in "cr\tx\ry" ended a line; "notab" and "y" became keys with empty values.
    assert probe.stdin(task) == b"".join(line * 5 for line in per_map)


# -- output -------------------------------------------------------------------------------------

def test_part_files_success_marker_and_checksum_files(probe):
    assert output_files(probe.output) == {"_SUCCESS": b"", "part-00000": (
        b"no tab here\t\n"        # no TAB: the line is the key, the value is empty, and
                                  # TextOutputFormat writes key TAB value
        b"two\tcolumns\n"
        b"trailing\ttab\t\n"      # split at the first TAB, written back unchanged
        b"crlf\tline\n"           # CRLF ends a line; the CR is gone
        b"lone\tcr\n"             # so does a lone CR
        b"split\t\n")}
    # The local file system writes a checksum beside each file; HDFS and S3 do not.
    hidden = sorted(p.name for p in probe.output.iterdir() if p.name.startswith("."))
    assert hidden == ["._SUCCESS.crc", ".part-00000.crc"]


def test_counters_are_summed_over_tasks_and_printed_at_the_end_of_the_job(probe):
    lines = sum(probe.stdin(t).count(b"\n") for t in probe.tasks("m") + probe.tasks("r"))
    assert probe.run.counters() == {"lines": lines, "zero": 0}
    assert probe.run.counters("Map-Reduce Framework")["Map input records"] == 9
    assert "a plain stderr line from task_" in probe.run.stderr  # tasks' stderr reaches the console
    assert "Output directory: " + str(probe.output) in probe.run.stderr


# -- partitioning and map-only jobs --------------------------------------------------------------

def test_keys_go_to_reducers_by_the_hash_of_their_bytes(hadoop: Hadoop, tmp_path):
    keys = ["k%d" % i for i in range(40)] + ["été", "日本語", "ключ", "🔥", "a b", "", "\x7f"]
    lines = [k.encode() + b"\tv\n" for k in keys] + [b"\xff\xfe raw\tv\n", b"latin-1 \xe9\tv\n"]
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "keys").write_bytes(b"".join(lines))
    hadoop.streaming(["-D", "mapreduce.job.reduces=3", "-input", "input", "-output", "output",
                      "-mapper", "cat", "-reducer", "cat"], cwd=tmp_path)
    parts = output_files(tmp_path / "output")
    assert sorted(parts) == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    expected = {"part-%05d" % n: b"".join(sorted((x for x in lines if hash_partition(
        x.split(b"\t")[0], 3) == n), key=lambda x: x.split(b"\t")[0])) for n in range(3)}
    assert all(expected.values())
    assert {name: parts[name] for name in expected} == expected


def test_a_reducer_without_input_runs_but_its_output_and_counters_are_dropped(hadoop: Hadoop,
                                                                            tmp_path):
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "one").write_bytes(b"onekey\tv\n")
    reducer = tmp_path / "reducer.sh"
    reducer.write_text("#!/bin/sh\ncat\necho 'reporter:counter:firehose-mr,ran,1' >&2\n"
                       "echo 'reducer ran' >&2\necho extra\n")
    reducer.chmod(0o755)
    run = hadoop.streaming(["-D", "mapreduce.job.reduces=3", "-files", str(reducer),
                            "-input", "input", "-output", "output", "-mapper", "cat",
                            "-reducer", "reducer.sh"], cwd=tmp_path)
    assert run.stderr.count("reducer ran") == 3
    assert run.counters() == {"ran": 1}
    busy = "part-%05d" % hash_partition(b"onekey", 3)
    assert output_files(tmp_path / "output") == {
        "_SUCCESS": b"", **{"part-%05d" % n: b"" for n in range(3)}, busy: b"onekey\tv\nextra\t\n"}


def test_a_map_only_job_writes_one_part_file_per_map_task_even_when_empty(hadoop: Hadoop, tmp_path):
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "a").write_bytes(b"x\ty\nno tab\n")
    (tmp_path / "input" / "b").write_bytes(b"")
    hadoop.streaming(["-numReduceTasks", "0", "-input", "input", "-output", "output",
                      "-mapper", "cat"], cwd=tmp_path)
    assert output_files(tmp_path / "output") == {
        "_SUCCESS": b"", "part-00000": b"x\ty\nno tab\t\n", "part-00001": b""}


# -- Firehose's Snappy formats -------------------------------------------------------------------

SNAPPY_EVENTS = b'{"type":"a"}\n{"type":"b"}\n{"type":"a"}\n'


def test_hadoop_reads_firehoses_hadoop_snappy_but_nothing_from_its_snappy(hadoop: Hadoop, tmp_path):
    """Why run_local.sh and submit_step.sh refuse Snappy's framing format (Firehose's SNAPPY):
    SnappyCodec takes its stream identifier for a block length of nearly 2 GB. With a heap that
    can hold that (a map task on an m5.xlarge has 2.4 GB), the job succeeds and reads no record
    at all; with a smaller one, it fails with OutOfMemoryError."""
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "hadoop-1.snappy").write_bytes(snappy_files.hadoop_snappy(SNAPPY_EVENTS))
    (tmp_path / "input" / "framed-1.snappy").write_bytes(snappy_files.framed_snappy(SNAPPY_EVENTS))
    job = ["-input", "input", "-mapper", "cat", "-reducer", "cat"]
    big_heap = hadoop.streaming(job + ["-output", "big-heap"], cwd=tmp_path,
                                HADOOP_OPTS=FAST_JVM + " -Xmx3g")
    assert big_heap.counters("Map-Reduce Framework")["Map input records"] == 3  # all from one file
    assert part_files(tmp_path / "big-heap") == {"part-00000": b'{"type":"a"}\t\n' * 2 + b'{"type":"b"}\t\n'}
    (tmp_path / "input" / "hadoop-1.snappy").unlink()
    small_heap = hadoop.streaming(job + ["-output", "small-heap"], cwd=tmp_path, check=False)
    assert small_heap.returncode != 0 and "java.lang.OutOfMemoryError: Java heap space" in small_heap.console


# -- the launcher ---------------------------------------------------------------------------------

def test_launcher_help_and_shellcheck():
    result = subprocess.run([str(LAUNCHER), "--help"], capture_output=True, env=clean_env())
    assert result.returncode == 0
    assert b"hadoop jar \"$HADOOP_STREAMING_JAR\"" in result.stdout
    subprocess.run([tool("shellcheck"), str(LAUNCHER)], check=True)
    unknown = subprocess.run([str(LAUNCHER), "frobnicate"], capture_output=True, env=clean_env())
    assert unknown.returncode == 1 and b"unknown command 'frobnicate'" in unknown.stderr


def test_launcher_env_puts_hadoop_on_path_and_names_the_streaming_jar(hadoop: Hadoop):
    script = 'eval "$("$1" env)"; command -v hadoop; echo "$HADOOP_STREAMING_JAR"; hadoop version'
    result = subprocess.run(["bash", "-c", script, "bash", str(LAUNCHER)], env=clean_env(
        TMPDIR=str(hadoop.scratch)), capture_output=True, check=True)
    which, jar, version = result.stdout.decode().split("\n", 2)
    assert Path(which).resolve() == LAUNCHER.resolve()
    assert Path(jar).name == "hadoop-streaming.jar" and Path(jar).resolve().is_file()
    assert version.startswith("Hadoop %s\n" % HADOOP_VERSION)


def test_the_pom_and_the_launcher_agree_on_the_version():
    pom = (HADOOP_DIR / "pom.xml").read_text()
    assert "<hadoop.version>%s</hadoop.version>" % HADOOP_VERSION in pom
    assert "readonly DEFAULT_HADOOP_VERSION=%s\n" % HADOOP_VERSION in LAUNCHER.read_text()
    assert "<hadoop.version>3.4.2</hadoop.version>" in pom and "<id>hadoop-3.4</id>" in pom
    assert "  3.4.2) profile=hadoop-3.4 ;;\n" in LAUNCHER.read_text()
    assert ".cache/" in (REPO / ".gitignore").read_text().split()
