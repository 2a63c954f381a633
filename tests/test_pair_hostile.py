"""The pair under hostile input and careless use: a key of a megabyte, JSON nested deep around a
number no decimal holds, intermediate lines no mapper.py writes, a gzip file read as text, a ^C
before the first record, a closed standard input. Each is a clear line and a counter (or an exit
status), in bounded time and memory; never a traceback."""
import gzip
import importlib.util
import json
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MAPPER, REDUCER, clean_env, counters, shell, sigint_at_default
from test_pair_pipe import peak_rss_kib

HADOOP_TASK = {"mapreduce_task_id": "attempt_local0001_r_000000_0"}


def load(script, name):
    spec = importlib.util.spec_from_file_location(name, str(script))
    module = importlib.util.module_from_spec(spec)
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in the repository
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes_bytecode
    return module


reducer = load(REDUCER, "reducer_under_test")


# -- a long key: checked in memory proportional to it, with a small constant ------------------

def key_line(size: int) -> bytes:
    return b"k" * size + b"\x02\t1\n"


@pytest.mark.parametrize("where", ["pipe", "hadoop"])
def test_a_key_of_megabytes_costs_the_reducer_a_few_bytes_a_byte(where):
    """Firehose takes records up to 1,000 KiB, and a key may be all of one. The growth of peak
    memory from a 1 KB key to a 2 MB one, per byte of key: the line, its key and a copy or two,
    not the 120 bytes a byte that a pattern matching the whole key took."""
    env = clean_env(**HADOOP_TASK) if where == "hadoop" else clean_env()
    small, large = 1000, 2000000
    small_kib = peak_rss_kib("./reducer.py", key_line(small), env)
    large_kib = peak_rss_kib("./reducer.py", key_line(large), env)
    per_byte = (large_kib - small_kib) * 1024.0 / (large - small)
    assert per_byte < 8, (small_kib, large_kib, per_byte)
    result = shell("./reducer.py", stdin=key_line(large), env=env)
    assert result.stdout == b"k" * large + b"\t1\n"


def key_reference(key: bytes) -> bool:
    """encode_key's output, read token by token: a byte from \\x0e up, the column end \\x02, or
    an escape (\\x01 and one of @ A B C D E F G H, \\x03 and K or L); the key is empty or ends a column."""
    index = 0
    while index < len(key):
        byte = key[index]
        if byte >= 0x0e or byte == 0x02:
            index += 1
        elif index + 1 < len(key) and (byte == 0x01 and 0x40 <= key[index + 1] <= 0x48
                                       or byte == 0x03 and key[index + 1] in (0x4b, 0x4c)):
            index += 2
        else:
            return False
    return not key or key[-1] == 0x02


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from([b"a", b"\x02", b"\x01", b"\x03", b"@", b"H", b"I", b"K", b"L", b"M",
                                 b"\x00", b"\x04", b"\n", b"\r", b"\x0d", b"\x0e", b"\xff", b"\x01@", b"\x03K"]),
                max_size=12).map(b"".join))
def test_the_key_check_accepts_exactly_what_mapper_py_writes(key):
    assert reducer.is_key(key) == key_reference(key)


# -- intermediate lines no mapper.py writes --------------------------------------------------

@pytest.mark.parametrize("line", [
    b"k\\x02\\t2\\t2\\t1\\t5\\t9",  # a sum below the min (two values of 5 and more: 10 at least)
    b"k\\x02\\t1\\t1\\t4\\t5\\t5",  # one value: the sum is it, and so are the min and the max
    b"k\\x02\\t3\\t3\\t30\\t1\\t9",  # above what 1 + 9 + one more value of at most 9 add up to
    b"k\\x02\\t2\\t2\\t-11\\t-5\\t-1",  # below -5 + -1
])
@pytest.mark.parametrize("where", ["pipe", "hadoop"])
def test_a_sum_its_values_cannot_add_up_to_is_bad_intermediate(line, where):
    env = clean_env(**HADOOP_TASK) if where == "hadoop" else None
    result = shell("printf '%s\\n' | ./reducer.py" % line.decode(), env=env)
    assert result.stdout == b"" and counters(result.stderr) == {"bad_intermediate": 1}
    assert b"cannot add up to" in result.stderr and b"Traceback" not in result.stderr


def test_a_sum_checked_against_numbers_of_far_apart_exponents_takes_no_more_memory_than_any():
    """1E+2000 and 1E-268435456 are numbers the reducer takes; worked out exactly, the bounds
    on their sum would hold 268 million digits."""
    far_apart = b"k\x02\t3\t3\t1E+2000\t1E-268435456\t1E+1999\n"  # above 2E+1999 + a hair
    result = shell("./reducer.py", stdin=far_apart)
    assert result.stdout == b"" and counters(result.stderr) == {"bad_intermediate": 1}
    ordinary_kib = peak_rss_kib("./reducer.py", b"k\x02\t3\t3\t6\t1\t3\n", clean_env())
    far_apart_kib = peak_rss_kib("./reducer.py", far_apart, clean_env())
    assert far_apart_kib < 1.5 * ordinary_kib, (ordinary_kib, far_apart_kib)


