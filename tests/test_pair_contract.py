"""The pair against the job contract: `mapper.py | sort | reducer.py`, run as a user runs it,
must give the rows and counters that tests/support/contract_reference.py (written from README.md, not
from the pair) computes, for generated records and jobs; and boundary cases worked by hand.

Each example is one job over two input files, each read by its own mapper process (so the
reducer merges partial groups), through one bash pipeline. Under `--hypothesis-profile=ci`
(what .ci/run uses) the examples are derandomised: the same ones on every run."""
import calendar
import json
import shlex
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import contract_reference as reference
from conftest import counters, shell

Chunk = Tuple[bytes, Optional[str]]  # a file's bytes and its name as Hadoop passes it


def run_pair(job: reference.Job, chunks: List[Chunk]) -> Tuple[List[str], Dict[str, int]]:
    """(rows, counters) of `{ mapper.py <file1 && mapper.py <file2; } | LC_ALL=C sort | reducer.py`."""
    flags = " ".join(shlex.quote(flag) for flag in job.flags())
    with tempfile.TemporaryDirectory() as folder:
        mappers = []
        for number, (data, input_file) in enumerate(chunks):
            path = Path(folder) / ("part-%d" % number)
            path.write_bytes(data)
            task = "mapreduce_map_input_file=%s " % shlex.quote(input_file) if input_file else ""
            mappers.append("%s./mapper.py %s < %s" % (task, flags, shlex.quote(str(path))))
        result = shell("{ %s; } | LC_ALL=C sort | ./reducer.py" % " && ".join(mappers))
    assert b"Traceback" not in result.stderr, result.stderr
    return result.stdout.decode("utf-8").splitlines(), counters(result.stderr)


def check(job: reference.Job, chunks: List[Chunk]) -> None:
    expected_rows, expected_counters = reference.run(job, chunks)
    rows, seen = run_pair(job, chunks)
    assert rows == expected_rows, job.flags()
    assert seen == expected_counters, job.flags()


# -- generated records, as JSON text (so that numbers keep the spelling given) ------------------

def json_text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


KEY_TEXT = st.one_of(
    st.sampled_from(["null", "true", "false", "0", "-3", "7", "1.50", "1.5", "100", "1e2", "1.0E+2", "-0", "0.0",
                     "-2.50e-1", '[1, "x"]', '{"b": 1, "a": [1.0, "\u00e9"]}', '{"c": null}', "[]", "{}"]),
    st.text(st.sampled_from(["a", "b", "\t", "\n", "\r", "\\", "\x01", " ", "\u00e9", "\u4e16"]), max_size=3).map(json_text))

YEARS = st.one_of(st.sampled_from([1900, 1970, 1999, 2000, 2019, 2020, 2024, 2100]), st.integers(1000, 9998))


@st.composite
def iso_times(draw) -> str:
    """ISO 8601 times as the README lists them; a day past the month's end is a bad time."""
    date = "%04d-%02d-%02d" % (draw(YEARS), draw(st.integers(1, 12)),
                               draw(st.one_of(st.sampled_from([1, 28, 29, 30, 31]), st.integers(1, 31))))
    clock = "%02d:%02d" % (draw(st.one_of(st.sampled_from([0, 23]), st.integers(0, 23))),
                           draw(st.one_of(st.sampled_from([0, 59]), st.integers(0, 59))))
    seconds = draw(st.one_of(
        st.just(""), st.integers(0, 59).map(":{:02d}".format),
        st.builds(lambda s, mark, digits: ":%02d%s%s" % (s, mark, digits), st.integers(0, 59),
                  st.sampled_from(".,"), st.text("0123456789", min_size=1, max_size=12))))
    offset = draw(st.one_of(
        st.sampled_from(["", "Z"]),
        st.builds(lambda sign, hours, minutes, colon: "%s%02d%s%02d" % (sign, hours, colon, minutes),
                  st.sampled_from("+-"), st.one_of(st.sampled_from([0, 1, 5, 14, 23]), st.integers(0, 23)),
                  st.one_of(st.sampled_from([0, 30, 45, 59]), st.integers(0, 59)), st.sampled_from([":", ""]))))
    return json_text(date + draw(st.sampled_from("T ")) + clock + seconds + offset)


