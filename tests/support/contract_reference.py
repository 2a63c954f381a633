"""The job contract of README.md ("The job flags", "Output", "Counters", "Input the mapper takes
in its stride"), computed the plain, slow way, for tests to hold `mapper.py | sort | reducer.py` to.

Written from the README alone, sharing nothing with the pair: exact rational arithmetic
(fractions.Fraction) for values and epoch times, the Gregorian calendar counted by hand, Python's
`re` for words. It covers what the property tests generate: newline-delimited or back-to-back JSON
objects, lines that hold one bad value, bytes that are not UTF-8, and plain-text lines for `--words`.
"""
import json
import re
from decimal import Decimal
from fractions import Fraction
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

COUNTER_NAMES = ("records", "malformed", "invalid_utf8", "bad_time", "no_value", "no_text", "gzip_data")
GZIP_MAGIC = b"\x1f\x8b"  # "gzip_data: lines that hold gzip's magic bytes ... after the start of its input"
MILLISECONDS_FROM = 10 ** 11  # "epoch milliseconds (numbers >= 1e11)"
SECONDS_PER_DAY = 24 * 60 * 60
MEAN_DIGITS = 15


class Job(NamedTuple):
    """The job flags. `words` is a field path, or "" for each line read as plain text."""
    keys: Tuple[str, ...] = ()
    time: Optional[str] = None  # a field path, or "@arrival"
    per: Optional[str] = None  # None: the default, hour
    value: Optional[str] = None
    words: Optional[str] = None

    def flags(self) -> List[str]:
        flags = []  # type: List[str]
        if self.keys:
            flags += ["--key", ",".join(self.keys)]
        if self.time is not None:
            flags += ["--time", self.time]
        if self.per is not None:
            flags += ["--per", self.per]
        if self.value is not None:
            flags += ["--value", self.value]
        if self.words is not None:
            flags += ["--words"] + ([self.words] if self.words else [])
        return flags

    def is_census(self) -> bool:
        return not (self.keys or self.time or self.value is not None or self.words is not None)


# -- the calendar, by hand (proleptic Gregorian, as ISO 8601 has it) ---------------------------

def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def days_before_year(year: int) -> int:
    """Days from 0001-01-01 to the first of January of `year`."""
    before = year - 1
    return before * 365 + before // 4 - before // 100 + before // 400


EPOCH_DAY = days_before_year(1970)


