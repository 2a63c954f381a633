"""mapper.py's fast paths, piece by piece, against the plain definitions they must equal:
the block line reader against Hadoop's LineReader model, the time bucket's quick check
against the full ISO 8601 path, the unrolled key function against the general one."""
import gzip
import importlib.util
import io
import json
import sys
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MAPPER

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


def load_mapper():
    spec = importlib.util.spec_from_file_location("mapper_under_test", str(MAPPER))
    module = importlib.util.module_from_spec(spec)
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in the repository
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes_bytecode
    return module


mapper = load_mapper()


# -- lines ------------------------------------------------------------------------------------

def linereader_model(data: bytes):
    """Hadoop's LineReader, byte by byte: a line ends at LF, at CRLF, or at a lone CR; the
    last line may have no end; no line ends, no line."""
    lines, current, index = [], bytearray(), 0
    while index < len(data):
        byte = data[index:index + 1]
        if byte in (b"\n", b"\r"):
            lines.append(bytes(current))
            current = bytearray()
            if byte == b"\r" and data[index + 1:index + 2] == b"\n":
                index += 1
        else:
            current += byte
        index += 1
    if current:
        lines.append(bytes(current))
    return lines


class Trickle(io.RawIOBase):
    """A raw stream that hands out its bytes in the given piece sizes, like a pipe may."""

    def __init__(self, data: bytes, sizes):
        self.data, self.sizes, self.at, self.turn = data, sizes or [1], 0, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        size = min(len(buffer), self.sizes[self.turn % len(self.sizes)])
        self.turn += 1
        piece = self.data[self.at:self.at + size]
        buffer[:len(piece)] = piece
        self.at += len(piece)
        return len(piece)


def lines_read(data: bytes, block_size: int, sizes=None, monkeypatch=None):
    monkeypatch.setattr(mapper, "BLOCK_SIZE", block_size)
    raw = Trickle(data, sizes) if sizes else io.BytesIO(data)
    return [line for batch in mapper.hadoop_lines(io.BufferedReader(raw)) for line in batch]


LINE_BYTES = st.lists(st.sampled_from([b"a", b"{}", b"\n", b"\r", b"\r\n", b"\n\r", b" ", b"\xc3\xa9",
                                       b"\xff", b"\x0b\x0c\x1c\x85"]), max_size=60).map(b"".join)


@SETTINGS
@given(LINE_BYTES, st.integers(1, 20), st.lists(st.integers(1, 9), max_size=5))
def test_lines_are_hadoops_whatever_the_block_and_read_sizes(monkeypatch, data, block_size, sizes):
    assert lines_read(data, block_size, sizes, monkeypatch) == linereader_model(data)


@pytest.mark.parametrize("data,block_size,expected", [
    (b"", 4, []),
    (b"\n", 4, [b""]),
    (b"abc", 2, [b"abc"]),  # no final LF, longer than a block
    (b"ab\r\ncd\n", 3, [b"ab", b"cd"]),  # the block ends between CR and LF: the CR is carried
    (b"ab\r", 3, [b"ab"]),  # a lone CR ends the input
    (b"a\rb\rc", 2, [b"a", b"b", b"c"]),  # lone CRs only, no LF at all
    (b"x" * 1000 + b"\ny\n", 64, [b"x" * 1000, b"y"]),  # a line of many blocks
    (b"a\r\r\nb\n\n", 5, [b"a", b"", b"b", b""]),
])
def test_lines_at_block_edges(monkeypatch, data, block_size, expected):
    assert lines_read(data, block_size, None, monkeypatch) == expected == linereader_model(data)


@pytest.mark.parametrize("block_size", [3, 64, 65536])
def test_gzip_lines_are_the_plain_files_lines(monkeypatch, block_size):
    data = b"".join(b'{"n": %d}\r\n' % i if i % 7 else b'{"n": %d}\r' % i for i in range(3000))
    assert lines_read(gzip.compress(data), block_size, None, monkeypatch) == linereader_model(data)


def test_a_bad_byte_in_one_line_of_a_block_costs_that_line_only():
    data = b'{"k": "a"}\n{"k": "caf\xe9"}\r\n{"k": "\xc3\xa9"}\n{"k": "b"}'
    counters = mapper.Counters()
    records = list(mapper.firehose_records(mapper.hadoop_lines(io.BufferedReader(io.BytesIO(data))), counters))
    assert [r["k"] for r in records] == ["a", "caf\ufffd", "\u00e9", "b"]
    assert counters.values["invalid_utf8"] == 1 and counters.values["malformed"] == 0


# -- time buckets -------------------------------------------------------------------------------

def full_path_bucket(value, period="minute"):
    """The bucket the slow path gives, with nothing cached."""
    return mapper.TimeBuckets(period).of_value(value)