def month_end_epochs(year: int, month: int, past_midnight: int, milliseconds: bool) -> str:
    """The last second of a month (past_midnight 0) or the first of the next (1), by the
    standard library's calendar, as epoch seconds or milliseconds."""
    last_day = calendar.monthrange(year, month)[1]
    seconds = calendar.timegm((year, month, last_day, 23, 59, 59)) + past_midnight
    return "%d%s" % (seconds, "999" if milliseconds else "")


EPOCH_TEXT = st.one_of(
    st.integers(-2208988800, 4102444800).map(str),  # seconds, 1900 to 2100
    st.builds("{}.{}".format, st.integers(-2208988800, 4102444800), st.text("0123456789", min_size=1, max_size=12)),
    st.integers(10 ** 8, 4102444800).map(lambda s: "%s.%se%d" % (str(s)[0], str(s)[1:], len(str(s)) - 1)),
    st.integers(0, 4102444800999).map(str),  # milliseconds (under 1e11: read as seconds)
    st.builds("{}.{}".format, st.integers(10 ** 11, 4102444800999), st.integers(0, 999)),
    st.integers(10 ** 11 - 10 ** 5, 10 ** 11 + 10 ** 5).map(str),  # around the cut-off
    st.sampled_from(["99999999999", "99999999999.999", "100000000000", "100000000000.0", "1e11", "1E+11",
                     "999999999999", "1000000000000", "1e12", "-0.5", "-1", "-86400", "-86401", "0", "-0"]),
    st.builds(month_end_epochs, st.sampled_from([1900, 1999, 2000, 2019, 2020, 2021, 2100]), st.integers(1, 12),
              st.integers(0, 1), st.booleans()))

BAD_TIME_TEXT = st.sampled_from([
    '"yesterday"', "null", "true", '""', "[1]", '{"t": 1}', "1e30", '"2019-02-29T00:00:00Z"',
    '"1900-02-29 00:00"', '"2020-04-31T10:00"', '"2020-01-01T24:00"', '"2020-01-01T10:60"',
    '"2020-01-01T10:00+24:00"', '"2020-01-01T10:00+01:60"', '"9999-12-31T23:00:00-02:00"'])

TIME_TEXT = st.one_of(iso_times(), EPOCH_TEXT, BAD_TIME_TEXT)

DECIMAL_TEXT = st.builds(
    lambda mantissa, exponent, spelling: spelling.format(m=mantissa, e=exponent,
                                                         plain=format(Decimal(mantissa).scaleb(exponent), "f")),
    st.one_of(st.integers(-100, 100), st.integers(-10 ** 7, 10 ** 7), st.integers(-10 ** 22, 10 ** 22)),
    st.integers(-12, 12), st.sampled_from(["{plain}", "{m}e{e}", "{m}E{e}"]))
VALUE_TEXT = st.one_of(
    DECIMAL_TEXT,
    st.builds(lambda before, text, after: json_text(before + text + after),
              st.sampled_from(["", " ", "+", " +"]), DECIMAL_TEXT.filter(lambda t: not t.startswith("-")),
              st.sampled_from(["", " ", "\t"])),
    st.builds(lambda text: json_text(text), DECIMAL_TEXT),
    st.sampled_from(['"n/a"', "null", "true", '{"x": 1}', '"1_000"', '"0x10"', '""', '"NaN"', '"Infinity"', "[1]"]))

WORDS_ALPHABET = list("aAbBcC xyz_09.,!-\t") + ["\u00e9", "\u00c9", "\u00df", "\u0130", "\u03a3", "\u4e16", "\u0301",
                                              "\u00b2"]
TEXT_TEXT = st.one_of(st.text(st.sampled_from(WORDS_ALPHABET), max_size=16).map(json_text),
                      st.sampled_from(["7", "null", '{"x": "y"}']))

