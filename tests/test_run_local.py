"""run_local.sh: a local run that gives what Hadoop gives (issue 4).

Everything runs run_local.sh as a process, with the real pair or with small stand-in streaming
scripts written into tmp_path, and checks the result against what Hadoop Streaming does (as
pinned in test_hadoop_behaviour.py) or against an in-memory reference computation. The runner's
functions are tested on their own in tests/unit/."""
import bz2
import ctypes
import gzip
import json
import os
import pty
import re
import signal
import struct
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from support.aws_server import AwsServer, aws  # noqa: F401  (`aws` is a pytest fixture)
from conftest import (MAPPER, REPO, SAMPLE_DATA, clean_env, counters, en_us_locale,  # noqa: F401
                      shell, sigint_at_default)
from support import snappy_files

RUN_LOCAL = REPO / "run_local.sh"
COUNTER_LINE = re.compile(r"^\t\t(.+)=(-?\d+)$")


# -- running it -----------------------------------------------------------------------------------

class Run:
    """What one run_local.sh printed and returned."""

    def __init__(self, args: List[str], result: subprocess.CompletedProcess) -> None:
        self.args = args
        self.returncode = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr.decode("utf-8", "replace")

    def counters(self) -> Dict[str, Dict[str, int]]:
        """The summary: "Counters: N", then TAB GROUP and TAB TAB NAME=VALUE lines."""
        lines = self.stderr.splitlines()
        start = max(i for i, line in enumerate(lines) if re.match(r"^Counters: \d+$", line))
        groups = {}  # type: Dict[str, Dict[str, int]]
        group = None  # type: Optional[Dict[str, int]]
        for line in lines[start + 1:]:
            counter = COUNTER_LINE.match(line)
            if counter and group is not None:
                group[counter.group(1)] = int(counter.group(2))
            elif line.startswith("\t") and not line.startswith("\t\t"):
                group = groups.setdefault(line.strip(), {})
            else:
                break
        assert sum(len(g) for g in groups.values()) == int(lines[start].split()[1])
        return groups

    def describe(self) -> str:
        return "run_local.sh %s\nexit status %d\nstderr:\n%s" % (
            " ".join(self.args), self.returncode, self.stderr)


def run_local(args: List[str], cwd: Path = REPO, stdin: Optional[bytes] = None,
              env: Optional[Dict[str, str]] = None, check: bool = True) -> Run:
    result = subprocess.run([str(RUN_LOCAL)] + [str(a) for a in args], cwd=str(cwd), input=stdin,
                            env=env if env is not None else clean_env(), capture_output=True,
                            timeout=120)
    run = Run([str(a) for a in args], result)
    if check and run.returncode != 0:
        raise AssertionError("run_local.sh failed:\n" + run.describe())
    assert "Traceback" not in run.stderr, run.describe()
    return run


def script(folder: Path, name: str, body: str) -> Path:
    """A stand-in streaming script (Python) in folder."""
    path = folder / name
    path.write_text("#!/usr/bin/env python3\nimport os, sys\n" + body)
    path.chmod(0o755)
    return path


