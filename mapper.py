#!/usr/bin/env python3
"""firehose-mr mapper: Firehose JSON events on stdin, partial aggregates on stdout.

A Hadoop Streaming mapper (standard library only, Python 3.7+). It reads the objects
that Amazon Kinesis Data Firehose writes to S3, groups them by the job flags, counts
(and with --value sums) per group in memory, and writes one intermediate line per group:

    KEY <TAB> COUNT                          (count-only jobs)
    KEY <TAB> COUNT N SUM MIN MAX            (--value: N = records that had a value)

KEY is what Hadoop groups and partitions on (the bytes before the first TAB). It is the
reducer's output columns, each followed by a separator, encoded so that it holds no TAB,
LF or CR and sorts byte for byte like the output rows (see encode_key). reducer.py turns
these lines into the final rows; `reducer.py --combine` merges them into fewer lines.

Bad input is counted, never fatal: Hadoop counters go to stderr at the end as
`reporter:counter:firehose-mr,NAME,N` (records, malformed, invalid_utf8, bad_time, no_value,
no_text, gzip_data); run by hand, with stderr on a terminal, one line to read instead.
"""
from __future__ import annotations

import os
import sys


# ---------------------------------------------------------------------------------------
# A ^C from the first moment: one line and exit status 130, never a traceback.
# ---------------------------------------------------------------------------------------

INTERRUPTED = 130  # the exit status of a ^C, as a shell reports a command that SIGINT ended


def say_interrupted() -> None:
    """One line on stderr, if it can still be written (it may be closed, or its reader gone)."""
    if sys.stderr is not None:
        try:
            sys.stderr.write("mapper.py: interrupted\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


def interrupted_while_starting(kind: type, error: BaseException, trace: Any) -> None:
    """sys.excepthook of the program: a ^C while it starts (importing the modules below and
    compiling its patterns, before main() handles one) ends it as any other ^C does."""
    if not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)
        return
    try:
        say_interrupted()
    finally:
        os._exit(INTERRUPTED)


if __name__ == "__main__":  # first, before the imports that take a start-up's milliseconds
    sys.excepthook = interrupted_while_starting

import argparse  # noqa: E402  (each import below comes after the ^C handling above)
import collections  # noqa: E402
import datetime  # noqa: E402
import decimal  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import operator  # noqa: E402
import re  # noqa: E402
import zlib  # noqa: E402
from decimal import Decimal  # noqa: E402
if False:  # for readers and type checkers only: importing typing costs every task start-up
    from typing import Any, BinaryIO, Callable, Collection, Dict, Iterable, Iterator, List, Optional, Set, TextIO, Tuple

COUNTER_GROUP = "firehose-mr"
HADOOP_TASK_VARIABLE = "mapreduce_task_id"  # in the environment of every Hadoop (and run_local.sh) task
COUNTERS = ("records", "malformed", "invalid_utf8", "bad_time", "no_value", "no_text", "gzip_data")
MAX_GROUPS_IN_MEMORY = 50000  # flush partial aggregates beyond this many groups
WHOLE_LINE = object()  # --words with no field: the words of the whole line, read as plain text

# Sums are exact: no rounding at any size (values are kept within +-1e1000, see number_of).
EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN,
                        traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])


class UsageError(Exception):
    """A bad combination of flags or environment: one line on stderr, exit 2."""


# ---------------------------------------------------------------------------------------
# Reading Firehose objects: Hadoop's lines, then the JSON values in each line.
# ---------------------------------------------------------------------------------------

class Counters:
    """The Hadoop counters this job reports (group firehose-mr)."""

    def __init__(self) -> None:
        self.values = dict.fromkeys(COUNTERS, 0)

    def add(self, name: str, amount: int = 1) -> None:
        self.values[name] += amount

    def add_gzip_data(self, lines: int) -> None:
        """Lines that hold gzip's magic bytes: said on stderr the first time, and counted."""
        if not self.values["gzip_data"]:
            sys.stderr.write(GZIP_DATA_WARNING)
        self.values["gzip_data"] += lines

    def report(self, err: TextIO, for_a_person: bool = False) -> None:
        """Hadoop's counter lines, or with for_a_person one line that reads as a sentence."""
        if for_a_person:
            err.write(self.summary())
        else:
            for name in COUNTERS:
                err.write("reporter:counter:%s,%s,%d\n" % (COUNTER_GROUP, name, self.values[name]))
        err.flush()

    def summary(self) -> str:
        """`mapper.py: 60 records; skipped 0 malformed, 0 bad_time; 1 line with bad UTF-8 kept`:
        the records, what was skipped, and each other counter that is not 0."""
        values = self.values
        text = "mapper.py: %s; skipped %d malformed, %d bad_time" % (
            amount(values["records"], "record", "records"), values["malformed"], values["bad_time"])
        for name, one, many in SUMMARY_ASIDES:
            if values[name]:
                text += "; " + amount(values[name], one, many)
        return text + "\n"


SUMMARY_ASIDES = (  # counter, what one of it is, what several are
    ("invalid_utf8", "line with bad UTF-8 kept", "lines with bad UTF-8 kept"),
    ("no_value", "record without a --value number", "records without a --value number"),
    ("no_text", "record without --words text", "records without --words text"),
    ("gzip_data", "line of gzip data", "lines of gzip data"),
)
COUNTERS_VARIABLE = "FIREHOSE_MR_COUNTERS"  # =raw: the counter lines, on a terminal too


def amount(number: int, one: str, many: str) -> str:
    return "%d %s" % (number, one if number == 1 else many)


def counters_for_a_person(environ: Dict[str, str], err: TextIO) -> bool:
    """Whether the counters are written as one line to read: stderr is a terminal, this is no
    Hadoop task (whose counter lines Hadoop reads), and FIREHOSE_MR_COUNTERS=raw does not ask
    for the counter lines."""
    if environ.get(HADOOP_TASK_VARIABLE) or environ.get(COUNTERS_VARIABLE) == "raw":
        return False
    try:
        return err.isatty()
    except (AttributeError, ValueError):  # no isatty(), or closed
        return False


