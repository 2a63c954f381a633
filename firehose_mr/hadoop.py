"""Hadoop's rules, one home each: how Hadoop Streaming partitions keys, splits a task command,
cuts lines and input splits, names hidden files, builds a task's environment and reads its
counter lines. Pure functions over bytes and strings (standard library only, Python 3.7+), used
by the local runner and by the submit path alike; the tests check each against real Hadoop."""
from __future__ import annotations

import re
from typing import IO, Dict, Iterator, List, Optional, Tuple

BLOCK = 1 << 20  # how much a reader takes at a time
LINE_END_READ = 64 << 10  # rest_of_line reads this much at a time: a line end is near
UTF8_BOM = b"\xef\xbb\xbf"  # dropped at the start of a file, as Hadoop's LineRecordReader does
HIDDEN = ("_", ".")  # FileInputFormat's hiddenFileFilter: names that start so are not input
LOCAL_BLOCK_SIZE = 32 << 20  # Hadoop's fs.local.block.size: the split size on a local file system
SPLIT_SLOP = 1.1  # FileInputFormat: the last piece of a file may be up to 10 % over the split size
# PipeMapRed writes a task's input through a buffer of this size: a task that stops reading with
# more than this left fails with a broken pipe (what is left in it at the end is only warned of).
STREAM_BUFFER = 128 << 10
COUNTER_VALUE = re.compile(r"^([+-]?[0-9]+)$")
# The groups of Hadoop's own counters in a job's report (the job's counters are the others).
HADOOP_GROUPS = ("File System Counters", "Job Counters", "Map-Reduce Framework", "Shuffle Errors",
                 "File Input Format Counters", "File Output Format Counters")


class QuotingError(ValueError):
    """An argument that Hadoop Streaming's splitArgs cannot carry."""


# ------------------------------------------------------------------------------------
# HashPartitioner and PipeMapRed.splitArgs.
# ------------------------------------------------------------------------------------

def hash_partition(key: bytes, reducers: int) -> int:
    """HashPartitioner on a Text key: WritableComparator.hashBytes (h = 31*h + signed byte,
    starting at 1, in Java int arithmetic), then (h & Integer.MAX_VALUE) % reducers."""
    h = 1
    for b in key:
        h = (31 * h + (b - 256 if b > 127 else b)) & 0xFFFFFFFF
    return (h & 0x7FFFFFFF) % reducers


def split_args(command: str) -> List[str]:
    """PipeMapRed.splitArgs: spaces separate, '...' and "..." group, nothing is escaped."""
    outside, single, double = 1, 2, 3
    args = []  # type: List[str]
    state, start = outside, 0
    for c in range(len(command) + 1):
        last = c == len(command)
        before = state
        end_token = False
        if not last:
            ch = command[c]
            if ch == "'":
                state = {outside: single, single: outside}.get(state, state)
                end_token = state != before
            elif ch == '"':
                state = {outside: double, double: outside}.get(state, state)
                end_token = state != before
            elif ch == " " and state == outside:
                end_token = True
        if last or end_token:
            if c != start:
                args.append(command[start:c])
            start = c + 1
    return args


def quote_arg(arg: str) -> str:
    """One argument written so that split_args gives it back unchanged."""
    if arg and not any(ch in arg for ch in " '\""):
        return arg
    if "'" not in arg:
        return "'%s'" % arg
    if '"' not in arg:
        return '"%s"' % arg
    raise QuotingError("argument %r has both kinds of quotes: Hadoop Streaming cannot pass it" % arg)


# ------------------------------------------------------------------------------------
# LineReader: how Hadoop cuts a byte stream into lines (LF, CR LF or a lone CR).
# ------------------------------------------------------------------------------------

class LineCutter:
    """Cuts a byte stream into lines the way Hadoop's LineReader does (LF, CRLF or a lone
    CR end a line) and gives them back ending in LF."""

    def __init__(self) -> None:
        self.held_cr = False

    def feed(self, data: bytes) -> bytes:
        if self.held_cr:
            data = b"\r" + data
        self.held_cr = data.endswith(b"\r")
        if self.held_cr:
            data = data[:-1]
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return data

    def end(self) -> bytes:
        return b"\n" if self.held_cr else b""