@pytest.mark.parametrize("line,row", [
    (b"k\\x02\\t2\\t2\\t-6\\t-5\\t-1", b"k\t2\t-6\t-5\t-1\t-3\n"),
    (b"k\\x02\\t3\\t3\\t3\\t1\\t1", b"k\t3\t3\t1\t1\t1\n"),
    (b"k\\x02\\t4\\t3\\t12.5\\t0.5\\t6", b"k\t4\t12.5\t0.5\t6\t4.16666666666667\n"),
])
def test_sums_at_the_edges_of_what_their_values_add_up_to_are_kept(line, row):
    result = shell("printf '%s\\n' | ./reducer.py" % line.decode())
    assert result.stdout == row and result.stderr == b""


@pytest.mark.parametrize("where", ["pipe", "hadoop"])
@pytest.mark.parametrize("lines,row,bad", [
    (b"k\\x02\\t1\\nk\\x02\\t2\\t1\\t5\\t5\\t5\\n", b"k\t1\n", 2),
    (b"k\\x02\\t2\\t1\\t5\\t5\\t5\\nk\\x02\\t1\\n", b"k\t2\t5\t5\t5\t5\n", 2),
], ids=["count first", "values first"])
def test_a_count_alone_and_values_for_one_key_is_bad_intermediate(where, lines, row, bad):
    """One job writes count-only lines, or lines with values, never both: the second kind is
    not mapper.py output."""
    env = clean_env(**HADOOP_TASK) if where == "hadoop" else None
    result = shell("printf '%s' | ./reducer.py" % lines.decode(), env=env)
    assert result.stdout == row and counters(result.stderr) == {"bad_intermediate": 1}
    assert b"line %d" % bad in result.stderr and b"one kind of line" in result.stderr


# -- a line of deeply nested records around numbers no decimal holds: read about once ---------

mapper = load(MAPPER, "mapper_under_test")
UNREADABLE_NUMBERS = ["1e99999999999999999999", "1" * 5000]  # an exponent beyond 10**18; over 4300 digits


def nested_record(depth: int, number: str) -> str:
    return '{"a":' * depth + number + "}" * depth


class CountingScan:
    """A JSON scan function that counts its calls."""

    def __init__(self, scan):
        self.scan, self.calls = scan, 0

    def __call__(self, line, index):
        self.calls += 1
        return self.scan(line, index)


def scans_of(line: str, monkeypatch) -> int:
    scans = [CountingScan(mapper._JSON_SCAN), CountingScan(mapper._SCAN_WITHOUT_NUMBERS)]
    monkeypatch.setattr(mapper, "_JSON_SCAN", scans[0])
    monkeypatch.setattr(mapper, "_SCAN_WITHOUT_NUMBERS", scans[1])
    counters = mapper.Counters()
    records = list(mapper.firehose_records([[line.encode()]], counters))
    monkeypatch.undo()
    assert records == [{"a": "after"}] and counters.values["malformed"] == 1
    return sum(scan.calls for scan in scans)


@pytest.mark.parametrize("number", UNREADABLE_NUMBERS, ids=["exponent", "digits"])
def test_a_record_nested_around_an_unreadable_number_is_scanned_a_few_times_whatever_its_depth(number,
                                                                                               monkeypatch):
    """Each record of the line is passed over whole: the scans of a line of 20 such records do
    not grow with their depth (reading on one character after each failure took one scan per level)."""
    shallow = scans_of(nested_record(2, number) * 20 + '{"a":"after"}', monkeypatch)
    deep = scans_of(nested_record(300, number) * 20 + '{"a":"after"}', monkeypatch)
    assert deep == shallow <= 3 * 21, (shallow, deep)


def best_time(command: str, data: bytes) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        shell(command, stdin=data)
        times.append(time.perf_counter() - start)
    return min(times)