def write_tree(root: Path, files: Dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def output_files(directory: Path) -> Dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


# Stand-ins. The probe saves what a task read and its environment (by task id) in $DUMP,
# then writes the Python-escaped text of its first argument.
PROBE = r'''
import json
data = sys.stdin.buffer.read()
task = os.environ["mapreduce_task_id"]
with open(os.path.join(os.environ["DUMP"], task + ".stdin"), "wb") as f:
    f.write(data)
with open(os.path.join(os.environ["DUMP"], task + ".env"), "w") as f:
    json.dump(dict(os.environ), f)
sys.stderr.write("reporter:counter:probe,lines,%d\n" % data.count(b"\n"))
sys.stderr.write("reporter:status:probing\n")
sys.stderr.write("a plain stderr line from %s\n" % task)
sys.stdout.buffer.write(sys.argv[1].encode("latin-1").decode("unicode_escape").encode("latin-1"))
'''

# Sums the integer values of each key; checks that its input is grouped by key (as Hadoop
# guarantees a reducer and a combiner), and reports a counter.
SUMMER = r'''
seen, current, total, lines = set(), None, 0, 0
for line in sys.stdin.buffer:
    lines += 1
    key, _, value = line.rstrip(b"\n").partition(b"\t")
    if key != current:
        if current is not None:
            sys.stdout.buffer.write(current + b"\t" + str(total).encode() + b"\n")
        if key in seen:
            sys.exit("input not grouped by key: %r again" % key)
        seen.add(key)
        current, total = key, 0
    total += int(value)
if current is not None:
    sys.stdout.buffer.write(current + b"\t" + str(total).encode() + b"\n")
sys.stderr.write("reporter:counter:summer,%s_lines,%d\n"
                 % ("map" if os.environ["mapreduce_task_ismap"] == "true" else "reduce", lines))
'''

# Copies its input, and notes the reduce task's partition on each line.
TAGGER = r'''
part = os.environ["mapreduce_task_partition"].encode()
for line in sys.stdin.buffer:
    sys.stdout.buffer.write(line.rstrip(b"\n") + b"\t" + part + b"\n")
'''


# -- an independent HashPartitioner ---------------------------------------------------------------

def java_text_partition(key: bytes, reducers: int) -> int:
    """org.apache.hadoop.mapred.lib.HashPartitioner on a Text key, written with Java's types:
    WritableComparator.hashBytes over the key's bytes as Java (signed) bytes, in 32-bit int
    arithmetic, then (hash & Integer.MAX_VALUE) % numReduceTasks."""
    h = ctypes.c_int32(1)
    for (signed,) in struct.iter_unpack("b", key):
        h = ctypes.c_int32(31 * h.value + signed)
    return (h.value & 0x7FFFFFFF) % reducers


def test_the_reference_partitioner_on_hand_computed_keys():
    assert java_text_partition(b"", 7) == 1                   # hash 1
    assert java_text_partition(b"a", 1000) == 128             # 31*1 + 97
    assert java_text_partition(b"\xff", 1000) == 30           # 31*1 + (-1): a signed byte
    assert java_text_partition("é".encode(), 10 ** 6) == ((31 * (31 - 61) - 87) & 0x7FFFFFFF) % 10 ** 6
    # "zzzzzzzz" overflows a Java int: hashBytes wraps around, then the sign bit is masked off.
    h = 1
    for _ in range(8):
        h = (31 * h + 122) % 2 ** 32
    assert java_text_partition(b"z" * 8, 2 ** 31 - 1) == (h & 0x7FFFFFFF) % (2 ** 31 - 1)


# -- the script itself ----------------------------------------------------------------------------

def test_help_documents_every_flag():
    run = run_local(["--help"])
    text = run.stdout.decode()
    for flag in ["-o", "--force", "-r", "-c", "--combiner", "-j", "--block-size", "--mapper", "--reducer",
                 "--hadoop", "s3://", "HADOOP_STREAMING_JAR", "mapreduce_map_input_file",
                 "reporter:counter:", "_SUCCESS"]:
        assert flag in text, flag


@pytest.mark.parametrize("args,message", [
    (["--nope"], "unknown option --nope"),
    (["-r", "x"], "needs a number"),
    (["-j", "0"], "at least 1"),
    (["--block-size", "0"], "--block-size needs at least 1"),
    (["--block-size", "1M"], "--block-size needs a number"),
    (["no/such/input"], "input path does not exist: no/such/input"),
    (["sample_data/*/nothing*"], "matches 0 files"),
    (["-c", "--reducer", "cat"], "-c with --reducer needs --combiner"),
    (["--mapper", " "], "--mapper: an empty command"),
    (["-o", "s3://bucket/out"], "only a local directory here"),
    (["-", "-"], "standard input (-) can be read only once"),
    (["--", "--per", "week"], "mapper.py refuses the job flags: argument --per: invalid choice: 'week'"),
    (["--no-fork-server", "--", "--nope"], "mapper.py refuses the job flags: unrecognized arguments: --nope"),
])
def test_bad_usage_gives_one_line_and_exit_2(args, message):
    run = run_local(args, check=False)
    assert run.returncode == 2
    assert len(run.stderr.splitlines()) == 1 and run.stderr.startswith("run_local.sh: ")
    assert message in run.stderr
    assert run.stdout == b""  # no result at all, not part of one


@pytest.mark.parametrize("name,data,message", [
    ("stream-1.zip", b"PK\x03\x04\x14\x00", "a ZIP archive (Firehose's ZIP compression)"),
    ("stream-1.parquet", b"PAR1\x15\x04", "a Parquet file (Firehose's record format conversion)"),
    ("stream-1.orc", b"ORC\x0a\x06", "an ORC file (Firehose's record format conversion)"),
    ("stream-1.snappy", snappy_files.framed_snappy(b'{"a":1}\n'), "no records at all from its SNAPPY ones"),
    ("stream-1.zst", b"\x28\xb5\x2f\xfd", "this compression is not supported here"),
])
def test_an_input_hadoop_would_not_read_as_json_lines_is_refused_by_name(tmp_path, name, data, message):
    write_tree(tmp_path / "in", {"2017/02/27/14/stream-1-plain": b'{"a":1}\n', "2017/02/27/14/" + name: data})
    run = run_local([tmp_path / "in", "-o", tmp_path / "out"], check=False)
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1, run.describe()
    assert run.stderr.startswith("run_local.sh: input %s: " % (tmp_path / "in" / "2017/02/27/14" / name))
    assert message in run.stderr
    assert not (tmp_path / "out").exists()


# -- the real pair --------------------------------------------------------------------------------

SAMPLE_FILES = sorted(p for p in SAMPLE_DATA.rglob("*") if p.is_file())


def one_process_mapper(flags: List[str]) -> Tuple[bytes, Dict[str, int]]:
    """The mapper in one process over all of sample_data (decompressed here, each file's
    lines terminated), as a user's pipe would run it."""
    data = b""
    for path in SAMPLE_FILES:
        content = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        data += content if content.endswith((b"\n", b"\r")) else content + b"\n"
    result = subprocess.run([str(MAPPER)] + flags, input=data, capture_output=True,
                            env=clean_env(), check=True)
    return result.stdout, counters(result.stderr)


def pair_pipe(flags: List[str]) -> bytes:
    """The plain pipe: the mapper per file, `LC_ALL=C sort`, the reducer."""
    intermediate = b""
    for path in SAMPLE_FILES:
        with path.open("rb") as f:
            intermediate += subprocess.run([str(MAPPER)] + flags, stdin=f, capture_output=True,
                                           env=clean_env(), check=True).stdout
    ordered = subprocess.run(["sort"], input=intermediate, capture_output=True, check=True,
                             env=clean_env(LC_ALL="C")).stdout
    return subprocess.run([str(REPO / "reducer.py")], input=ordered, capture_output=True,
                          env=clean_env(), check=True).stdout


JOBS = {
    "census": ([], [["-r", "3", "-c", "-j", "2"], ["--block-size", "3000", "-j", "2"]]),
    "country-day-guests": (["--key", "group.group_country", "--time", "mtime", "--per", "day",
                            "--value", "guests"],
                           [["-r", "1", "-j", "1"], ["-r", "3", "-j", "2"], ["-c"], ["-r", "3", "-c"],
                            ["--block-size", "3000", "-r", "3", "-c"]]),
}


@pytest.mark.parametrize("job", sorted(JOBS))
def test_reducers_combiner_and_parallelism_do_not_change_the_result(job):
    flags, variants = JOBS[job]
    expected = pair_pipe(flags)
    assert expected.count(b"\n") > 5
    _, mapper_counters = one_process_mapper(flags)
    for args in variants:
        run = run_local(args + ["--"] + flags)
        assert run.stdout == expected, args
        # Counters summed over the tasks are those of one mapper process over everything.
        assert run.counters() == {"firehose-mr": mapper_counters}, args


def test_part_files_follow_hadoops_hash_partitioner(tmp_path):
    flags = ["--key", "group.group_city"]  # city names: multibyte UTF-8 keys (München, ...)
    run_local(["-r", "3", "-o", tmp_path / "out", "--"] + flags)
    files = output_files(tmp_path / "out")
    assert sorted(files) == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    assert files["_SUCCESS"] == b""
    intermediate, _ = one_process_mapper(flags)
    key_of_row = {}
    for line in intermediate.splitlines():
        key = line.split(b"\t")[0]
        key_of_row[key.replace(b"\x02", b"\t").rstrip(b"\t")] = key  # the row's first column(s)
    assert any(max(key) > 0x7F for key in key_of_row.values())  # multibyte UTF-8 keys
    for n in range(3):
        rows = files["part-%05d" % n].splitlines()
        assert rows == sorted(rows)
        for row in rows:
            key = key_of_row[row.rsplit(b"\t", 1)[0]]
            assert java_text_partition(key, 3) == n, row


def test_arrival_time_comes_from_each_map_tasks_input_file():
    run = run_local(["-r", "2", "--", "--time", "@arrival", "--per", "hour"])
    buckets = sorted(line.split(b"\t")[0].decode() for line in run.stdout.splitlines())
    hours = sorted({"%s-%s-%sT%s:00" % p.relative_to(SAMPLE_DATA).parts[:4] for p in SAMPLE_FILES})
    assert sorted(set(buckets)) == hours


# -- Hadoop's input, keys, sort and output, with stand-ins ----------------------------------------

INPUT_FILES = {
    "2017/02/27/14/plain": b"\xef\xbb\xbfa\rb\r\nc\nlast line without newline",
    "2017/02/27/14/packed.gz": gzip.compress(b"gz1\ngz2\n") + gzip.compress(b"gz3\r\n"),
    "2017/02/27/15/packed.bz2": bz2.compress(b"bz\n"),
    "2017/02/27/15/empty": b"",
    "2017/02/27/15/_underscore": b"HIDDEN\n",
    "2017/02/27/15/.dot": b"HIDDEN\n",
    "_dir/file": b"HIDDEN\n",
    ".dir/file": b"HIDDEN\n",
}
MAP_EMITS = "a\\x01\\tsecond\\na\\tfirst\\nnotab\\ncr\\tx\\ry\\nemptyval\\t\\n\\tempty-key\\n" \
            "\\xc3\\xa9t\\xc3\\xa9\\t1\\n"
REDUCE_EMITS = "no\\x20tab\\x20here\\ntwo\\tcolumns\\ntrailing\\ttab\\t\\ncrlf\\tline\\r\\n" \
               "lone\\tcr\\rsplit\\n"


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    write_tree(root / "input", INPUT_FILES)
    (root / "dump").mkdir()
    (root / "scripts dir").mkdir()
    script(root / "scripts dir", "probe.py", PROBE)
    run = run_local(["-o", root / "output", "-j", "2",
                     "--mapper", "'%s' %s" % (root / "scripts dir" / "probe.py", MAP_EMITS),
                     "--reducer", "python3 '%s' %s" % (root / "scripts dir" / "probe.py",
                                                       REDUCE_EMITS),
                     root / "input"], cwd=root, env=clean_env(DUMP=str(root / "dump")))
    return root, run


def dumped(root: Path, kind: str) -> List[Tuple[Dict[str, str], bytes]]:
    tasks = sorted(p.stem for p in (root / "dump").glob("*_%s_*.env" % kind))
    return [(json.loads((root / "dump" / (t + ".env")).read_text()),
             (root / "dump" / (t + ".stdin")).read_bytes()) for t in tasks]


def test_one_map_task_per_visible_file_with_hadoops_lines(probe):
    root, _ = probe
    prefix = "file:%s/" % (root / "input")
    seen = {env["mapreduce_map_input_file"][len(prefix):]: data for env, data in dumped(root, "m")}
    assert seen == {
        "2017/02/27/14/plain": b"a\nb\nc\nlast line without newline\n",  # BOM dropped, CR/CRLF cut
        "2017/02/27/14/packed.gz": b"gz1\ngz2\ngz3\n",                      # both gzip members
        "2017/02/27/15/packed.bz2": b"bz\n",
        "2017/02/27/15/empty": b"",                                       # still a map task
    }


def test_task_environment_is_hadoops(probe):
    root, _ = probe
    maps = dumped(root, "m")
    sizes = []
    for index, (env, _) in enumerate(maps):
        job = env["mapreduce_job_id"]
        assert re.fullmatch(r"job_local\d+_0001", job)
        task = "task_%s_m_%06d" % (job[len("job_"):], index)
        assert env["mapreduce_task_id"] == env["mapred_tip_id"] == task
        assert env["mapreduce_task_attempt_id"] == "attempt_%s_m_%06d_0" % (job[4:], index)
        assert env["mapreduce_task_ismap"] == "true"
        assert env["mapreduce_task_partition"] == str(index)
        assert env["map_input_file"] == env["mapreduce_map_input_file"]
        assert env["mapreduce_map_input_start"] == "0"
        path = Path(env["mapreduce_map_input_file"][len("file:"):])
        assert env["mapreduce_map_input_length"] == str(path.stat().st_size)
        assert env["mapreduce_output_fileoutputformat_outputdir"] == "file:%s" % (root / "output")
        sizes.append(path.stat().st_size)
    assert sizes == sorted(sizes, reverse=True)  # Hadoop numbers the splits largest first
    [(reduce_env, _)] = dumped(root, "r")
    assert reduce_env["mapreduce_task_id"] == "task_%s_r_000000" % reduce_env["mapreduce_job_id"][4:]
    assert reduce_env["mapreduce_task_ismap"] == "false"
    assert "mapreduce_map_input_file" not in reduce_env and "map_input_file" not in reduce_env


def test_reducer_input_is_sorted_by_key_bytes_alone_and_a_line_without_tab_gets_one(probe):
    root, _ = probe
    [(_, data)] = dumped(root, "r")
    per_map = [b"\tempty-key\n", b"a\tfirst\n", b"a\x01\tsecond\n", b"cr\tx\n", b"emptyval\t\n",
               b"notab\t\n", b"y\t\n", "été\t1\n".encode()]
    assert data == b"".join(line * 4 for line in per_map)


def test_part_files_and_success_marker_as_textoutputformat_writes_them(probe):
    root, _ = probe
    assert output_files(root / "output") == {"_SUCCESS": b"", "part-00000": (
        b"no tab here\t\ntwo\tcolumns\ntrailing\ttab\t\ncrlf\tline\nlone\tcr\nsplit\t\n")}
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []  # no temp sibling


def test_counters_are_summed_and_other_stderr_lines_pass_through(probe):
    root, run = probe
    lines = sum(data.count(b"\n") for _, data in dumped(root, "m") + dumped(root, "r"))
    assert run.counters() == {"probe": {"lines": lines}}
    assert "a plain stderr line from task_" in run.stderr
    assert "reporter:" not in run.stderr


def test_commands_are_split_like_hadoop_streaming_without_a_shell(tmp_path):
    script(tmp_path, "args.py", "import json\nsys.stdin.read()\nprint(json.dumps(sys.argv[1:]))\n")
    (tmp_path / "in").write_text("x\n")
    run = run_local(["--mapper", "args.py a  'b c' \"d 'e\" f'g' $HOME \\n", "--reducer", "cat",
                     "in"], cwd=tmp_path)
    assert json.loads(run.stdout.decode().rstrip("\t\n")) == ["a", "b c", "d 'e", "f", "g",
                                                              "$HOME", "\\n"]


def test_standard_input_and_explicit_hidden_inputs(tmp_path):
    run = run_local(["--mapper", "cat", "--reducer", "cat", "-"], stdin=b"k\tv\r\nno tab")
    assert run.stdout == b"k\tv\nno tab\t\n"
    (tmp_path / "_hidden").write_bytes(b"x\n")
    refused = run_local([tmp_path / "_hidden"], check=False)
    assert refused.returncode == 2 and "Hadoop ignores names that start with _ or ." in refused.stderr


def test_map_only_job_writes_one_part_file_per_map_task(tmp_path):
    write_tree(tmp_path / "in", {"a": b"x\ty\nno tab\n", "b": b""})
    run_local(["-r", "0", "--mapper", "cat", "-o", tmp_path / "out", tmp_path / "in"])
    assert output_files(tmp_path / "out") == {
        "_SUCCESS": b"", "part-00000": b"x\ty\nno tab\t\n", "part-00001": b""}


# -- partitioning, combiner, reference computation ------------------------------------------------

KEYS = ["a", "a\x01", "ab", "", "é", "日本語", "🔥", "ключ", "a b", "A", "z" * 30, "\x7f"]
RAW_KEYS = [k.encode() for k in KEYS] + [b"\xff\xfe raw", b"latin-1 \xe9", b"\x80"]


def test_each_key_lands_in_the_part_file_that_hadoop_names(tmp_path):
    lines = [k + b"\t" + str(i).encode() for i, k in enumerate(RAW_KEYS)] + [b"notab\xc3\xa9"]
    (tmp_path / "in").write_bytes(b"\n".join(lines) + b"\n")
    script(tmp_path, "tagger.py", TAGGER)
    for reducers in (3, 7):
        out = tmp_path / ("out%d" % reducers)
        run_local(["-r", reducers, "--mapper", "cat", "--reducer", "tagger.py", "-o", out, "in"],
                  cwd=tmp_path)
        files = output_files(out)
        assert sorted(files) == ["_SUCCESS"] + ["part-%05d" % n for n in range(reducers)]
        placed = 0
        for n in range(reducers):
            for row in files["part-%05d" % n].splitlines():
                key = row.split(b"\t")[0]
                assert java_text_partition(key, reducers) == n, (key, n)
                assert row.endswith(b"\t%d" % n)  # and the reducer was told its partition
                placed += 1
        assert placed == len(lines)


records = st.lists(st.tuples(st.sampled_from(RAW_KEYS), st.integers(-5, 1000)), max_size=40)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=records, files=st.integers(1, 4), split_seed=st.randoms(use_true_random=False),
       reducers=st.integers(1, 4), combine=st.booleans(), jobs=st.integers(1, 2))