def whole_blocks(stream: IO[bytes]) -> Iterator[bytes]:
    """Blocks of complete lines cut like LineReader, joined by LF (without the last LF)."""
    cutter = LineCutter()
    rest = b""
    while True:
        block = stream.read(BLOCK)
        if not block:
            break
        data = rest + cutter.feed(block)
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        rest = data[cut + 1:]
        yield data[:cut]
    rest += cutter.end()  # no LF inside rest: at most the one a final lone CR became
    if rest:
        yield rest[:-1] if rest.endswith(b"\n") else rest


LINE_WITHOUT_TAB = re.compile(b"^[^\t\n]*$", re.MULTILINE)


def as_records(block: bytes) -> bytes:
    """Lines as Hadoop's key/value records: a line without TAB gets one (empty value)."""
    if LINE_WITHOUT_TAB.search(block) is None:  # the usual case, checked at C speed
        return block
    return b"\n".join(line if b"\t" in line else line + b"\t" for line in block.split(b"\n"))


# ------------------------------------------------------------------------------------
# The data path around the tasks (run in threads of this process; the work that counts,
# decompressing and writing to pipes, releases the interpreter lock).
# ------------------------------------------------------------------------------------


def split_bytes(raw: IO[bytes], start: int, end: int) -> Iterator[bytes]:
    """The bytes of the lines of the split [start, end) of a file: those that begin after
    start (or at 0) and not after end, the last one read to its end past the split. A split
    that does not begin the file skips the line it begins in, which the split before read."""
    raw.seek(start)
    line = rest_of_line(raw)
    position = start + len(line)
    if start == 0:
        yield line
    if position > end:
        return
    raw.seek(position)
    left = end - position
    while left > 0:
        block = raw.read(min(BLOCK, left))
        if not block:
            return
        left -= len(block)
        yield block
    yield rest_of_line(raw)  # the line that begins at end or runs across it (or CR LF's LF)


def rest_of_line(raw: IO[bytes]) -> bytes:
    """The bytes from raw's position to the end of the line, its LF, CR or CR LF included
    (to the end of the file if no line end comes)."""
    pieces = []  # type: List[bytes]
    while True:
        block = raw.read(LINE_END_READ)
        if not block:
            return b"".join(pieces)
        lf, cr = block.find(b"\n"), block.find(b"\r")
        ends = [i for i in (lf, cr) if i >= 0]
        if not ends:
            pieces.append(block)
            continue
        cut = min(ends) + 1
        if cut == cr + 1:  # a CR: with the LF after it, if one comes
            if cut == len(block):
                pieces.append(block)
                if raw.read(1) == b"\n":
                    pieces.append(b"\n")
                return b"".join(pieces)
            if block[cut:cut + 1] == b"\n":
                cut += 1
        pieces.append(block[:cut])
        return b"".join(pieces)


def hidden(name: str) -> bool:
    """Whether FileInputFormat leaves a file or folder of this name out of a job's input."""
    return name.startswith(HIDDEN)


# ------------------------------------------------------------------------------------
# FileInputFormat's splits (the old API, which streaming uses).
# ------------------------------------------------------------------------------------

def split_size(total_input: int, block_size: int) -> int:
    """The split size: the block size, or the whole input's size if that is smaller (the
    goal size with one map task asked for, as mapreduce.job.maps is 1 in local mode)."""
    return max(1, min(total_input, block_size))


def split_ranges(size: int, split: int) -> List[Tuple[int, int]]:
    """(start, length) of each split of a splittable file of `size` bytes: pieces of `split`
    bytes while more than 1.1 splits are left, then the rest (up to 1.1 times as large)."""
    ranges = []  # type: List[Tuple[int, int]]
    left = size
    while left / split > SPLIT_SLOP:
        ranges.append((size - left, split))
        left -= split
    ranges.append((size - left, left))
    return ranges