def test_two_megabytes_of_nested_bad_records_take_about_as_long_as_ordinary_ones():
    """Through the shell, as a user runs it: 2 MB of records nested 400 deep, each around an
    exponent no Decimal holds, against 2 MB of ordinary records (reading on one character after
    each failure took 30 to 45 times as long)."""
    record = nested_record(400, UNREADABLE_NUMBERS[0])
    hostile = (record * (2000000 // len(record)) + "\n").encode()
    ordinary_record = json.dumps({"a": "x", "n": 1, "pad": "p" * 60}, separators=(",", ":"))
    ordinary = (ordinary_record * (2000000 // len(ordinary_record)) + "\n").encode()
    ratio = best_time("./mapper.py --key a >/dev/null", hostile) / best_time("./mapper.py --key a >/dev/null", ordinary)
    assert ratio < 4, ratio


# -- gzip data read as text: said once, and counted ------------------------------------------

GZIP_WARNING = b"gzip data that was read as text"
RECORDS = b"".join(b'{"k":"x","i":%d}\n' % i for i in range(3000))


def mapper_job(data: bytes, env=None):
    """(rows, counters, stderr without its counter lines) of `mapper.py --key k | sort | reducer.py`."""
    result = shell("./mapper.py --key k | LC_ALL=C sort | ./reducer.py", stdin=data, env=env)
    said = [line for line in result.stderr.splitlines() if not line.startswith(b"reporter:")]
    return result.stdout, counters(result.stderr), said


def test_a_gzip_file_after_text_is_said_once_and_counted(tmp_path):
    """`cat plain.json firehose-object | ./mapper.py`: the object was gzip, its name said not."""
    (tmp_path / "plain.json").write_bytes(RECORDS[:160])
    (tmp_path / "firehose-object").write_bytes(gzip.compress(RECORDS))
    result = shell("cat plain.json firehose-object | %s --key k" % MAPPER, cwd=tmp_path)
    seen = counters(result.stderr)
    assert seen["gzip_data"] == 1 and seen["records"] == 10 and seen["malformed"] > 0
    said = [line for line in result.stderr.splitlines() if not line.startswith(b"reporter:")]
    assert len(said) == 1 and said[0].startswith(b"mapper.py: ") and GZIP_WARNING in said[0], said


def test_every_line_with_gzip_magic_counts_and_is_said_once():
    data = RECORDS[:32] + (b"\x1f\x8b\x08 not a record\n" * 3) + b"\x1f\x8b" * 50000 + b"\n" + RECORDS[:32]
    rows, seen, said = mapper_job(data)
    assert rows == b"x\t4\n" and seen["gzip_data"] == 4 and seen["malformed"] == 4
    assert len(said) == 1 and GZIP_WARNING in said[0]


def test_gzip_at_the_start_of_a_hadoop_task_is_gzip_read_as_text():
    """Hadoop decompresses a .gz file before the mapper reads it: in a task, gzip bytes at the
    start are a compressed file it read as text. A user's `cat x.gz | mapper.py` is not."""
    data = gzip.compress(RECORDS)
    in_task = mapper_job(data, clean_env(mapreduce_task_id="attempt_local0001_m_000000_0"))
    by_hand = mapper_job(data)
    assert in_task[1]["gzip_data"] == 1 and len(in_task[2]) == 1 and GZIP_WARNING in in_task[2][0]
    assert by_hand == (b"x\t3000\n", dict(in_task[1], gzip_data=0), [])


# -- a ^C from the first moment, a closed standard input or output: one line each -------------

@pytest.fixture
def interrupting_argparse(tmp_path):
    """A PYTHONPATH where `import argparse` (the pair's first slow import) is hit by a ^C: the
    process sends itself SIGINT, as a terminal does, while the module is being imported."""
    (tmp_path / "argparse.py").write_text("import os, signal, time\n"
                                          "os.kill(os.getpid(), signal.SIGINT)\n"
                                          "time.sleep(30)\n")
    return str(tmp_path)


@pytest.mark.parametrize("script", [MAPPER, REDUCER], ids=lambda p: p.name)
def test_a_ctrl_c_while_the_script_starts_is_one_line_and_exit_130(script, interrupting_argparse):
    result = subprocess.run([str(script)], input=b"", capture_output=True, timeout=60, preexec_fn=sigint_at_default,
                            env=clean_env(PYTHONPATH=interrupting_argparse))
    assert (result.returncode, result.stderr) == (130, b"%s: interrupted\n" % script.name.encode())
    assert result.stdout == b""


@pytest.mark.parametrize("script", [MAPPER, REDUCER], ids=lambda p: p.name)
def test_a_ctrl_c_while_the_script_waits_for_input_is_the_same_line(script):
    process = subprocess.Popen([str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=clean_env(), preexec_fn=sigint_at_default)
    time.sleep(1)  # started, and reading
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, err, out) == (130, b"%s: interrupted\n" % script.name.encode(), b"")


@pytest.mark.parametrize("script", [MAPPER, REDUCER], ids=lambda p: p.name)
@pytest.mark.parametrize("redirect,stream", [("<&-", b"standard input"), (">&-", b"standard output")])
def test_a_closed_standard_input_or_output_is_one_line_and_exit_2(script, redirect, stream):
    result = shell("./%s %s" % (script.name, redirect), check=False)
    assert result.returncode == 2
    assert result.stderr == b"%s: error: %s is closed: %s\n" % (
        script.name.encode(), stream,
        b"give the input as a file (< FILE) or a pipe" if stream == b"standard input"
        else b"send the output to a file (> FILE) or a pipe")
