#!/usr/bin/env python3
"""firehose-mr reducer: mapper.py's intermediate lines on stdin, one row per group on stdout.

A Hadoop Streaming reducer (standard library only, Python 3.7+). Input lines are

    KEY <TAB> COUNT                          or
    KEY <TAB> COUNT N SUM MIN MAX            (N = how many records had a value)

and the output is one TAB-separated row per KEY, sorted by its bytes:

    [bucket] key1 ... [word] COUNT [SUM MIN MAX MEAN]

Under Hadoop (the task environment has `mapreduce_task_id`) the input is sorted by KEY,
so groups are merged as they stream past, in flat memory. Anywhere else (a plain `sort`
under a locale, or no sort at all) the input may come in any order: groups are merged
in memory and written sorted at the end.

`--combine` writes merged intermediate lines instead of rows: equivalent, smaller mapper
output, fit for Hadoop's -combiner (which may run it any number of times on any subset).

Lines that are not mapper.py output are skipped and counted (bad_intermediate), never fatal.
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
            sys.stderr.write("reducer.py: interrupted\n")
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
import decimal  # noqa: E402
import re  # noqa: E402
from decimal import Decimal  # noqa: E402
if False:  # for readers and type checkers only: importing typing costs every task start-up
    from typing import Any, BinaryIO, Dict, Iterable, Iterator, List, Optional, Tuple

COUNTER_GROUP = "firehose-mr"
HADOOP_TASK_VARIABLE = "mapreduce_task_id"  # in the environment of every Hadoop (and run_local.sh) task
EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN,
                        traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])
MEAN = decimal.Context(prec=15)  # the mean's significant digits


class BadLine(Exception):
    """An input line that is not mapper.py output."""


class Totals:
    """A group's count, and with values how many, their exact sum, min and max."""

    __slots__ = ("lines", "count", "n", "total", "low", "high", "with_values")

    def __init__(self) -> None:
        self.lines = 0  # intermediate lines merged
        self.count = 0
        self.n = 0
        self.total = Decimal(0)
        self.low = None  # type: Optional[Decimal]
        self.high = None  # type: Optional[Decimal]
        self.with_values = False

    def merge(self, fields: List[bytes]) -> None:
        """Add one intermediate value (its TAB-separated fields) to these totals."""
        count = _count(fields[0])
        if len(fields) == 1:
            if self.with_values:
                raise BadLine("a count alone for a key that has values: one job writes one kind of line")
            self.count += count
            self.lines += 1
            return
        if len(fields) != 5:
            raise BadLine("expected 1 or 5 value fields, got %d" % len(fields))
        if self.lines and not self.with_values:
            raise BadLine("values for a key that has a count alone: one job writes one kind of line")
        n = _count(fields[1])
        if n > count:
            raise BadLine("more values than records")
        total = _number(fields[2])
        if n == 0:
            if not total.is_zero() or fields[3] or fields[4]:
                raise BadLine("a group with no values must have sum 0 and no min or max")
            low = high = None
        else:
            low, high = _number(fields[3]), _number(fields[4])
            if low > high:
                raise BadLine("min above max")
            if not sum_fits(n, total, low, high):
                raise BadLine("a sum that its values, between its min and max, cannot add up to")
        self.with_values = True
        self.lines += 1
        self.count += count
        self.n += n
        self.total += total
        if low is not None and (self.low is None or low < self.low):
            self.low = low
        if high is not None and (self.high is None or high > self.high):
            self.high = high

    def intermediate(self) -> bytes:
        """These totals as a mapper.py value (for --combine)."""
        if not self.with_values:
            return b"%d" % self.count
        low = b"" if self.low is None else str(self.low).encode()
        high = b"" if self.high is None else str(self.high).encode()
        return b"%d\t%d\t%s\t%s\t%s" % (self.count, self.n, str(self.total).encode(), low, high)

    def columns(self) -> bytes:
        """The statistic columns of an output row: count [sum min max mean]."""
        if not self.with_values:
            return b"%d" % self.count
        if self.n == 0:
            return b"%d\t0\t\t\t" % self.count
        mean = MEAN.divide(self.total, Decimal(self.n))
        stats = (self.total, self.low, self.high, mean)
        return b"%d\t" % self.count + "\t".join(decimal_text(x) for x in stats).encode()  # type: ignore[arg-type]