# ------------------------------------------------------------------------------------
# What a streaming task sees: its environment, and the counter lines it writes.
# ------------------------------------------------------------------------------------

def task_environment(base: Dict[str, str], job_id: str, kind: str, index: int, reducers: int,
                     output_uri: str, input_split: Optional[Tuple[str, int, int]] = None
                     ) -> Dict[str, str]:
    """The variables Hadoop Streaming gives a task: its job conf, dots as underscores, under
    the new names and the old. kind is "m" or "r"; input_split is (URI, start, length) of a
    map task's split. Variables of another task in `base` are left out."""
    task = "task_%s_%s_%06d" % (job_id[4:], kind, index)
    attempt = "attempt_%s_%s_%06d_0" % (job_id[4:], kind, index)
    env = {k: v for k, v in base.items() if not k.startswith(("mapreduce_", "mapred_", "map_input_"))}
    ismap = "true" if kind == "m" else "false"
    env.update({
        "mapreduce_job_id": job_id, "mapred_job_id": job_id,
        "mapreduce_task_id": task, "mapred_tip_id": task,
        "mapreduce_task_attempt_id": attempt, "mapred_task_id": attempt,
        "mapreduce_task_partition": str(index), "mapred_task_partition": str(index),
        "mapreduce_task_ismap": ismap, "mapred_task_is_map": ismap,
        "mapreduce_job_reduces": str(reducers), "mapred_reduce_tasks": str(reducers),
        "mapreduce_output_fileoutputformat_outputdir": output_uri, "mapred_output_dir": output_uri,
    })
    if input_split is not None:
        uri, start, length = input_split
        for prefix in ("mapreduce_map_input_", "map_input_"):
            env[prefix + "file"] = uri
            env[prefix + "start"] = str(start)
            env[prefix + "length"] = str(length)
    return env


def counter_increment(line: str) -> Optional[Tuple[str, str, int]]:
    """(group, name, amount) of a `reporter:counter:GROUP,NAME,AMOUNT` line; None for another
    reporter: line (a status). ValueError for a counter line that Hadoop could not parse."""
    if not line.startswith("reporter:counter:"):
        return None
    columns = line[len("reporter:counter:"):].strip().split(",")
    while columns and columns[-1] == "":  # Java's String.split drops trailing empties
        columns.pop()
    if len(columns) != 3 or not COUNTER_VALUE.match(columns[2]):
        raise ValueError("cannot parse counter line: %s" % line)
    return columns[0], columns[1], int(columns[2])


def job_counters(report: List[str]) -> Dict[Tuple[str, str], int]:
    """The job's own counters in the report `hadoop jar` prints at the end of a job (a group
    line after one TAB, NAME=VALUE lines after two), Hadoop's own groups left out."""
    counters = {}  # type: Dict[Tuple[str, str], int]
    group = None  # type: Optional[str]
    for line in report:
        if line.startswith("\t\t") and group and "=" in line:
            name, _, value = line.strip().rpartition("=")
            if group not in HADOOP_GROUPS and COUNTER_VALUE.match(value):
                counters[(group, name)] = int(value)
        elif line.startswith("\t") and not line.startswith("\t\t"):
            group = line.strip()
    return counters


def counters_summary(counters: Dict[Tuple[str, str], int]) -> str:
    """Counters as Hadoop lists them at the end of a job: "Counters: N", then each group after
    a TAB and each NAME=VALUE after two."""
    lines = ["Counters: %d" % len(counters)]
    group = None
    for (g, name), value in sorted(counters.items()):
        if g != group:
            lines.append("\t" + g)
            group = g
        lines.append("\t\t%s=%d" % (name, value))
    return "\n".join(lines) + "\n"


def is_uri(path: str) -> bool:
    """Whether Hadoop takes a path as a URI with a scheme (s3://, hdfs://, file://...)."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", path) is not None