GZIP_MAGIC = b"\x1f\x8b"  # how every gzip stream begins; never in JSON or UTF-8 text
GZIP_FIRST_BYTE = b"\x1f"  # looked for first: one byte is found at memchr's speed, 80 times
# as fast as two in CPython 3.11 (1 against 88 microseconds a block, 7 % of the mapper's time)
GZIP_DATA_WARNING = ("mapper.py: the input holds gzip data that was read as text (a compressed file whose "
                     "name does not end in .gz?): its records cannot be read whole; lines with it are "
                     "counted as gzip_data\n")
BLOCK_SIZE = 32 * 1024  # bytes read at a time: as fast as 64-256 KiB, and a mapper reading
# gigabytes keeps a flat peak RSS (+5 % from 200 MB to 1 GB; 64 KiB blocks: +15 %, glibc heap)


def hadoop_lines(stdin: BinaryIO, counters: Optional[Counters] = None,
                 in_hadoop_task: bool = False) -> Iterator[List[bytes]]:
    """stdin cut into lines the way Hadoop's LineReader cuts them: at LF, CRLF or a lone CR,
    without their line ends. gzip on stdin (a user's `cat x.gz | mapper.py`) is
    decompressed; under Hadoop it never is, Hadoop did it.

    Gzip data read as text. Hadoop decompresses a file whose name ends in .gz and reads any
    other as text, cut into lines, a gzip file too: its bytes then reach the mapper in lines,
    its records lost. So gzip's magic bytes in a line (after the start of stdin), or at the
    start of stdin in a Hadoop task, are counted in `counters` (gzip_data, once per line that
    holds them) and said once on stderr. The check is one search of each block read.

    The lines come in batches, one list per block read, so that the loops over them are
    plain loops over lists. A block is cut after its last LF and the rest carried over to
    the next one: no CRLF is ever split (its CR and LF land in the same piece), and
    bytes.splitlines() breaks exactly at LF, CRLF and a lone CR, like LineReader. A piece
    with no CR in it (nearly every one) is split at LF by bytes.split(), which tests each byte
    for one line end instead of two (2 % of the mapper's instructions)."""
    if hasattr(stdin, "peek") and stdin.peek(2)[:2] == GZIP_MAGIC:
        if in_hadoop_task and counters is not None:  # Hadoop read it as text: cut at its line ends
            counters.add_gzip_data(1)
        import gzip  # here, not at the top: only a local pipe of a .gz file needs it
        stdin = gzip.GzipFile(fileobj=stdin, mode="rb")  # type: ignore[assignment]
    read = stdin.read1 if hasattr(stdin, "read1") else stdin.read  # read1: what one read gave
    unended = []  # type: List[bytes]  # the pieces of the last line so far, read but not ended
    while True:
        block = read(BLOCK_SIZE)
        if not block:
            break
        cut = block.rfind(b"\n") + 1
        if cut == 0:  # no LF: a long line, or lines ended by lone CRs only
            unended.append(block)
            continue
        if unended:
            unended.append(block[:cut])
            text = b"".join(unended)
        else:
            text = block[:cut]
        unended = [block[cut:]] if cut < len(block) else []
        if b"\r" in text:
            lines = text.splitlines()
        else:
            lines = text.split(b"\n")
            lines.pop()  # the empty piece after the last LF
        if GZIP_FIRST_BYTE in text and GZIP_MAGIC in text and counters is not None:
            counters.add_gzip_data(sum(GZIP_MAGIC in line for line in lines))
        del text  # not kept while the lines are read: a Firehose object may be one long line
        yield lines
    if unended:  # the last line, with no LF
        lines = b"".join(unended).splitlines()
        holding_gzip = sum(GZIP_MAGIC in line for line in lines)
        if holding_gzip and counters is not None:
            counters.add_gzip_data(holding_gzip)
        yield lines