MEMBERS = {
    "t": TIME_TEXT,
    "w": TIME_TEXT.map('{{"t": {}}}'.format),
    "k": KEY_TEXT,
    "k2": KEY_TEXT,
    "g": st.one_of(KEY_TEXT.map('{{"c": {}}}'.format), KEY_TEXT),
    "arr": st.one_of(st.builds('[{}, {}]'.format, KEY_TEXT, KEY_TEXT), KEY_TEXT),
    "v": VALUE_TEXT,
    "m": VALUE_TEXT.map('{{"v": {}}}'.format),
    "txt": TEXT_TEXT,
}


@st.composite
def records(draw) -> str:
    """A record with most of the members above, in a random order."""
    names = draw(st.permutations(sorted(MEMBERS)))
    kept = [name for name in names if draw(st.sampled_from([True, True, True, False]))]
    return "{" + ", ".join('"%s": %s' % (name, draw(MEMBERS[name])) for name in kept) + "}"


JUNK_LINES = [b"[1, 2]", b'"just text"', b"17", b"null", b'{"k": tru', b'{"k": "caf\xe9", "v": 1}', b"  ", b""]
ARRIVALS = ["s3://b/2020/02/29/23/s-1-2020-02-29-23-59-59-x", "file:/data/2019/12/31/00/s-1-2019-12-31-00-00-00-y",
            "s3://b/tree/2021/04/30/07/s-1-2021-04-30-07-10-00-z.gz", "file:/data/export.json"]


def one_file(lines: List[bytes], layout: str, input_file: str) -> Chunk:
    """Records one per line (LF or CRLF, bad lines and all) or back to back on one line."""
    if layout in ("back to back", "spaced"):
        records_only = [line for line in lines if line.startswith(b'{"') and not line.endswith(b"tru")]
        return (b"" if layout == "back to back" else b" ").join(records_only) + b"\n", input_file
    end = b"\n" if layout == "lf" else b"\r\n"
    return b"".join(line + end for line in lines), input_file


@st.composite
def two_files(draw) -> List[Chunk]:
    """Lines cut in two files, each read by its own mapper, the second with some records of
    either again: the reducer merges the groups they share."""
    lines = draw(st.lists(st.one_of(records().map(str.encode), st.sampled_from(JUNK_LINES)), min_size=12,
                          max_size=40))
    cut = draw(st.integers(0, len(lines)))
    again = draw(st.lists(st.sampled_from(lines), min_size=4, max_size=12))  # records Firehose delivered twice
    return [one_file(part, draw(st.sampled_from(["lf", "crlf", "back to back", "spaced"])),
                     draw(st.sampled_from(ARRIVALS))) for part in (lines[:cut], lines[cut:] + again)]


def make_job(keys: List[str], time: Optional[str], per: Optional[str], value: Optional[str],
             words: Optional[str]) -> reference.Job:
    if time is None:
        per = None  # --per needs --time
    elif time == "@arrival" and per == "minute":
        per = "hour"  # the delivery hour has no minutes
    return reference.Job(tuple(keys), time, per, value, words)


JOBS = st.builds(
    make_job,
    st.lists(st.sampled_from(["k", "g.c", "arr.1", "k2"]), unique=True, max_size=2),
    st.sampled_from([None, "t", "w.t", "@arrival"]), st.sampled_from([None, "minute", "hour", "day", "month"]),
    st.sampled_from(["v", None, "m.v"]), st.sampled_from([None, "txt"]))


@settings(max_examples=40)
@given(JOBS, two_files())
def test_the_pair_computes_what_the_readme_promises(job, files):
    check(job, [chunk for chunk in files if chunk[0]] or files[:1])


PLAIN_TEXT = st.lists(st.one_of(st.text(st.sampled_from(WORDS_ALPHABET), max_size=20).map(str.encode),
                                st.sampled_from([b"caf\xe9 au lait", b"\xff"])), max_size=12)


@settings(max_examples=10)
@given(st.lists(st.tuples(PLAIN_TEXT, st.sampled_from([b"\n", b"\r\n", b"\r"])), min_size=2, max_size=2))
def test_plain_text_words_are_what_the_readme_promises(files):
    check(reference.Job(words=""), [(b"".join(line + end for line in lines), None) for lines, end in files])