def test_any_split_reducers_and_combiner_give_the_reference_result(tmp_path_factory, data, files,
                                                                   split_seed, reducers, combine,
                                                                   jobs):
    root = tmp_path_factory.mktemp("prop")
    script(root, "summer.py", SUMMER)
    chunks = [[] for _ in range(files)]  # type: List[List[bytes]]
    for key, value in data:
        chunks[split_seed.randrange(files)].append(key + b"\t%d" % value)
    for n, chunk in enumerate(chunks):
        (root / ("in%d" % n)).write_bytes(b"".join(line + b"\n" for line in chunk))
    args = ["-r", reducers, "-j", jobs, "--mapper", "cat", "--reducer", "summer.py"]
    if combine:
        args += ["--combiner", "summer.py"]
    run = run_local(args + ["in%d" % n for n in range(files)], cwd=root)
    totals = Counter()  # type: Counter
    for key, value in data:
        totals[key] += value
    assert run.stdout == b"".join(sorted(k + b"\t%d\n" % v for k, v in totals.items()))
    summed = run.counters().get("summer", {})
    if combine:  # the combiner saw every record once, in its map task; the reducers fewer lines
        assert summed.get("map_lines", 0) == len(data)
        assert len(totals) <= summed.get("reduce_lines", 0) <= len(data)
    else:
        assert summed.get("reduce_lines", 0) == len(data) and "map_lines" not in summed