def day_number(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to this date (negative before it)."""
    return days_before_year(year) + sum(days_in_month(year, m) for m in range(1, month)) + day - 1 - EPOCH_DAY


def date_of(day: int) -> Tuple[int, int, int]:
    """The (year, month, day) `day` days after 1970-01-01."""
    since_year_one = day + EPOCH_DAY
    year = 1 + since_year_one // 366  # never past the year: a year has at most 366 days
    while days_before_year(year + 1) <= since_year_one:
        year += 1
    left = since_year_one - days_before_year(year)
    month = 1
    while left >= days_in_month(year, month):
        left -= days_in_month(year, month)
        month += 1
    return year, month, left + 1


# -- time buckets -----------------------------------------------------------------------------

ISO_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?"
                      r"(Z|([+-])(\d{2}):?(\d{2}))?\Z", re.ASCII)
ARRIVAL_FOLDERS = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})/", re.ASCII)


def bucket_of_minute(minute: int, per: Optional[str]) -> Optional[str]:
    """The bucket of a whole minute counted from 1970-01-01T00:00Z; None outside years 1-9999."""
    day, minute_of_day = divmod(minute, 24 * 60)
    year, month, day_of_month = date_of(day)
    if not 1 <= year <= 9999:
        return None
    hour, minute_of_hour = divmod(minute_of_day, 60)
    date = "%04d-%02d-%02d" % (year, month, day_of_month)
    return {"minute": "%sT%02d:%02d" % (date, hour, minute_of_hour), "hour": "%sT%02d:00" % (date, hour),
            None: "%sT%02d:00" % (date, hour), "day": date, "month": date[:7]}[per]


def minute_of_epoch_number(number) -> Optional[int]:
    """Epoch seconds, or milliseconds from 1e11 on, as the whole minute they fall in."""
    if isinstance(number, bool) or not isinstance(number, (int, Decimal)):
        return None
    if isinstance(number, Decimal) and not number.is_finite():
        return None
    exact = Fraction(number)
    seconds = exact / 1000 if exact >= MILLISECONDS_FROM else exact
    if abs(seconds) > 10 ** 12:  # far past year 9999 either way
        return None
    return seconds // 60  # a Fraction's floor division gives the int below


def minute_of_iso_text(text: str) -> Optional[int]:
    match = ISO_TIME.match(text)
    if not match:
        return None
    year, month, day, hour, minute = (int(match.group(i)) for i in range(1, 6))
    second = int(match.group(6) or 0)
    if not (1 <= month <= 12 and 1 <= day <= days_in_month(year, month) and hour <= 23 and minute <= 59
            and second <= 59):
        return None
    offset = 0
    if match.group(8):
        offset_hours, offset_minutes = int(match.group(9)), int(match.group(10))
        if offset_hours > 23 or offset_minutes > 59:
            return None
        offset = (offset_hours * 60 + offset_minutes) * (1 if match.group(8) == "+" else -1)
    return day_number(year, month, day) * 24 * 60 + hour * 60 + minute - offset


def time_bucket(value, per: Optional[str]) -> Optional[str]:
    """The UTC bucket of a --time field's value; None for a bad time."""
    minute = minute_of_iso_text(value) if isinstance(value, str) else minute_of_epoch_number(value)
    return None if minute is None else bucket_of_minute(minute, per)


def arrival_bucket(input_file: Optional[str], per: Optional[str]) -> Optional[str]:
    """--time @arrival: the delivery hour of the input file's /YYYY/MM/DD/HH/ folders."""
    match = ARRIVAL_FOLDERS.search(input_file or "")
    if not match:
        return None
    year, month, day, hour = (int(match.group(i)) for i in range(1, 5))
    if not (1 <= month <= 12 and 1 <= day <= days_in_month(year, month) and hour <= 23):
        return None
    return bucket_of_minute(day_number(year, month, day) * 24 * 60 + hour * 60, per)


# -- key columns ------------------------------------------------------------------------------

def field(record, path: str):
    """A dotted path: members of objects by name, elements of arrays by an integer segment."""
    value = record
    for segment in path.split("."):
        if isinstance(value, dict):
            value = value.get(segment)
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return None
    return value


def plain(number: Fraction) -> str:
    """A finite decimal in plain notation, without trailing zeros ("0" for zero)."""
    if number == 0:
        return "0"
    sign, number = ("-" if number < 0 else ""), abs(number)
    places = 0
    while (number * 10 ** places).denominator != 1:
        places += 1
    whole, fraction = divmod(int(number * 10 ** places), 10 ** places)
    text = str(whole)
    if places:
        text += "." + str(fraction).rjust(places, "0")
    return sign + text


def compact_json(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return plain(Fraction(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(compact_json(item) for item in value) + "]"
    return "{" + ",".join(json.dumps(name, ensure_ascii=False) + ":" + compact_json(value[name])
                          for name in sorted(value)) + "}"


def escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def key_column(value) -> str:
    return escaped(value) if isinstance(value, str) else compact_json(value)


# -- values -----------------------------------------------------------------------------------

NUMERIC_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z", re.ASCII)


def number_of(value) -> Optional[Fraction]:
    """A JSON number or a numeric string (around it, spaces), exactly; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, Decimal):
        return Fraction(value) if value.is_finite() else None
    if isinstance(value, str):
        text = value.strip(" \t\n\r\f\v")
        return Fraction(Decimal(text)) if NUMERIC_TEXT.match(text) else None
    return None


def significant(number: Fraction, digits: int) -> Fraction:
    """`number` rounded to `digits` significant digits, a tie to the even digit."""
    if number == 0:
        return number
    exponent, size = 0, abs(number)
    while size >= 10:
        size /= 10
        exponent += 1
    while size < 1:
        size *= 10
        exponent -= 1
    scale = Fraction(10) ** (digits - 1 - exponent)
    return Fraction(round(number * scale)) / scale  # round() on a Fraction: half to even


class Group:
    def __init__(self) -> None:
        self.count = 0
        self.numbers = []  # type: List[Fraction]

    def add(self, number: Optional[Fraction]) -> None:
        self.count += 1
        if number is not None:
            self.numbers.append(number)

    def columns(self, with_value: bool) -> List[str]:
        if not with_value:
            return [str(self.count)]
        if not self.numbers:
            return [str(self.count), "0", "", "", ""]
        total = sum(self.numbers, Fraction(0))
        return [str(self.count), plain(total), plain(min(self.numbers)), plain(max(self.numbers)),
                plain(significant(total / len(self.numbers), MEAN_DIGITS))]


# -- reading: lines as Hadoop's LineReader cuts them, records on a line -------------------------

def hadoop_lines(data: bytes) -> List[bytes]:
    """Lines end at LF, CRLF or a lone CR; a UTF-8 byte-order mark at the start is dropped."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = re.split(rb"\r\n|\r|\n", data)
    return lines[:-1] if lines[-1] == b"" else lines


def values_on_a_line(text: str, counts: Dict[str, int]) -> Iterator:
    """The JSON values on a line, back to back; a stretch that does not decode counts once as
    malformed, and reading goes on at the next object on the line that decodes."""
    decoder = json.JSONDecoder(parse_float=Decimal)
    at = 0
    while True:
        while at < len(text) and text[at] in " \t\r\n":
            at += 1
        if at == len(text):
            return
        try:
            value, at = decoder.raw_decode(text, at)
        except ValueError:
            counts["malformed"] += 1
            at = next_object(text, at + 1, decoder)
            continue
        yield value


def next_object(text: str, start: int, decoder: json.JSONDecoder) -> int:
    for at in range(start, len(text)):
        if text.startswith(('{"', "{}"), at):
            try:
                if isinstance(decoder.raw_decode(text, at)[0], dict):
                    return at
            except ValueError:
                pass
    return len(text)


def decoded(line: bytes, counts: Dict[str, int]) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        counts["invalid_utf8"] += 1
        return line.decode("utf-8", "replace")


# -- the job ----------------------------------------------------------------------------------

def run(job: Job, inputs: List[Tuple[bytes, Optional[str]]]) -> Tuple[List[str], Dict[str, int]]:
    """(rows, counters) of the job over `inputs`, each the bytes of a file and the input file's
    name as Hadoop passes it (for --time @arrival)."""
    counts = {name: 0 for name in COUNTER_NAMES}
    groups = {}  # type: Dict[Tuple[str, ...], Group]

    def add(columns: Tuple[str, ...], number: Optional[Fraction]) -> None:
        groups.setdefault(columns, Group()).add(number)

    at_start = True
    for data, input_file in inputs:
        for line in hadoop_lines(data):
            if GZIP_MAGIC in (line[1:] if at_start else line):
                counts["gzip_data"] += 1
            at_start = False
            text = decoded(line, counts)
            if job.words == "":
                counts["records"] += 1
                for word in re.findall(r"\w+", text.lower()):
                    add((word,), None)
                continue
            for value in values_on_a_line(text, counts):
                if not isinstance(value, dict):
                    counts["malformed"] += 1
                    continue
                counts["records"] += 1
                take_record(job, value, input_file, counts, add)
    rows = ["\t".join(columns + tuple(group.columns(job.value is not None)))
            for columns, group in groups.items()]
    return sorted(rows, key=lambda row: row.encode("utf-8")), counts


def take_record(job: Job, record: dict, input_file: Optional[str], counts: Dict[str, int], add) -> None:
    if job.is_census():
        for name in record:
            add((key_column(name),), None)
        return
    columns = ()  # type: Tuple[str, ...]
    if job.time is not None:
        bucket = arrival_bucket(input_file, job.per) if job.time == "@arrival" \
            else time_bucket(field(record, job.time), job.per)
        if bucket is None:
            counts["bad_time"] += 1
            return
        columns = (bucket,)
    columns += tuple(key_column(field(record, path)) for path in job.keys)
    number = None
    if job.value is not None:
        number = number_of(field(record, job.value))
        if number is None:
            counts["no_value"] += 1
    if job.words is None:
        add(columns, number)
        return
    text = field(record, job.words)
    if not isinstance(text, str):
        counts["no_text"] += 1
        return
    for word in re.findall(r"\w+", text.lower()):
        add(columns + (word,), number)