ENDINGS = ["", "Z", "z", ":00", ":59", ":60", ":07Z", ":07z", ":07.1", ":07.123Z", ":07,5", ":07,123456z",
           ":07.000000001Z", ":61", ":6", ":60.5Z", ":07.", ":07.Z", ":07.1ZZ", ":07.1 ", ":07.1\n", ":07Z\n",
           ":07+00:00", ":07-01:00", "+01:00", ":07.1x", ":0\u0661", ":07.\u0661Z", ":07:08", "Zz", ":07.1z "]


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("start", ["2017-02-23T14:45", "2017-02-23 14:45", "2017-02-23t14:45"])
def test_the_quick_check_accepts_and_rejects_what_the_iso_pattern_does(start, ending):
    value = start + ending
    expected = full_path_bucket(value)
    times = mapper.TimeBuckets("minute")
    bucket = times.of_field(lambda record: record["t"])
    for warm_up in ["", ":00", ":07.1Z", ":07.123Z", ":07,5", ":07Z", "Z"]:  # the minute and tails known
        assert bucket({"t": start + warm_up}) == full_path_bucket(start + warm_up)
    assert bucket({"t": value}) == expected  # through the quick check if it can
    assert bucket({"t": value}) == expected  # and again, now that it learned from it


@SETTINGS
@given(st.lists(st.one_of(
    st.builds(lambda m, e: "2017-02-23T14:%02d%s" % (m, e), st.integers(0, 2), st.sampled_from(ENDINGS)),
    st.text(alphabet="0123456789:.,Zz+- T", max_size=30).map(lambda tail: "2017-02-23T14:01" + tail),
    st.integers(0, 2 * 10 ** 12), st.none()), max_size=30))
def test_cached_buckets_equal_fresh_ones(values):
    bucket = mapper.TimeBuckets("hour").of_field(lambda record: record["t"])
    for value in values + values:
        assert bucket({"t": value}) == full_path_bucket(value, "hour")


# -- keys -------------------------------------------------------------------------------------

FIELD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.text(alphabet="ab\t\\é", max_size=3),
                         st.sampled_from([Decimal("1.50"), [1, "x"], {"c": 1}, {"c": "DE"}, {"c": None}]),
                         st.sampled_from(["2017-02-23T14:45" + ending for ending in ENDINGS] + [1487861100, "nope"]))
RECORDS = st.lists(st.dictionaries(st.sampled_from(["t", "k", "g", "c"]), FIELD_VALUES), max_size=30)


@SETTINGS
@given(RECORDS, st.sampled_from([None, "t", "g.c"]),
       st.sampled_from(["k", "g.c", "k,g.c", "g.c,t", "c,k", "g.0"]))
def test_the_unrolled_key_is_the_general_key(records, time_path, key_paths):
    argv = ["--key", key_paths] + (["--time", time_path, "--per", "minute"] if time_path else [])
    job = mapper.Job(mapper.parse_args(argv), {})
    general = mapper.Job(mapper.parse_args(argv), {}).general_key()
    if key_paths != "g.0":
        assert job.key.__name__ == "key" and job.key.__qualname__.startswith("unrolled_key")
    for record in records + records:  # twice: the second time through the caches
        assert job.key(record) == general(record), record


@pytest.mark.parametrize("time_path", ["t", "g.c"])
def test_the_unrolled_keys_time_after_every_other_time(time_path):
    outer, _, inner = time_path.partition(".")
    for before in ENDINGS:
        for ending in ENDINGS:
            argv = ["--key", "k", "--time", time_path, "--per", "minute"]
            job, general = mapper.Job(mapper.parse_args(argv), {}), mapper.Job(mapper.parse_args(argv), {}).general_key()
            for value in ("2017-02-23T14:45" + before, "2017-02-23T14:45" + ending):
                record = {outer: {inner: value} if inner else value, "k": "x"}
                assert job.key(record) == general(record), (before, ending)


def test_paths_that_are_not_simple_take_the_general_key():
    for argv in (["--key", "a.0"], ["--key", "a.b.c"], ["--key", "a,b,c"], ["--key", "a", "--time", "t.u.v"]):
        assert not mapper.Job(mapper.parse_args(argv), {}).key.__qualname__.startswith("unrolled_key")
    arrival = mapper.Job(mapper.parse_args(["--key", "a", "--time", "@arrival"]),
                         {"mapreduce_map_input_file": "s3://b/2017/02/27/14/x"})
    assert arrival.key({"a": "x"}) == ("2017-02-27T14:00", "x")


def test_a_json_record_through_the_whole_key():
    record = json.loads('{"time": "2026-11-20T12:41:06.145Z", "type": "view", "geo": {"country": "DE"}}',
                        parse_float=Decimal)
    job = mapper.Job(mapper.parse_args(["--key", "type,geo.country", "--time", "time"]), {})
    assert job.key(record) == job.key(record) == ("2026-11-20T12:00", "view", "DE")


# -- counting -----------------------------------------------------------------------------------

@SETTINGS
@given(st.lists(st.lists(st.sampled_from("abcdefgh"), max_size=6), max_size=12), st.integers(1, 9))
def test_count_each_flushes_exactly_where_count_does(monkeypatch, batches, limit):
    monkeypatch.setattr(mapper, "MAX_GROUPS_IN_MEMORY", limit)
    one_by_one, each = mapper.Groups(io.BytesIO(), False), mapper.Groups(io.BytesIO(), False)
    for keys in batches:
        for key in keys:
            one_by_one.count(key)
        each.count_each(keys)
        assert list(each.table.items()) == list(one_by_one.table.items())
    one_by_one.flush()
    each.flush()
    assert each.out.getvalue() == one_by_one.out.getvalue()