# -- boundaries worked by hand --------------------------------------------------------------------

# (name, the --time field's JSON, its UTC minute): the README's 1e11 cut-off between epoch seconds
# and milliseconds, month ends (28, 29, 30 and 31 days; leap years by the 4, 100 and 400 rules),
# offsets that cross midnight, a month's end or a year's.
BOUNDARIES = [
    ("seconds under the cut-off", "99999999999", "5138-11-16T09:46"),
    ("seconds.999 under the cut-off", "99999999999.999", "5138-11-16T09:46"),
    ("milliseconds at the cut-off", "100000000000", "1973-03-03T09:46"),
    ("milliseconds at the cut-off, 1e11", "1e11", "1973-03-03T09:46"),
    ("milliseconds under 1e12", "999999999999", "2001-09-09T01:46"),
    ("milliseconds at 1e12", "1000000000000", "2001-09-09T01:46"),
    ("milliseconds of 2017-02-23T14:45", "1487861100000", "2017-02-23T14:45"),
    ("Feb 28 of 2019, last second", "1551398399", "2019-02-28T23:59"),
    ("Mar 1 of 2019, first second", "1551398400", "2019-03-01T00:00"),
    ("Feb 29 of 2020, first second", "1582934400", "2020-02-29T00:00"),
    ("Feb 29 of 2020, last millisecond", "1583020799999", "2020-02-29T23:59"),
    ("Mar 1 of 2020, first millisecond", "1583020800000", "2020-03-01T00:00"),
    ("Feb 29 of 2000, last second", "951868799", "2000-02-29T23:59"),
    ("Feb 28 of 1900, last second", "-2203891201", "1900-02-28T23:59"),
    ("Mar 1 of 1900, first second", "-2203891200", "1900-03-01T00:00"),
    ("Feb 28 of 2100, last second", "4107542399", "2100-02-28T23:59"),
    ("Mar 1 of 2100, first second", "4107542400", "2100-03-01T00:00"),
    ("Apr 30 of 2021, last second", "1619827199", "2021-04-30T23:59"),
    ("May 1 of 2021, first second", "1619827200", "2021-05-01T00:00"),
    ("Jan 31 of 2021, last second", "1612137599", "2021-01-31T23:59"),
    ("Dec 31 of 2021, last millisecond", "1640995199999", "2021-12-31T23:59"),
    ("Jan 1 of 2022, first second", "1640995200", "2022-01-01T00:00"),
    ("a second before the epoch", "-1", "1969-12-31T23:59"),
    ("+01:00 back over Mar 1 of 2021", '"2021-03-01T00:30:00+01:00"', "2021-02-28T23:30"),
    ("+05:30 back over Mar 1 of 2020", '"2020-03-01T05:00:00+05:30"', "2020-02-29T23:30"),
    ("-01:00 on over Feb 29 of 2020", '"2020-02-29T23:30:00-01:00"', "2020-03-01T00:30"),
    ("-0400 on over the year's end", '"2021-12-31T20:00:00-0400"', "2022-01-01T00:00"),
    ("+01:00 back over Apr 30", '"2021-05-01T00:59:59.999+01:00"', "2021-04-30T23:59"),
    ("+00:01 back to Feb 28 of 1900", '"1900-03-01T00:00:00+00:01"', "1900-02-28T23:59"),
    ("+00:01 back to Feb 29 of 2000", '"2000-03-01 00:00+00:01"', "2000-02-29T23:59"),
    ("Jul 31, a minute past midnight", '"2021-07-31T00:01Z"', "2021-07-31T00:01"),
    ("-2359 on over Jul 31", '"2021-07-31T00:01-2359"', "2021-08-01T00:00"),
    ("Feb 29 of 2000, by the 400 rule", '"2000-02-29T12:00:00Z"', "2000-02-29T12:00"),
    ("Jun 30, the last day", '"2021-06-30T23:59:59,999999999Z"', "2021-06-30T23:59"),
]
NOT_DATES = ['"2019-02-29T00:00:00Z"', '"1900-02-29T00:00:00Z"', '"2100-02-29 00:00"', '"2021-04-31T00:00:00Z"',
             '"2021-06-31T12:00"', '"2021-02-30T12:00"', '"2021-09-31T00:00+01:00"', '"2021-11-31T00:00Z"']