@settings(max_examples=5, deadline=None)
@given(events=st.lists(st.tuples(st.sampled_from(["fr", "de", "Ünïcode", "日本", "a b", "x\\y"]),
                                 st.booleans()), min_size=1, max_size=30),
       files=st.integers(1, 3), reducers=st.integers(1, 3), combine=st.booleans())
def test_the_pair_counts_like_an_in_memory_reference(tmp_path_factory, events, files, reducers,
                                                     combine):
    root = tmp_path_factory.mktemp("pair")
    for n in range(files):
        mine = events[n::files]
        body = "".join(json.dumps({"k": k, "ok": ok}, ensure_ascii=ok) + ("\r\n" if ok else "\n")
                       for k, ok in mine)
        (root / ("part%d.json" % n)).write_text(body)
    args = ["-r", reducers] + (["-c"] if combine else [])
    run = run_local(args + ["part%d.json" % n for n in range(files)] + ["--", "--key", "k"],
                    cwd=root)
    counts = Counter(k.replace("\\", "\\\\") for k, _ in events)
    assert run.stdout == b"".join(sorted(("%s\t%d\n" % kv).encode() for kv in counts.items()))
    assert run.counters()["firehose-mr"]["records"] == len(events)


# -- failures and the output directory ------------------------------------------------------------