def decoded(line: bytes, counters: Counters) -> str:
    """A line as text; bad UTF-8 bytes become U+FFFD (and the line is counted)."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return repaired(line, counters)


def repaired(line: bytes, counters: Counters) -> str:
    """A line that is not UTF-8, counted, with U+FFFD for its bad bytes."""
    counters.add("invalid_utf8")
    return line.decode("utf-8", "replace")


_JSON_SCAN = json.JSONDecoder(parse_float=Decimal).scan_once  # exact decimals, no floats
# What decoding a value can raise: StopIteration (no value starts there), JSONDecodeError (a
# ValueError with .pos), ValueError (an integer of over 4300 digits), RecursionError (nested too
# deep), InvalidOperation (an exponent beyond 10**18, which Decimal cannot hold).
_JSON_ERRORS = (StopIteration, ValueError, RecursionError, decimal.InvalidOperation)
_SKIP_SPACE = re.compile(r"[ \t\n\r]*").match
_BOM = "\ufeff"


def firehose_records(batches: Iterable[List[bytes]], counters: Counters) -> Iterator[dict]:
    """Every JSON object in every line: one per line (NDJSON), or several back to back
    with no delimiter (`{..}{..}`, Firehose's default). A value that is not an object is
    counted as malformed and passed over; after a decode error, reading resumes at the next
    record of the line that decodes (next_record_start)."""
    scan = _JSON_SCAN
    for lines in batches:
        for raw in lines:
            try:
                line = raw.decode()  # UTF-8 (decoded(), inlined: this runs once per line)
            except UnicodeDecodeError:
                line = repaired(raw, counters)
            try:
                value, end = scan(line, 0)
            except _JSON_ERRORS:  # blank, BOM, leading space, or broken: the careful path
                yield from _records_from(line, 0, counters)
                continue
            if value.__class__ is dict:
                yield value
            else:
                counters.add("malformed")
            if end != len(line):  # more after the first value: spaces, or more values
                yield from _records_from(line, end, counters)


def _records_from(line: str, start: int, counters: Counters) -> Iterator[dict]:
    index = start
    while True:
        index = _SKIP_SPACE(line, index).end()
        if line.startswith(_BOM, index):
            index = _SKIP_SPACE(line, index + 1).end()
        if index >= len(line):
            return
        try:
            value, index = _JSON_SCAN(line, index)
        except _JSON_ERRORS as error:
            counters.add("malformed")
            if line.__class__ is str:
                line = _LineWithErrors(line)
            resume = next_record_start(line, index, error)
            if resume is None:
                return
            index = resume
            continue
        if value.__class__ is dict:
            yield value
        else:
            counters.add("malformed")


class _LineWithErrors(str):
    """A line read on past a decode error. A JSONDecodeError counts the line ends before its
    position (for its lineno and colno): with a plain str that costs O(position) per error, and a
    long line with many bad records would take quadratic time. A Hadoop line has no line end."""

    def count(self, *args: Any) -> int:
        return 0

    def rfind(self, *args: Any) -> int:
        return -1


_RECORD_START = re.compile(r'\{[ \t\n\r]*["}]').search  # where an object can begin: `{"` or `{}`
_INSIDE_A_VALUE = frozenset(",:}]")  # what can follow a value nested in an object or an array


def next_record_start(line: str, start: int, error: BaseException) -> Optional[int]:
    """Where reading resumes after the value at `start` failed to decode, so that a bad record
    in Firehose's back-to-back format costs that record, not the rest of its line (a whole
    object, often): the first `{"` or `{}`, from where decoding failed on, whose object decodes
    and is not followed by `,` `:` `}` or `]` (that would be an object nested in the broken one).
    None if there is none. The search only moves forward: a candidate that fails or is nested
    is passed over whole, so a line is scanned about once whatever it holds."""
    search = _resume_after(line, start, error)
    while True:
        found = _RECORD_START(line, search)
        if found is None:
            return None
        candidate = found.start()
        try:
            end = _JSON_SCAN(line, candidate)[1]
        except _JSON_ERRORS as failure:
            search = _resume_after(line, candidate, failure)
            continue
        following = _SKIP_SPACE(line, end).end()
        if following == len(line) or line[following] not in _INSIDE_A_VALUE:
            return candidate
        search = end


def _resume_after(line: str, start: int, error: BaseException, numbers_read: bool = True) -> int:
    """Where to look for the next record after the value at `start` failed with `error`
    (numbers_read: in a scan that reads numbers, see _SCAN_WITHOUT_NUMBERS)."""
    if isinstance(error, RecursionError):  # every `{` up to the first `}` opens a deeper level
        close = line.find("}", start)
        return len(line) if close < 0 else close
    position = error.value if isinstance(error, StopIteration) else getattr(error, "pos", None)
    if position is None and numbers_read:  # a number no Decimal or int holds: the error says not where
        try:
            return _SCAN_WITHOUT_NUMBERS(line, start)[1]
        except _JSON_ERRORS as failure:  # broken further on as well
            return _resume_after(line, start, failure, numbers_read=False)
    return max(position or 0, start + 1)


def _ignore_number(text: str) -> None:
    return None


# The decoder's scan with numbers left unread, for a value that failed on one of its numbers:
# it finds where that value ends, so that it is passed over whole. Resuming one character on
# instead would read each object nested in it, and fail on the same number, once for every
# level of nesting above the number: a line of deeply nested records, hundreds of times.
_SCAN_WITHOUT_NUMBERS = json.JSONDecoder(parse_float=_ignore_number, parse_int=_ignore_number).scan_once


def plain_lines(batches: Iterable[List[bytes]], counters: Counters) -> Iterator[str]:
    """Lines of plain text (for --words without a field), bad bytes replaced."""
    for lines in batches:
        for line in lines:
            yield decoded(line, counters)


# ---------------------------------------------------------------------------------------
# Fields: dotted paths into a record.
# ---------------------------------------------------------------------------------------

Getter = "Callable[[dict], Any]"  # a string: typing is not imported at run time


def simple_path(path: str) -> Optional[Tuple[str, Optional[str]]]:
    """(name, None) for a top-level field, (outer, inner) for a field of a top-level object
    (`geo.country`), None for any other path: deeper, or with an array index as second name."""
    names = path.split(".")
    if len(names) == 1:
        return path, None
    if len(names) == 2 and not names[1].isdigit():
        return names[0], names[1]
    return None


def field_getter(path: str) -> Getter:
    """A function that reads `group.group_country` or `items.0.sku` from a record;
    a missing field (or a path through a non-container) gives None."""
    names = path.split(".")
    if not path or "" in names:
        raise UsageError("bad field path %r: use names joined by dots, like group.group_country" % path)
    if any(name != name.strip() for name in names):
        raise UsageError("bad field path %r: a name starts or ends with a space (write a list of paths "
                         "without spaces: --key a,b)" % path)
    simple = simple_path(path)
    if simple is not None and simple[1] is None:
        return operator.methodcaller("get", path)
    if simple is not None:  # the common `group.group_country`, unrolled
        outer, inner = simple

        def get_inner(record: dict) -> Any:
            value = record.get(outer)
            return value.get(inner) if value.__class__ is dict else None
        return get_inner
    steps = [(name, int(name) if name.isdigit() and name.isascii() else None) for name in names]

    def get(record: dict) -> Any:
        value = record  # type: Any
        for name, index in steps:
            if value.__class__ is dict:
                value = value.get(name)
            elif value.__class__ is list and index is not None and index < len(value):
                value = value[index]
            else:
                return None
        return value
    return get


# ---------------------------------------------------------------------------------------
# Key columns: how a field value is written in the output.
# ---------------------------------------------------------------------------------------
# In memory a key column stays the string it is (escaped only when written), and any other
# value is rendered at once and kept as a 1-tuple, which never equals a string.

_TEXT_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")


def column(value: Any) -> Any:
    """The in-memory form of a key column."""
    return value if value.__class__ is str else (compact_json(value),)


def render(column: Any) -> str:
    """A key column as written: strings as they are, with \\ TAB LF CR escaped as
    \\\\ \\t \\n \\r; anything else (already rendered) as compact JSON."""
    if column.__class__ is not str:
        return column[0]
    if _NEEDS_ESCAPE.search(column) is None:
        return column
    return _NEEDS_ESCAPE.sub(lambda m: _TEXT_ESCAPES[m.group()], column)


def compact_json(value: Any) -> str:
    """JSON with no spaces, object members sorted, numbers in plain decimal notation
    without trailing zeros (so 1.50 and 1.5 are one key); null for a missing field.
    Written with a stack, not recursion: a key field may nest as deep as the decoder allows."""
    parts = []  # type: List[str]
    todo = [value]  # what is left to write, last first: values, and _Text for text as it is
    while todo:
        item = todo.pop()
        kind = item.__class__
        if kind is _Text:
            parts.append(item)
        elif kind is dict:
            todo.append(_Text("}"))
            members = sorted(item.items())
            for index in range(len(members) - 1, -1, -1):
                name, member = members[index]
                todo.append(member)
                todo.append(_Text(("," if index else "") + json.dumps(name, ensure_ascii=False) + ":"))
            todo.append(_Text("{"))
        elif kind is list:
            todo.append(_Text("]"))
            for index in range(len(item) - 1, -1, -1):
                todo.append(item[index])
                if index:
                    todo.append(_Text(","))
            todo.append(_Text("["))
        else:
            parts.append(scalar_json(item))
    return "".join(parts)


class _Text(str):
    """Text that compact_json writes as it is (a str would be a JSON string to quote)."""


def scalar_json(value: Any) -> str:
    kind = value.__class__
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is Decimal:
        return decimal_text(value)
    return json.dumps(value, ensure_ascii=False)  # strings inside containers; NaN, Infinity


def decimal_text(number: Decimal) -> str:
    """Plain notation, no trailing zeros, no negative zero: 1.50 -> 1.5, 2E+3 -> 2000."""
    if not number.is_finite():
        return str(number)
    if number.is_zero():
        return "0"
    if not -1000 <= number.adjusted() <= 1000:
        return str(number.normalize(EXACT))
    return format(number.normalize(EXACT), "f")


# The intermediate key: the row's key columns, each followed by TAB, with every character
# below U+000E replaced in an order-preserving way: U+0000-U+0008 -> \x01 + chr(0x40+c),
# TAB -> \x02, U+000A-U+000D -> \x03 + chr(0x40+c). No TAB, LF or CR remain, and keys sort
# byte for byte exactly like the output rows they stand for. reducer.py decodes it.
_KEY_CODE = {c: ("\x01" if c < 9 else "\x03") + chr(0x40 + c) for c in range(14) if c != 9}
_KEY_CODE[9] = "\x02"
_NEEDS_KEY_CODE = re.compile("[\x00-\x08\x0a-\x0d]")


def encode_key(columns: Iterable[str]) -> str:
    text = "".join(column + "\t" for column in columns)
    return text.translate(_KEY_CODE) if _NEEDS_KEY_CODE.search(text) else text.replace("\t", "\x02")


# ---------------------------------------------------------------------------------------
# Time buckets.
# ---------------------------------------------------------------------------------------

PERIODS = ("minute", "hour", "day", "month")
_PERIOD_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "month": 86400}
_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_MS_FROM = 100000000000  # numbers at or above 1e11 are epoch milliseconds
_ISO_8601 = re.compile(  # groups: date, hour, minute, offset
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[Tt ]([0-9]{2}):([0-9]{2})(?::(?:[0-5][0-9]|60)(?:[.,][0-9]+)?)?)?"
    r"([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?\Z").match
_ISO_8601_UTC_END = re.compile(  # the same pattern's end, from the seconds on, for a UTC time
    r"(?::(?:[0-5][0-9]|60)(?:[.,][0-9]+)?)?[Zz]?\Z").match
_ISO_SECONDS = frozenset(":%02d" % second for second in range(61))  # ":00" to ":60", as _ISO_8601 reads them
# Tails known valid from the start: none, Z, and milliseconds with Z (what most producers write),
# so that a map task does not learn them one record at a time (a 1 MB task would learn ~900).
_COMMON_TAILS = frozenset(["", "Z"] + [".%03dZ" % millisecond for millisecond in range(1000)])
_UTC = frozenset([None, "Z", "z"])  # offsets of a UTC time (none: naive = UTC)
_ARRIVAL_FOLDERS = re.compile(r"/([0-9]{4})/([0-9]{2})/([0-9]{2})/([0-9]{2})/[^/]*\Z")
_ARRIVAL_NAME = re.compile(r"-([0-9]{4})-([0-9]{2})-([0-9]{2})-([0-9]{2})-[0-9]{2}-[0-9]{2}-[^/]*\Z")


def bucket_text(moment: datetime.datetime, period: str) -> str:
    text = "%04d-%02d-%02dT%02d:%02d" % (moment.year, moment.month, moment.day, moment.hour, moment.minute)
    return {"minute": text, "hour": text[:14] + "00", "day": text[:10], "month": text[:7]}[period]


class TimeBuckets:
    """The UTC bucket (`2017-02-27T14:00` for --per hour) of a time field's value:
    epoch seconds, epoch milliseconds, or an ISO 8601 string; None if unreadable.
    Buckets are cached per UTC minute of an ISO time and per epoch unit.

    The quick check. Most times are UTC ISO strings with seconds, `2017-02-27T14:03:09.123Z`,
    and the minute `2017-02-27T14:03` decides the bucket: the rest only has to be valid. So
    a value whose minute (its first 16 characters) was read before, whose next three are
    ":SS" (":00" to ":60") and whose tail after them (here ".123Z") is in `tails` is valid
    and has that minute's bucket: three look-ups instead of a regex. Anything else takes the
    full path, of_value(), which learns the minute and the tail for the next time."""

    CACHE_LIMIT = 20000

    def __init__(self, period: str) -> None:
        self.period = period
        self.unit = _PERIOD_SECONDS[period]
        self._by_unit = {}  # type: Dict[int, Optional[str]]
        self._by_utc_minute = {}  # type: Dict[str, str]  # "YYYY-MM-DDTHH:MM" -> bucket
        self.tails = set(_COMMON_TAILS)  # type: Set[str]  # what follows ":SS" in valid UTC times

    def of_field(self, time_of: Callable[[dict], Any]) -> Callable[[dict], Optional[str]]:
        """record -> the bucket of its time field, with the quick check done here."""
        minutes, iso_seconds, tails, of_value = self._by_utc_minute, _ISO_SECONDS, self.tails, self.of_value

        def bucket(record: dict) -> Optional[str]:
            value = time_of(record)
            known = minutes.get(value[:16]) if value.__class__ is str else None
            if known is None or value[16:19] not in iso_seconds or value[19:] not in tails:
                return of_value(value)
            return known
        return bucket

    def of_value(self, value: Any) -> Optional[str]:
        """The bucket of any time value, the full way (the quick check failed)."""
        if value.__class__ is not str:
            return self.of_epoch(value)
        known = self._by_utc_minute.get(value[:16])
        if known is not None and _ISO_8601_UTC_END(value, 16) is not None:
            self._learn(value)
            return known
        return self.of_text(value)

    def of_text(self, value: str) -> Optional[str]:
        match = _ISO_8601(value)
        if match is None:
            return None
        date, hour, minute, offset = match.group(1, 2, 3, 4)
        bucket = self._bucket_of(date, hour, minute, offset)
        if bucket is not None and hour is not None and offset in _UTC:
            self._remember(self._by_utc_minute, value[:16], bucket)
            self._learn(value)
        return bucket

    def _learn(self, value: str) -> None:
        """What the quick check needs from a valid UTC time with hour and minute (its
        minute is remembered by of_text): if it has seconds (value[16:19] is ":SS"; then
        what follows is a fraction and a Z, or less), its tail. Once full, `tails` stays as
        it is (times with microseconds would never stop adding): the others take the full path."""
        if value[16:19] in _ISO_SECONDS and len(self.tails) < self.CACHE_LIMIT:
            self.tails.add(value[19:])

    def of_epoch(self, number: Any) -> Optional[str]:
        kind = number.__class__
        if kind is Decimal:
            if not number.is_finite() or number.adjusted() > 20:
                return None
            seconds = math.floor(number.scaleb(-3) if number >= _EPOCH_MS_FROM else number)
        elif kind is int:
            seconds = number // 1000 if number >= _EPOCH_MS_FROM else number
        else:
            return None
        unit_index = seconds // self.unit
        bucket = self._by_unit.get(unit_index, "")
        if bucket == "":
            try:
                bucket = bucket_text(_EPOCH + datetime.timedelta(seconds=unit_index * self.unit), self.period)
            except (OverflowError, ValueError):
                bucket = None
            self._remember(self._by_unit, unit_index, bucket)
        return bucket

    def _remember(self, cache: Dict[Any, Optional[str]], key: Any, bucket: Optional[str]) -> None:
        if len(cache) >= self.CACHE_LIMIT:
            cache.clear()
        cache[key] = bucket

    def _bucket_of(self, date: str, hour: Optional[str], minute: Optional[str],
                   offset: Optional[str]) -> Optional[str]:
        try:
            moment = datetime.datetime(int(date[:4]), int(date[5:7]), int(date[8:10]),
                                       int(hour or 0), int(minute or 0))
            if offset and offset not in "Zz":
                digits = offset[1:].replace(":", "")
                hours, minutes = int(digits[:2]), int(digits[2:] or 0)
                if hours > 23 or minutes > 59:
                    return None
                shift = datetime.timedelta(hours=hours, minutes=minutes)
                moment = moment - shift if offset[0] == "+" else moment + shift
            return bucket_text(moment, self.period)
        except (OverflowError, ValueError):
            return None


def arrival_bucket(environ: Dict[str, str], period: str) -> Optional[str]:
    """The Firehose delivery hour of the file this map task reads, from its path:
    `.../YYYY/MM/DD/HH/<object>`, else the time in a Firehose object name."""
    path = environ.get("mapreduce_map_input_file") or environ.get("map_input_file")
    if not path:
        raise UsageError("--time @arrival takes the delivery hour from the input file's path, which "
                         "Hadoop (and run_local.sh, for a file) passes in mapreduce_map_input_file: "
                         "give the file itself, or set mapreduce_map_input_file=PATH for a pipe")
    match = _ARRIVAL_FOLDERS.search(path) or _ARRIVAL_NAME.search(path)
    if match is None:
        return None
    year, month, day, hour = (int(part) for part in match.groups())
    try:
        return bucket_text(datetime.datetime(year, month, day, hour), period)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------
# Values: exact decimals.
# ---------------------------------------------------------------------------------------

_NUMERIC_TEXT = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*\Z")


def number_of(value: Any) -> Optional[Decimal]:
    """The exact decimal of a JSON number or numeric string; None for anything else
    (booleans, non-numeric text, NaN/Infinity, magnitudes beyond 1e+-1000)."""
    kind = value.__class__
    if kind is Decimal:
        number = value
    elif kind is int:
        number = Decimal(value)
    elif kind is str and _NUMERIC_TEXT.match(value):
        try:
            number = Decimal(value.strip())
        except decimal.InvalidOperation:  # an exponent beyond 10**18
            return None
    else:
        return None
    if not number.is_finite() or not -1000 <= number.adjusted() <= 1000:
        return None
    return number


# ---------------------------------------------------------------------------------------
# The job: which groups a record adds to.
# ---------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")  # word-count words: \w+ runs of the lower-cased text


class Job:
    """What the flags ask for: the group key of a record (a tuple of key columns: time
    bucket, --key fields), and with --words one key per word, with --value a number."""

    def __init__(self, args: argparse.Namespace, environ: Dict[str, str]) -> None:
        self.in_hadoop_task = bool(environ.get(HADOOP_TASK_VARIABLE))
        self.census = args.key is None and args.words is None and args.time is None and args.value is None
        self.plain_text = args.words is WHOLE_LINE
        self.key_paths = args.key.split(",") if args.key is not None else []
        self.key_fields = [field_getter(path) for path in self.key_paths]
        self.value = field_getter(args.value) if args.value is not None else None
        self.words = field_getter(args.words) if args.words is not None and not self.plain_text else None
        self.time_path = args.time if args.time != "@arrival" else None  # a field, or None
        self.times = TimeBuckets(args.per) if self.time_path is not None else None
        self.bucket = self._bucket_function(args, environ)
        self.key = self._key_function()  # record -> its group key; None: unreadable time

    def _bucket_function(self, args: argparse.Namespace, environ: Dict[str, str]) -> Optional[Callable[[Any], Optional[str]]]:
        """record -> its time bucket (None: unreadable), or None when there is no --time."""
        if args.time is None:
            return None
        if args.time == "@arrival":
            arrival = arrival_bucket(environ, args.per)
            if arrival is None:
                sys.stderr.write("mapper.py: no Firehose delivery hour (/YYYY/MM/DD/HH/) in the input "
                                 "path: its records count as bad_time\n")
            return lambda record: arrival
        return self.times.of_field(field_getter(args.time))  # type: ignore[union-attr]

    def _key_function(self) -> Callable[[Optional[dict]], Optional[Tuple[Any, ...]]]:
        """record -> (bucket, column, ...) or (column, ...); None when its time is unreadable.
        The common shapes (see unrolled_key) get a function of their own."""
        paths = [simple_path(path) for path in self.key_paths]
        time_path = simple_path(self.time_path) if self.time_path is not None else None
        time_is_simple = self.bucket is None or time_path is not None  # no --time, or a simple --time field
        if len(paths) in (1, 2) and None not in paths and time_is_simple:
            return unrolled_key(self.times, time_path, *paths)  # type: ignore[arg-type]
        return self.general_key()

    def general_key(self) -> Callable[[Optional[dict]], Optional[Tuple[Any, ...]]]:
        """The key function for any flags, from the field getters and the bucket function."""
        getters, bucket_of = self.key_fields, self.bucket
        if not getters:  # --words FIELD alone, --time alone
            columns_of = lambda record: ()  # noqa: E731
        elif len(getters) == 1:
            first, = getters
            columns_of = lambda record: (column(first(record)),)  # noqa: E731
        elif len(getters) == 2:
            first, second = getters
            columns_of = lambda record: (column(first(record)), column(second(record)))  # noqa: E731
        else:
            columns_of = lambda record: tuple([column(get(record)) for get in getters])  # noqa: E731
        if bucket_of is None:
            return columns_of

        def key(record: Optional[dict]) -> Optional[Tuple[Any, ...]]:
            bucket = bucket_of(record)  # type: ignore[misc]
            return None if bucket is None else (bucket,) + columns_of(record)
        return key


SimplePath = "Tuple[str, Optional[str]]"  # (name, None) or (outer, inner): see simple_path


def unrolled_key(times: Optional[TimeBuckets], time_path: Optional[SimplePath], first_path: SimplePath,
                 second_path: Optional[SimplePath] = None) -> Callable[[dict], Optional[Tuple[Any, ...]]]:
    """The key function of the most common jobs, with everything it does written out in one
    function: an optional --time field, one or two --key fields, each of them a top-level
    field or a field of a top-level object (`--time time --key type,geo.country`).

    It does what general_key() does (the field getters, the time bucket's quick check, and
    column() for each key column) without the six Python calls that takes: it runs once
    per record, and written out it costs half as much (measured on the benchmark's events).
    The field reads and the quick check are the same code as field_getter()'s and
    TimeBuckets.of_field()'s; tests/test_pair_units.py checks that both ways agree."""
    time_outer, time_inner = time_path or (None, None)
    first_outer, first_inner = first_path
    second_outer, second_inner = second_path or (None, None)
    minutes = tails = of_value = None  # type: Any
    iso_seconds = _ISO_SECONDS
    if times is not None:
        minutes, tails, of_value = times._by_utc_minute, times.tails, times.of_value

    def key(record: dict) -> Optional[Tuple[Any, ...]]:
        if time_outer is not None:
            moment = record.get(time_outer)
            if time_inner is not None:
                moment = moment.get(time_inner) if moment.__class__ is dict else None
            bucket = minutes.get(moment[:16]) if moment.__class__ is str else None  # TimeBuckets' quick check
            if bucket is None or moment[16:19] not in iso_seconds or moment[19:] not in tails:
                bucket = of_value(moment)  # type: ignore[misc]
                if bucket is None:
                    return None
        first = record.get(first_outer)
        if first_inner is not None:
            first = first.get(first_inner) if first.__class__ is dict else None
        if first.__class__ is not str:  # column(), inlined
            first = (compact_json(first),)
        if second_outer is None:
            return (bucket, first) if time_outer is not None else (first,)
        second = record.get(second_outer)
        if second_inner is not None:
            second = second.get(second_inner) if second.__class__ is dict else None
        if second.__class__ is not str:
            second = (compact_json(second),)
        return (bucket, first, second) if time_outer is not None else (first, second)
    return key


# ---------------------------------------------------------------------------------------
# Aggregation in memory, written out as intermediate lines.
# ---------------------------------------------------------------------------------------

# Counter.update's loop, in C (with a Python fallback in collections): counts[key] += 1 for
# each key of an iterable, starting at 1. Private, but in every Python 3 since 3.2.
_count_elements = collections._count_elements  # type: ignore[attr-defined]


class Groups:
    """Partial aggregates per group key: a count, or [count, n, sum, min, max] with
    --value. Written out (and forgotten) when there are too many, and at the end."""

    def __init__(self, out: BinaryIO, with_values: bool) -> None:
        self.out = out
        self.with_values = with_values
        self.table = {}  # type: Dict[Any, Any]

    def new_totals(self, key: Any) -> List[Any]:
        if len(self.table) >= MAX_GROUPS_IN_MEMORY:
            self.flush()
        totals = self.table[key] = [0, 0, Decimal(0), None, None]
        return totals

    def count(self, key: Any) -> None:
        table = self.table
        if key in table:
            table[key] += 1
        else:
            if len(table) >= MAX_GROUPS_IN_MEMORY:
                self.flush()
            table[key] = 1

    def count_each(self, keys: Collection[Any]) -> None:
        """count() each of keys (a list, or a record's field names), in order. When no flush
        can fall among them (count() flushes only before a new key, at the limit), the loop
        behind collections.Counter.update does it in C, several times faster."""
        if len(self.table) + len(keys) <= MAX_GROUPS_IN_MEMORY:
            _count_elements(self.table, keys)
        else:
            for key in keys:
                self.count(key)

    def flush(self) -> None:
        merged = {}  # type: Dict[str, Any]  # keys that render alike ("1" and 1) meet here
        for key, totals in self.table.items():
            encoded = encode_key([render(key)] if key.__class__ is str else [render(c) for c in key])
            if encoded in merged:
                merged[encoded] = merge_totals(merged[encoded], totals)
            else:
                merged[encoded] = totals
        lines = [key + "\t" + intermediate_value(totals) + "\n" for key, totals in merged.items()]
        self.out.write("".join(lines).encode("utf-8", "backslashreplace"))
        self.table.clear()


def merge_totals(a: Any, b: Any) -> Any:
    if a.__class__ is int:
        return a + b
    low = b[3] if a[3] is None or (b[3] is not None and b[3] < a[3]) else a[3]
    high = b[4] if a[4] is None or (b[4] is not None and b[4] > a[4]) else a[4]
    return [a[0] + b[0], a[1] + b[1], a[2] + b[2], low, high]


def intermediate_value(totals: Any) -> str:
    if totals.__class__ is int:
        return str(totals)
    count, n, total, low, high = totals
    return "%d\t%d\t%s\t%s\t%s" % (count, n, total, "" if low is None else low, "" if high is None else high)


def aggregate(job: Job, batches: Iterable[List[bytes]], groups: Groups, counters: Counters) -> None:
    """Feed every record (or plain-text line) to its groups: the per-record hot path,
    one loop per kind of job, with the names it uses bound locally."""
    if job.plain_text:
        count_words_of_lines(job.key(None), plain_lines(batches, counters), groups, counters)
    elif job.census:
        count_fields(firehose_records(batches, counters), groups, counters)
    elif job.value is not None and job.words is None:
        aggregate_values(job, firehose_records(batches, counters), groups, counters)
    else:
        count_keys(job, firehose_records(batches, counters), groups, counters)


def count_words_of_lines(prefix: Optional[Tuple[Any, ...]], lines: Iterable[str], groups: Groups,
                         counters: Counters) -> None:
    """Plain-text word count; prefix is the @arrival bucket, if any (None: unknown)."""
    seen = 0
    count_each, findall = groups.count_each, _WORD.findall
    try:
        for line in lines:
            seen += 1
            if prefix is None:
                continue
            words = findall(line.lower())
            count_each([prefix + (word,) for word in words] if prefix else words)
    finally:
        counters.add("records", seen)
        if prefix is None:
            counters.add("bad_time", seen)


def count_fields(records: Iterable[dict], groups: Groups, counters: Counters) -> None:
    """The census: how many records carry each top-level field."""
    seen = 0
    count_each = groups.count_each
    try:
        for record in records:
            seen += 1
            count_each(record)
    finally:
        counters.add("records", seen)


def count_keys(job: Job, records: Iterable[dict], groups: Groups, counters: Counters) -> None:
    """Count per key, or per key and word with --words (and then maybe with --value)."""
    key_of, text_of, value_of = job.key, job.words, job.value
    table, count, count_each, findall = groups.table, groups.count, groups.count_each, _WORD.findall
    seen = no_time = no_value = no_text = 0
    try:
        for record in records:
            seen += 1
            key = key_of(record)
            if key is None:
                no_time += 1
                continue
            if text_of is None:
                if key in table:
                    table[key] += 1
                else:
                    count(key)
                continue
            text = text_of(record)
            if text.__class__ is str:
                words = findall(text.lower())
            else:  # no such field, or a number, an object...: no words to count, and said so
                no_text += 1
                words = []
            keys = [key + (word,) for word in words] if key else words
            if value_of is not None:
                number = number_of(value_of(record))
                no_value += number is None
                for word_key in keys:
                    add_number(groups, word_key, number)
                continue
            count_each(keys)
    finally:
        counters.add("records", seen)
        counters.add("bad_time", no_time)
        counters.add("no_value", no_value)
        counters.add("no_text", no_text)


def add_number(groups: Groups, key: Any, number: Optional[Decimal]) -> None:
    totals = groups.table.get(key) or groups.new_totals(key)
    totals[0] += 1
    if number is not None:
        totals[1] += 1
        totals[2] += number
        if totals[3] is None or number < totals[3]:
            totals[3] = number
        if totals[4] is None or number > totals[4]:
            totals[4] = number


def aggregate_values(job: Job, records: Iterable[dict], groups: Groups, counters: Counters) -> None:
    """The --key/--time/--value loop, the most common job, written out flat for speed."""
    key_of, value_of, table, new_totals = job.key, job.value, groups.table, groups.new_totals
    seen = no_time = no_value = 0
    try:
        for record in records:
            seen += 1
            key = key_of(record)
            if key is None:
                no_time += 1
                continue
            totals = table.get(key) or new_totals(key)
            totals[0] += 1
            number = value_of(record)  # type: ignore[misc]
            if number is None:  # most often: no such field
                no_value += 1
                continue
            if number.__class__ is not Decimal or not -1000 <= number.adjusted() <= 1000:
                number = number_of(number)  # an int, a numeric string, or not a value at all
                if number is None:
                    no_value += 1
                    continue
            totals[1] += 1
            totals[2] += number
            low = totals[3]
            if low is None:
                totals[3] = totals[4] = number
            elif number < low:
                totals[3] = number
            elif number > totals[4]:
                totals[4] = number
    finally:
        counters.add("records", seen)
        counters.add("bad_time", no_time)
        counters.add("no_value", no_value)


def run(job: Job, stdin: BinaryIO, out: BinaryIO, counters: Counters) -> None:
    groups = Groups(out, with_values=job.value is not None)
    try:
        aggregate(job, hadoop_lines(stdin, counters, job.in_hadoop_task), groups, counters)
    except BrokenPipeError:  # stdout closed by a partial flush: not the input's fault
        raise
    except (OSError, EOFError, zlib.error) as error:  # a truncated or corrupt gzip stream
        counters.add("malformed")
        sys.stderr.write("mapper.py: input stopped being readable (%s); what came before it "
                         "is counted\n" % error)
    groups.flush()


# ---------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------

EPILOG = """\
examples:
  mapper.py                                    census: how many records carry each field
  mapper.py --key group.group_country          records per country
  mapper.py --key response --time mtime --per day --value guests
  mapper.py --time @arrival                    records per Firehose delivery hour
  mapper.py --words event.event_name           word count of a text field
  mapper.py --words                            classic word count of plain text lines

input: newline-delimited JSON or Firehose's records back to back ({..}{..}), CRLF,
a UTF-8 BOM, blank lines, gzip on stdin. Lines end at LF, CRLF or a lone CR, as in Hadoop.
output: KEY<TAB>COUNT[<TAB>N<TAB>SUM<TAB>MIN<TAB>MAX] per group, for reducer.py.
counters (stderr): reporter:counter:firehose-mr,NAME,N for records, malformed,
invalid_utf8, bad_time, no_value, no_text, gzip_data. On a terminal, outside a Hadoop
task (no mapreduce_task_id), one line to read instead; FIREHOSE_MR_COUNTERS=raw: the lines.
exit status: 0; 2 for bad flags or a closed standard input or output; 130 on ^C;
141 when the reader of the output stops.
"""


class Once(argparse.Action):
    """A flag that may be given once (a second --key would silently replace the first)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        if getattr(namespace, self.dest) is not None:
            hint = " (it takes a list: --key a,b)" if self.dest == "key" else ""
            parser.error("%s is given twice: give it once%s" % (option_string, hint))
        setattr(namespace, self.dest, values)


class OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, "%s: error: %s (see --help)\n" % (self.prog, message))


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = OneLineErrorParser(
        prog="mapper.py", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Hadoop Streaming mapper for Firehose JSON events: group, count, sum. "
                    "With no flags, a census of the fields records carry.")
    parser.add_argument("--key", metavar="P[,P...]", action=Once,
                        help="group by these fields; P is a dotted path (group.group_country), "
                             "an integer segment indexes an array (items.0.sku)")
    parser.add_argument("--time", metavar="P|@arrival", action=Once,
                        help="prefix the key with the UTC time bucket of field P (epoch seconds, epoch "
                             "milliseconds, ISO 8601), or of the Firehose delivery hour with @arrival")
    parser.add_argument("--per", choices=PERIODS, default=None, action=Once,
                        help="time bucket size for --time (default: hour)")
    parser.add_argument("--value", metavar="P", action=Once,
                        help="also aggregate the number at P (exact decimal sum, min, max, mean)")
    parser.add_argument("--words", metavar="P", nargs="?", const=WHOLE_LINE, action=Once,
                        help="count words (\\w+, lower-cased) of the string at P, or of each whole "
                             "line read as plain text when P is omitted")
    args = parser.parse_args(argv)
    if args.per is not None and args.time is None:
        parser.error("--per needs --time")
    args.per = args.per or "hour"
    if args.time == "@arrival" and args.per == "minute":
        parser.error("--time @arrival has hour precision: use --per hour, day or month")
    if args.words is WHOLE_LINE and (args.key or args.value or (args.time and args.time != "@arrival")):
        parser.error("--words without a field reads plain text: --key, --value and --time FIELD need JSON; "
                     "give --words a field instead")
    return args


def standard_streams() -> Tuple[BinaryIO, BinaryIO]:
    """stdin and stdout, as bytes; a closed one (`./mapper.py <&-`) is a usage error."""
    if sys.stdin is None:
        raise UsageError("standard input is closed: give the input as a file (< FILE) or a pipe")
    if sys.stdout is None:
        raise UsageError("standard output is closed: send the output to a file (> FILE) or a pipe")
    return sys.stdin.buffer, sys.stdout.buffer


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    counters = Counters()
    try:
        stdin, stdout = standard_streams()
        job = Job(args, dict(os.environ))
    except UsageError as error:
        sys.stderr.write("mapper.py: error: %s\n" % error)
        return 2
    decimal.setcontext(EXACT)
    run(job, stdin, stdout, counters)
    stdout.flush()
    counters.report(sys.stderr, counters_for_a_person(os.environ, sys.stderr))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        say_interrupted()
        sys.exit(INTERRUPTED)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(141)