@pytest.mark.parametrize("per, width", [("minute", 16), ("day", 10), ("month", 7)])
def test_boundaries_land_in_the_buckets_worked_by_hand(per, width):
    lines = ['{"case": %s, "t": %s}' % (json_text(name), time) for name, time, _ in BOUNDARIES]
    lines += ['{"case": "not a date", "t": %s}' % time for time in NOT_DATES]
    rows, seen = run_pair(reference.Job(keys=("case",), time="t", per=per), [("\n".join(lines).encode(), None)])
    assert sorted(rows) == sorted("%s\t%s\t1" % (minute[:width], name) for name, _, minute in BOUNDARIES)
    assert seen["bad_time"] == len(NOT_DATES) and seen["records"] == len(BOUNDARIES) + len(NOT_DATES)


def test_partial_groups_of_two_mappers_merge_to_the_whole():
    """Each file's mapper writes its own partial group; the reducer's sum, min and max of them
    are those of all the records (worked by hand)."""
    first = b'{"k": "a", "v": 5}\n{"k": "a", "v": "-1.5"}\n{"k": "b"}\n'
    second = b'{"k": "a", "v": 3}\n{"k": "a", "v": 9}\n{"k": "b", "v": 2}\n{"k": "c", "v": "x"}\n'
    rows, seen = run_pair(reference.Job(keys=("k",), value="v"), [(first, None), (second, None)])
    assert rows == ["a\t4\t15.5\t-1.5\t9\t3.875", "b\t2\t2\t2\t2\t2", "c\t1\t0\t\t\t"]
    assert seen["records"] == 7 and seen["no_value"] == 2


def test_arrival_hours_at_month_ends():
    files = [(b'{"k": 1}\n{"k": 2}\n', "s3://b/2020/02/29/23/s-1-2020-02-29-23-59-59-x"),
             (b'{"k": 1}\n', "s3://b/2021/04/30/00/s-1-2021-04-30-00-00-00-y"),
             (b'{"k": 1}\n', "file:/data/1999/12/31/23/s-1-1999-12-31-23-10-00-z")]
    assert run_pair(reference.Job(time="@arrival", per="day"), files)[0] == [
        "1999-12-31\t1", "2020-02-29\t2", "2021-04-30\t1"]
    assert run_pair(reference.Job(time="@arrival", per="month"), files)[0] == ["1999-12\t1", "2020-02\t2", "2021-04\t1"]


def test_the_reference_calendar_is_the_standard_librarys():
    """The reference's own calendar, day by day over 1896-2104, against datetime's."""
    import datetime
    day = datetime.date(1896, 1, 1)
    number = reference.day_number(1896, 1, 1)
    assert number == (day - datetime.date(1970, 1, 1)).days
    while day.year < 2105:
        assert reference.date_of(number) == (day.year, day.month, day.day)
        day += datetime.timedelta(days=1)
        number += 1


def test_the_reference_against_the_readme_examples():
    """What the README and the hand-written pipe tests say, computed by the reference."""
    job = reference.Job(value="v")
    data = b'{"v": 0.1}\n{"v": 0.2}\n{"v": "0.3"}\n{"v": 12345678901234567890.123456789}\n{"v": -1e-3}\n'
    assert reference.run(job, [(data, None)])[0] == [
        "5\t12345678901234567890.722456789\t-0.001\t12345678901234567890.123456789\t2469135780246910000"]
    words = reference.Job(words="t", value="v")
    assert reference.run(words, [(b'{"t": "spam spam", "v": 10}', None)])[0] == ["spam\t2\t20\t10\t10\t10"]
    means = [reference.plain(reference.significant(reference.Fraction(text), 15))
             for text in ("0.1234567890123445", "0.1234567890123455", "2/3")]
    assert means == ["0.123456789012344", "0.123456789012346", "0.666666666666667"]