def test_a_long_run_shows_progress_on_a_terminal_and_clears_it(tmp_path):
    script(tmp_path, "slow.py", "import time\ntime.sleep(4.5)\nsys.stdout.write(sys.stdin.read())\n")
    (tmp_path / "in").write_bytes(b"k\t1\n")
    master, terminal = pty.openpty()  # stderr is a terminal; stdout is not
    try:
        proc = subprocess.run([str(RUN_LOCAL), "--mapper", "slow.py", "--reducer", "cat", "in"],
                              cwd=str(tmp_path), env=clean_env(), stdout=subprocess.PIPE,
                              stderr=terminal, timeout=120)
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal's other end is closed: all was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    assert proc.returncode == 0 and proc.stdout == b"k\t1\n"
    assert re.search(rb"\rrun_local\.sh: map: 0/1 files, 0\.0/0\.0 MB, [34] s", shown), shown
    assert b"\r\x1b[K" in shown  # the progress line is cleared at the end


def test_a_failing_mapper_names_its_file_and_leaves_no_output(tmp_path):
    script(tmp_path, "broken.py", "data = sys.stdin.buffer.read()\n"
           "sys.stderr.write('reporter:counter:demo,tasks,1\\n')\n"
           "if b'poison' in data:\n    sys.stderr.write('line 1\\nbad record: poison\\n')\n"
           "    sys.exit(3)\nsys.stdout.buffer.write(data)\n")
    write_tree(tmp_path / "in", {"good": b"k\t1\n" * 1000, "bad": b"poison\n"})
    run = run_local(["--mapper", "broken.py", "-j", "1", "-o", tmp_path / "out", "in"], cwd=tmp_path,
                    check=False)
    assert run.returncode == 1
    assert "mapper failed (exit status 3) on input %s" % os.path.join("in", "bad") in run.stderr
    assert "bad record: poison" in run.stderr
    assert "Counters: 1\n\tdemo\n\t\ttasks=2\n" in run.stderr  # what the tasks that ran reported
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.py", "in"]