# Bounds on a sum, rounded outwards: the sum check below in a few dozen digits, whatever the
# exponents (exact, 1E+2000 less 1E-268435456 would take 268 million digits and seconds).
BELOW = decimal.Context(prec=40, rounding=decimal.ROUND_FLOOR, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
ABOVE = decimal.Context(prec=40, rounding=decimal.ROUND_CEILING, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def sum_fits(n: int, total: Decimal, low: Decimal, high: Decimal) -> bool:
    """Whether n values whose least is low and greatest is high can add up to total: one value
    is all three; of n >= 2, the other n - 2 are each between low and high, so the sum is between
    low + high + (n - 2) low and low + high + (n - 2) high. Those bounds are rounded outwards: a
    sum a hair beyond one may pass, a sum within them never fails."""
    if n == 1:
        return total == low == high
    return BELOW.fma(n - 1, low, high) <= total <= ABOVE.fma(n - 1, high, low)


def _count(field: bytes) -> int:
    if not field.isdigit() or len(field) > 20:  # 20 digits: more than any job counts
        raise BadLine("a count must be a whole number, got %r" % field[:40])
    return int(field)


# A number as mapper.py writes one (str() of a Decimal), and the range of its exponents: the
# mapper takes values up to 1e+-1000 in size, with as many digits as a line holds, so a sum can
# reach past 1e1000 (adding many) or be as small as its last digit (cancelling out). The bounds
# keep a garbage line from making the exact arithmetic below take all the memory there is.
_NUMBER = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:E[+-][0-9]+)?\Z")
MAX_ADJUSTED = 2000
MIN_EXPONENT = -(1 << 28)  # 268 million fractional digits: more than a Firehose object holds


def _number(field: bytes) -> Decimal:
    number = None  # type: Optional[Decimal]
    if _NUMBER.match(field) is not None:
        try:
            number = Decimal(field.decode("ascii"))
        except decimal.InvalidOperation:  # an exponent beyond 10**18
            pass
    if number is None:
        raise BadLine("not a number: %r" % field[:40])
    if number.adjusted() > MAX_ADJUSTED or number.as_tuple().exponent < MIN_EXPONENT:
        raise BadLine("number out of range: %r" % field[:40])
    return number


def decimal_text(number: Decimal) -> str:
    """Plain notation, no trailing zeros, no negative zero: 1.50 -> 1.5, 2E+3 -> 2000."""
    if number.is_zero():
        return "0"
    return format(number.normalize(EXACT), "f")


# The intermediate key holds the row's key columns, each followed by \x02 (for TAB), with
# the characters below U+000E that are not TAB written as \x01 or \x03 + chr(0x40 + c):
# see mapper.py's encode_key. Decoding gives the row's key columns, each followed by TAB.
_KEY_ESCAPE = re.compile(b"[\x01\x03](.)", re.DOTALL)
# What a key that mapper.py writes never holds: a byte below \x0e other than the column end \x02
# and the escapes' first bytes, or an escape's first byte not followed by one of its letters.
# A search for one such byte keeps no state per byte read: a 1 MB key is checked in the memory
# it already takes (a pattern for the whole key, with its nested repeats, took 120 bytes a byte).
_NOT_IN_A_KEY = re.compile(b"[\x00\x04-\x0d]|\x01(?![\x40-\x48])|\x03(?![\x4b\x4c])")  # LF, CR: never raw


def is_key(key: bytes) -> bool:
    """Whether key is one that mapper.py writes (see encode_key): empty (no key columns), or
    columns each ending in \\x02, with no byte a key never holds."""
    return (not key or key.endswith(b"\x02")) and _NOT_IN_A_KEY.search(key) is None


def decode_key(key: bytes) -> bytes:
    key = key.replace(b"\x02", b"\t")  # first: an escape's second byte is never \x02
    if b"\x01" in key or b"\x03" in key:
        key = _KEY_ESCAPE.sub(lambda m: bytes((m.group(1)[0] - 0x40,)), key)
    return key


def intermediate_lines(stream: Iterable[bytes]) -> Iterator[Tuple[int, bytes, List[bytes]]]:
    """(line number, key, value fields) of each non-blank input line."""
    number = 0
    for line in stream:
        number += 1
        line = line.rstrip(b"\r\n")
        if not line:
            continue
        key, _, value = line.partition(b"\t")
        yield number, key, value.split(b"\t")


class Reducer:
    """Merges the values of each key and writes rows (or, combining, intermediate lines)."""

    def __init__(self, out: BinaryIO, err: BinaryIO, combine: bool) -> None:
        self.out = out
        self.err = err
        self.combine = combine
        self.skipped = 0

    def merge_into(self, totals: Totals, number: int, key_ok: bool, fields: List[bytes]) -> None:
        """Merge one line (key_ok: whether its key is a mapper.py key, checked once per key);
        a line that is not mapper output is reported and counted."""
        try:
            if not key_ok:
                raise BadLine("its key is not a mapper.py key")
            totals.merge(fields)
        except BadLine as problem:
            self.skipped += 1
            if self.skipped == 1:
                self.err.write(b"reducer.py: skipped input line %d, which is not mapper.py output "
                               b"(%s); such lines are counted as bad_intermediate\n"
                               % (number, str(problem).encode("utf-8", "backslashreplace")))

    def write(self, key: bytes, totals: Totals) -> None:
        if self.combine:
            self.out.write(key + b"\t" + totals.intermediate() + b"\n")
        else:
            self.out.write(decode_key(key) + totals.columns() + b"\n")

    def streaming(self, lines: Iterable[Tuple[int, bytes, List[bytes]]]) -> None:
        """Input sorted by key (Hadoop): one group in memory at a time."""
        current = None  # type: Optional[bytes]
        totals, key_ok = Totals(), False
        for number, key, fields in lines:
            if key != current:
                if totals.lines:
                    self.write(current, totals)
                current, totals, key_ok = key, Totals(), is_key(key)
            self.merge_into(totals, number, key_ok, fields)
        if totals.lines:
            self.write(current, totals)

    def buffered(self, lines: Iterable[Tuple[int, bytes, List[bytes]]]) -> None:
        """Input in any order: every group in memory, written in byte order at the end."""
        groups = {}  # type: Dict[bytes, Totals]
        keys_ok = {}  # type: Dict[bytes, bool]
        for number, key, fields in lines:
            totals = groups.get(key)
            if totals is None:
                totals = groups[key] = Totals()
                keys_ok[key] = is_key(key)
            self.merge_into(totals, number, keys_ok[key], fields)
        for key in sorted(groups):
            if groups[key].lines:
                self.write(key, groups[key])

    def report(self, for_a_person: bool = False) -> None:
        """The bad_intermediate counter, if any line was skipped: Hadoop's counter line, or with
        for_a_person one line that reads as a sentence."""
        if not self.skipped:
            return
        if for_a_person:
            lines = b"1 line that is" if self.skipped == 1 else b"%d lines that are" % self.skipped
            self.err.write(b"reducer.py: skipped %s not mapper.py output (bad_intermediate)\n" % lines)
        else:
            self.err.write(b"reporter:counter:%s,bad_intermediate,%d\n" % (COUNTER_GROUP.encode(), self.skipped))


COUNTERS_VARIABLE = "FIREHOSE_MR_COUNTERS"  # =raw: the counter line, on a terminal too


def counters_for_a_person(environ: Dict[str, str], err: BinaryIO) -> bool:
    """Whether the counters are written as one line to read: stderr is a terminal, this is no
    Hadoop task (whose counter lines Hadoop reads), and FIREHOSE_MR_COUNTERS=raw does not ask
    for the counter line."""
    if environ.get(HADOOP_TASK_VARIABLE) or environ.get(COUNTERS_VARIABLE) == "raw":
        return False
    try:
        return err.isatty()
    except (AttributeError, ValueError):  # no isatty(), or closed
        return False


class OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, "%s: error: %s (see --help)\n" % (self.prog, message))


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = OneLineErrorParser(
        prog="reducer.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Hadoop Streaming reducer for mapper.py's output: one row per group, "
                    "[bucket] key... [word] count [sum min max mean], TAB-separated, sorted by bytes. "
                    "The job is whatever the mapper's flags said; the reducer needs none.",
        epilog="Under Hadoop (mapreduce_task_id set) the input is key-sorted and streamed in flat "
               "memory;\nelsewhere any input order works (groups are merged in memory).\n"
               "Lines that are not mapper.py output are skipped and counted: "
               "reporter:counter:firehose-mr,bad_intermediate,N\n"
               "on stderr (on a terminal, outside a Hadoop task, one line to read instead;\n"
               "FIREHOSE_MR_COUNTERS=raw: the counter line).\n"
               "exit status: 0; 2 for bad flags or a closed standard input or output; 130 on ^C;\n"
               "141 when the reader of the output stops.")
    parser.add_argument("--combine", action="store_true",
                        help="write merged mapper-format lines instead of rows (Hadoop -combiner)")
    return parser.parse_args(argv)


def closed_stream() -> Optional[str]:
    """What to say when stdin or stdout is closed (`./reducer.py <&-`), else None."""
    if sys.stdin is None:
        return "standard input is closed: give the input as a file (< FILE) or a pipe"
    if sys.stdout is None:
        return "standard output is closed: send the output to a file (> FILE) or a pipe"
    return None


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    closed = closed_stream()
    if closed is not None:
        sys.stderr.write("reducer.py: error: %s\n" % closed)
        return 2
    decimal.setcontext(EXACT)
    reducer = Reducer(sys.stdout.buffer, sys.stderr.buffer, combine=args.combine)
    lines = intermediate_lines(sys.stdin.buffer)
    if os.environ.get(HADOOP_TASK_VARIABLE):
        reducer.streaming(lines)
    else:
        reducer.buffered(lines)
    sys.stdout.buffer.flush()
    reducer.report(counters_for_a_person(os.environ, sys.stderr.buffer))
    sys.stderr.flush()
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