def test_a_failing_reducer_and_a_truncated_gzip_are_reported(tmp_path):
    # More than a pipe holds, so sort, writing to a reducer that is gone, dies of SIGPIPE:
    # the reducer is the stage to blame.
    (tmp_path / "in").write_bytes(b"k\t1\n" * 300000)
    run = run_local(["--mapper", "cat", "--reducer", "false", "in"], cwd=tmp_path, check=False)
    assert run.returncode == 1 and "reducer failed (exit status 1) on reduce task 0" in run.stderr
    assert run.stdout == b""
    (tmp_path / "cut.gz").write_bytes(gzip.compress(b"x\n" * 1000)[:-20])
    run = run_local(["--mapper", "cat", "cut.gz"], cwd=tmp_path, check=False)
    assert run.returncode == 1 and "cut.gz" in run.stderr and "end of compressed data" in run.stderr


def gone(pid: int) -> bool:
    """Whether a process has ended (a zombie that nobody reaped yet counts as ended)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("how", ["^C", "kill"])
def test_an_interrupted_job_stops_its_tasks_and_leaves_nothing(tmp_path, how):
    """^C (SIGINT to the whole process group, as a terminal sends it) or `kill` (SIGTERM to
    run_local.sh alone) while map tasks run: the tasks end, the exit status is 130, and
    neither an output directory nor a work directory is left."""
    started = tmp_path / "started"
    started.mkdir()
    script(tmp_path, "slow.py", "open(os.path.join(%r, str(os.getpid())), 'w').close()\n"
           "import time\ntime.sleep(60)\n" % str(started))
    write_tree(tmp_path / "in", {"a": b"1\n", "b": b"2\n", "c": b"3\n"})
    (tmp_path / "tmp").mkdir()
    proc = subprocess.Popen([str(RUN_LOCAL), "--mapper", "slow.py", "-j", "2", "-o", "out", "in"],
                            cwd=str(tmp_path), env=clean_env(TMPDIR=str(tmp_path / "tmp")),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=sigint_at_default)
    deadline = time.monotonic() + 60
    while len(list(started.iterdir())) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    if how == "^C":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and b"run_local.sh: interrupted; no output written\n" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "slow.py", "started", "tmp"]
    assert list((tmp_path / "tmp").iterdir()) == []
    tasks = [int(p.name) for p in started.iterdir()]
    while not all(gone(pid) for pid in tasks):
        assert time.monotonic() < deadline, tasks
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_the_whole_group_stops_the_pairs_tasks_and_leaves_nothing(tmp_path, signum):
    """SIGTERM to the process group (what `timeout` and a CI cancel send), or SIGHUP (the ssh
    session to the master node dropped): the fork server the pair's tasks come from dies with
    the rest, and the run still ends at once with 130, leaving nothing behind. The input is a
    named pipe, so its map task waits for data until the signal."""
    write_tree(tmp_path / "in", {"a": b'{"k":1}\n'})
    fifo = tmp_path / "in" / "b"
    os.mkfifo(str(fifo))
    (tmp_path / "tmp").mkdir()
    proc = subprocess.Popen([str(RUN_LOCAL), "-o", "out", "in", "--", "--key", "k"], cwd=str(tmp_path),
                            env=clean_env(TMPDIR=str(tmp_path / "tmp")), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=sigint_at_default)
    deadline = time.monotonic() + 60
    while True:  # until the pipe's map task reads it: then a writer can open it
        try:
            writer = os.open(str(fifo), os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
    try:
        os.killpg(proc.pid, signum)
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(writer)
    assert proc.returncode == 130 and err.endswith(b"run_local.sh: interrupted; no output written\n"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "tmp"]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_an_output_directory_made_while_the_job_runs_is_left_alone(tmp_path):
    write_tree(tmp_path / "in", {"a": b'{"k":1}\n'})
    fifo = tmp_path / "in" / "b"
    os.mkfifo(str(fifo))
    proc = subprocess.Popen([str(RUN_LOCAL), "-o", "out", "in", "--", "--key", "k"], cwd=str(tmp_path),
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with open(str(fifo), "wb") as writer:  # the job waits for this pipe's data meanwhile
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "keep").write_bytes(b"mine")
        writer.write(b'{"k":2}\n')
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert b"output directory %s appeared while this job ran" % bytes(tmp_path / "out") in err
    assert output_files(tmp_path / "out") == {"keep": b"mine"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]


def test_a_named_pipe_input_is_cut_into_hadoops_lines_like_a_file(tmp_path):
    data = b"\xef\xbb\xbfa\rb\r\nc"
    (tmp_path / "f").write_bytes(data)
    from_file = run_local(["-r", "0", "--mapper", "cat", tmp_path / "f"]).stdout
    piped = shell("%s -r 0 --mapper cat <(cat %s)" % (RUN_LOCAL, tmp_path / "f")).stdout
    assert piped == from_file == b"a\t\nb\t\nc\t\n"


@pytest.mark.parametrize("layout,message", [
    ({"d/sub/f": b"{}\n", "d/broken": "nowhere"}, "input {t}/d/broken: No such file or directory"),
    ({"d/sub/f": b"{}\n", "d/sub/loop": ".."}, "input {t}/d: {t}/d/sub/loop is a link back to {t}/d"),
])
def test_inputs_that_cannot_be_read_whole_are_refused(tmp_path, layout, message):
    for name, content in layout.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            (tmp_path / name).symlink_to(content)
        else:
            (tmp_path / name).write_bytes(content)
    run = run_local([tmp_path / "d", "-o", tmp_path / "out"], check=False)
    assert run.returncode == 2 and run.stderr == "run_local.sh: %s\n" % message.format(t=tmp_path)
    assert not (tmp_path / "out").exists()


def test_output_directories_that_cannot_be_or_must_not_be_written(tmp_path):
    write_tree(tmp_path, {"data/f": b'{"k":1}\n', "file": b""})
    under_a_file = run_local([tmp_path / "data", "-o", tmp_path / "file" / "out"], check=False)
    assert under_a_file.returncode == 2 and "%s is a file" % (tmp_path / "file") in under_a_file.stderr
    run_local([tmp_path / "data", "-o", tmp_path / "first", "--", "--key", "k"])
    chained = run_local([tmp_path / "first", "-o", tmp_path / "first", "--force"], check=False)
    assert chained.returncode == 2 and "holds the input %s" % (tmp_path / "first" / "part-00000") in chained.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "file", "first"]
    closed = shell("%s %s >&-" % (RUN_LOCAL, tmp_path / "data"), check=False)
    assert closed.returncode == 2 and b"standard output is closed: give -o DIR" in closed.stderr


def test_a_file_two_inputs_reach_and_an_output_inside_an_input_are_warned_about(tmp_path):
    """Both are what Hadoop does too (the file is read twice; the next run over the folder reads
    the output), so the run goes on, with a warning for each."""
    write_tree(tmp_path, {"data/2017/a": b'{"k":1}\n', "data/2017/b": b'{"k":2}\n'})
    twice = run_local([tmp_path / "data", tmp_path / "data" / "2017" / "b", "--", "--key", "k"])
    assert twice.stdout == b"1\t1\n2\t2\n"
    assert "warning: the inputs reach %s twice" % (tmp_path / "data" / "2017" / "b") in twice.stderr
    inside = run_local([tmp_path / "data", "-o", tmp_path / "data" / "out"])
    assert "warning: the output %s is inside the input %s" % (tmp_path / "data" / "out", tmp_path / "data") \
        in inside.stderr
    again = run_local([tmp_path / "data", "-o", tmp_path / "again"])  # it was: malformed records
    assert again.counters()["firehose-mr"]["malformed"] > 0 and "warning" not in again.stderr
    once = run_local([tmp_path / "data" / "2017", tmp_path / "data" / "out", "-o", tmp_path / "other"])
    assert "warning" not in once.stderr


def test_an_existing_output_directory_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").write_bytes(b"mine")
    run = run_local(["-o", out], check=False)
    assert run.returncode == 2
    assert "output directory %s already exists" % out in run.stderr
    assert output_files(out) == {"keep": b"mine"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    # --force replaces an earlier job's output, and nothing else
    forced = run_local(["-o", out, "--force"], check=False)
    assert forced.returncode == 2 and "%s holds keep, which no job writes" % out in forced.stderr
    assert output_files(out) == {"keep": b"mine"}
    for other in [tmp_path, tmp_path / "out" / "keep"]:
        refused = run_local(["-o", other, "--force"], check=False)
        assert refused.returncode == 2 and "--force replaces" in refused.stderr
        assert output_files(out) == {"keep": b"mine"} and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    (out / "keep").unlink()
    for _ in range(2):
        run_local(["-o", out, "--force"])
        assert sorted(output_files(out)) == ["_SUCCESS", "part-00000"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# -- s3:// input, through the real AWS CLI -----------------------------------------------------------

@pytest.mark.aws
def test_s3_input_is_listed_and_read_with_the_aws_cli(aws: AwsServer):  # noqa: F811
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="events")
    for path in SAMPLE_FILES:
        s3.put_object(Bucket="events", Key="firehose/" + path.relative_to(SAMPLE_DATA).as_posix(),
                      Body=path.read_bytes())
    s3.put_object(Bucket="events", Key="firehose/2017/_tmp/x", Body=b"HIDDEN")  # skipped, like _files
    s3.put_object(Bucket="events", Key="firehose-other/2017/02/27/14/x", Body=b"{}")  # not below
    aws.clear_requests()
    flags = ["--", "--time", "@arrival", "--key", "response"]
    local = run_local(["-r", "2"] + flags)
    remote = run_local(["-r", "2", "s3://events/firehose"] + flags, env=aws.env())
    assert remote.stdout == local.stdout and remote.stdout.count(b"\n") > 4
    assert remote.counters() == local.counters()
    aws.clear_requests()
    globbed = run_local(["s3://events/firehose/2017/02/2[7]/*"] + flags, env=aws.env())
    assert globbed.stdout.splitlines() == [
        line for line in local.stdout.splitlines() if line.startswith(b"2017-02-27")]
    # only what the job reads is copied: not the rest of the listing, nor names Hadoop skips
    copied = sorted({r.path for r in aws.requests if r.method == "GET" and r.path.startswith("/events/firehose/")})
    assert copied == ["/events/firehose/" + path.relative_to(SAMPLE_DATA).as_posix()
                      for path in SAMPLE_FILES if "/02/27/" in path.as_posix()]
    aws.clear_requests()
    run_local(["s3://events/firehose"] + flags, env=aws.env())
    assert "/events/firehose/2017/_tmp/x" not in {r.path for r in aws.requests}
    # Hadoop's glob syntax, as for local files: {...} across a /, [^...]
    for pattern in ["2017/{02/27,02/28}/*/*", "2017/02/{27,2[^7]}/*/*", "2017/02/2[^8]/*/*"]:
        on_s3 = run_local([r"s3://events/firehose/" + pattern] + flags, env=aws.env())
        assert on_s3.stdout == run_local([str(SAMPLE_DATA / pattern)] + flags).stdout, pattern
        assert on_s3.stdout.count(b"\n") > 1
    assert aws.changing_requests() == []
    missing = run_local(["s3://events/nothing/here"], env=aws.env(), check=False)
    assert missing.returncode == 2 and "matches 0 objects" in missing.stderr
    no_bucket = run_local(["s3://no-such-bucket/x"], env=aws.env(), check=False)
    assert no_bucket.returncode == 2 and no_bucket.stderr.startswith(
        "run_local.sh: cannot list s3://no-such-bucket/x: An error occurred (NoSuchBucket)"), no_bucket.stderr
    s3.put_object(Bucket="events", Key="firehose/2017/02/28/00/stream-1.snappy",
                  Body=snappy_files.hadoop_snappy(b'{"a":1}\n'))
    snappy = run_local(["s3://events/firehose"], env=aws.env(), check=False)
    assert snappy.returncode == 2 and "s3://events/firehose/2017/02/28/00/stream-1.snappy: Snappy is not" in snappy.stderr

# run_local.sh --hadoop is tested against the emulation in test_hadoop_conformance.py.


def test_a_tmpdir_that_is_not_there_is_refused(tmp_path):
    """Not a fall-back to /tmp, which is the small root disk of an EMR master."""
    missing = tmp_path / "mnt" / "tmp"
    run = run_local(["-o", tmp_path / "out"], env=clean_env(TMPDIR=str(missing)), check=False)
    assert run.returncode == 2 and run.stderr == "run_local.sh: TMPDIR=%s is not a folder: create it, or set " \
        "TMPDIR to one\n" % missing
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_run_that_writes_no_output_leaves_no_folders_made_for_it(tmp_path):
    write_tree(tmp_path, {"data/f": b'{"k":1}\n'})
    for flags in (["--kye"], ["--key", "k", "--value", "v", "--value", "w"]):
        run = run_local([tmp_path / "data", "-o", tmp_path / "new" / "deeper" / "out", "--"] + flags,
                        check=False)
        assert run.returncode == 2, run.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    script(tmp_path, "fails.py", "sys.exit(3)\n")
    failed = run_local(["--mapper", tmp_path / "fails.py", tmp_path / "data", "-o", tmp_path / "new" / "out"],
                       check=False)
    assert failed.returncode == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "fails.py"]
    run_local([tmp_path / "data", "-o", tmp_path / "new" / "out"])
    assert sorted(p.name for p in (tmp_path / "new" / "out").iterdir()) == ["_SUCCESS", "part-00000"]


@pytest.mark.parametrize("name", ["run_local.sh", "submit_step.sh"])
def test_a_script_started_with_sh_says_to_use_bash(name):
    result = subprocess.run(["sh", name, "--help"], cwd=str(REPO), capture_output=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr == ("%s: run it with bash: ./%s or bash %s\n" % (name, name, name)).encode()


def test_under_a_locale_the_result_is_still_in_byte_order(tmp_path, en_us_locale):  # noqa: F811
    """Keys a locale's collation orders otherwise (case, punctuation, accents): the printed
    result and each reducer's input are in byte order, as Hadoop sorts."""
    keys = ["b", "B", "a-c", "ab", "é", "e", "Z", "a c"]
    write_tree(tmp_path, {"in": "".join(json.dumps({"k": k}) + "\n" for k in keys).encode()})
    run = run_local([tmp_path / "in", "--", "--key", "k"], env=en_us_locale)
    assert run.stdout.decode().splitlines() == ["%s\t1" % k for k in sorted(keys, key=str.encode)]
    script(tmp_path, "seen.py", "sys.stdout.buffer.write(sys.stdin.buffer.read())\n")
    passed = run_local(["--reducer", tmp_path / "seen.py", "-o", tmp_path / "out", tmp_path / "in", "--",
                        "--key", "k"], env=en_us_locale)
    assert passed.returncode == 0
    lines = (tmp_path / "out" / "part-00000").read_bytes().splitlines()
    assert lines == sorted(lines) and len(lines) == len(keys)


def test_a_reducer_that_fails_without_input_fails_the_job(tmp_path):
    write_tree(tmp_path, {"in": b'{"k":1}\n'})
    run = run_local(["-r", "5", "--reducer", "false", tmp_path / "in", "--", "--key", "k"], check=False)
    assert run.returncode == 1 and "reducer failed (exit status 1)" in run.stderr


def test_an_archive_is_refused_whatever_the_case_of_its_name(tmp_path):
    write_tree(tmp_path, {"d/stream-1.ZIP": b"PK\x03\x04", "e/stream-1.Parquet": b"PAR1"})
    for folder in ("d", "e"):
        run = run_local([tmp_path / folder], check=False)
        assert run.returncode == 2 and "stream-1." in run.stderr, run.stderr
