#!/usr/bin/env bash
# run_local.sh: run a Hadoop Streaming job on this machine the way Hadoop runs it (one
# mapper per input split, HashPartitioner, sort, combiner, part files, counters), or with
# --hadoop through the real `hadoop` on PATH. The engine is the Python program below
# (standard library only, Python 3.7+), so this one file is all a machine needs.
if [ -z "${BASH_VERSION:-}" ]; then  # started as `sh run_local.sh`
  echo "run_local.sh: run it with bash: ./run_local.sh or bash run_local.sh" >&2
  exit 2
fi
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: run_local.sh [OPTIONS] [INPUT...] [-- JOB FLAGS...]

Runs a Hadoop Streaming job locally, giving what Hadoop gives. By default the job is this
project's pair: mapper.py (with the JOB FLAGS after --) and reducer.py.

INPUT (default: sample_data next to this script)
  FILE                one map task for the file (one per split if it is larger than 1.1
                      splits: see --block-size); .gz, .bz2 and .deflate are decompressed;
                      .zip, .parquet, .orc (Hadoop would read them as text) and .snappy,
                      .lz4, .zst, .lzo are refused
  DIR                 every file below DIR (recursively); names starting with _ or . are skipped,
                      as Hadoop's FileInputFormat skips them
  'GLOB'              a pattern expanded here as Hadoop expands it: *, ?, [...], [!...] or
                      [^...], {a,b} (also across /), \ escapes; quote it from the shell
  -                   standard input (one map task; gzip is recognised by its magic bytes)
  s3://BUCKET/PREFIX  every object under the prefix (a glob in the key works too), listed with
                      `aws s3 ls` and copied into the work directory (under $TMPDIR) with one
                      `aws s3 cp --recursive`, so it runs on an EMR master node

Options
  -o, --output DIR    write part-00000... and an empty _SUCCESS into DIR, which must not exist
                      (written into a temporary sibling and renamed at the end, so a failed run
                      leaves nothing). Without -o the merged result is printed on stdout,
                      sorted by its bytes (LC_ALL=C).
      --force         replace DIR if it exists and holds an earlier job's output only
                      (part files and _SUCCESS)
  -r, --reducers N    number of reduce tasks (default 1). Keys go to reducers by Hadoop's
                      HashPartitioner; each reducer's input is sorted by key bytes.
                      -r 0 is a map-only job: one part file per map task.
  -c, --combine       run a combiner on each map task's sorted output, per partition, as
                      Hadoop does (default combiner: reducer.py --combine)
      --combiner CMD  the combiner command (implies -c)
  -j, --jobs N        run N tasks at a time (default: the number of CPUs)
      --block-size N  the block size in bytes, which sets the split size as in Hadoop: a file
                      larger than 1.1 splits gets a map task per split (default 33554432,
                      Hadoop's on a local file system; give your cluster's S3 or HDFS block
                      size to get its map tasks). Compressed files are never split here
      --no-fork-server
                      start each task of the pair as a new python3 process; by default
                      they are forked from one that has already imported the standard
                      library they use, which saves most of a small task's start-up.
                      Either way the compiled code of this script, mapper.py and
                      reducer.py is kept in ${XDG_CACHE_HOME:-~/.cache}/firehose-mr
                      (remade when a script changes; safe to delete)
      --mapper CMD    the mapper command (default: mapper.py next to this script); JOB FLAGS
                      are appended to it
      --reducer CMD   the reducer command (default: reducer.py next to this script)
      --hadoop        run the same job with the real Hadoop: `hadoop jar STREAMING_JAR ...`
                      (the jar: $HADOOP_STREAMING_JAR, else
                      /usr/lib/hadoop-mapreduce/hadoop-streaming.jar as on EMR, else
                      $HADOOP_HOME/share/hadoop/tools/lib/hadoop-streaming-*.jar)
  -h, --help          this help

Commands are split the way Hadoop Streaming splits -mapper/-reducer (spaces separate,
'single' or "double" quotes group, no shell, no backslash escapes). The program is looked up
in the current directory, then next to this script, then on PATH.

Every task gets the environment Hadoop gives its tasks: mapreduce_job_id,
mapreduce_task_id, mapreduce_task_attempt_id, mapreduce_task_partition,
mapreduce_task_ismap, mapreduce_map_input_file / map_input_file (file:/... or s3://...),
mapreduce_job_reduces, and their old mapred_* names.

Lines are cut like Hadoop's LineReader (LF, CRLF or a lone CR; a UTF-8 BOM at the start of a
file is dropped). A map output line's key is the bytes before its first TAB (the whole line
if it has none, with an empty value: the reducer then reads "line<TAB>"). Reducer output
lines without a TAB get a TAB appended, as TextOutputFormat writes them.

On stderr: the tasks' own stderr (after each task), a summary of the counters that tasks
reported with `reporter:counter:GROUP,NAME,N` (summed over all tasks, printed as
"Counters:", then a TAB and the GROUP, then two TABs and NAME=N per counter), progress when
stderr is a terminal, and on a failure the failed stage, its input file, exit status and the
last lines of its stderr (exit status 1). Bad usage exits with status 2.

Examples
  ./run_local.sh                                    # the census job on sample_data/
  ./run_local.sh -r 3 -c -o out -- --key response   # three reducers, a combiner, part files
  ./run_local.sh s3://my-bucket/2017/02/ -- --time @arrival --per day
  ./run_local.sh --hadoop -o out -- --key response  # the same job on the real Hadoop
USAGE
}

for arg in "$@"; do
  case "$arg" in
    --) break ;;
    -h|--help) usage; exit 0 ;;
  esac
done

if ! command -v python3 >/dev/null 2>&1; then
  echo "run_local.sh: needs python3 on PATH" >&2
  exit 2
fi

# The engine is the Python program at the end of this file: it reads the inputs, runs the
# tasks as processes connected by pipes (reading, decompressing, cutting lines and
# partitioning in its own threads), and sums the counters. bash never reads that far: the
# exec below replaces it. The lines of Python in $bootstrap find the engine in this file
# and run it. Compiled code is kept in ${XDG_CACHE_HOME:-~/.cache}/firehose-mr (the engine's,
# and mapper.py's and reducer.py's: see use_bytecode), as compiling them at every run took
# longer than a small job's map tasks.
bootstrap='
import marshal, os, sys


def kept(name, key, make):
    """make(), kept from one run to the next while key (bytes) stays the same: one file
    per NAME and Python version, made anew for any other key. Without an absolute cache
    directory, or where nothing can be written, make() runs each time."""
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.environ.get("HOME", ""), ".cache")
    path = os.path.join(home, "firehose-mr", "%s.%s.marshal" % (name, sys.implementation.cache_tag))
    if not os.path.isabs(path):
        return make()
    try:
        with open(path, "rb") as f:
            version, kept_key, value = marshal.loads(f.read())
        if version == sys.version and kept_key == key:
            return value
    except Exception:
        pass  # not made yet, or unreadable: made anew
    value = make()
    temp = "%s.%d" % (path, os.getpid())
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temp, "wb") as f:
            f.write(marshal.dumps((sys.version, key, value)))
        os.replace(temp, path)
    except OSError:
        if os.path.exists(temp):
            os.unlink(temp)
    return value


try:
    with open(sys.argv[1], "rb") as f:
        before, start, rest = f.read().partition(b"\n: <<\x27PYTHON\x27\n")
    source = b"\n" * (before + start).count(b"\n") + rest.rpartition(b"\nPYTHON\n")[0]  # the lines keep their numbers
    engine = {"__name__": "run_local", "__builtins__": __builtins__}
    exec(kept("run_local", source, lambda: compile(source, "run_local.sh", "exec")), engine)
    engine["command_line"](sys.argv[1], sys.argv[2:], kept)
except KeyboardInterrupt:  # a ^C before the engine handles it: nothing was started yet
    sys.stderr.write("run_local.sh: interrupted; no output written\n")
    sys.exit(130)
'
exec python3 -S -c "$bootstrap" "${BASH_SOURCE[0]}" "$@"

: <<'PYTHON'
from __future__ import annotations

import array
import glob
import marshal
import mmap
import os
import random
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
if False:  # for readers and type checkers only: importing typing costs every run some 5 ms
    from typing import Any, Callable, Dict, IO, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

PROG = "run_local.sh"
Kept = "Callable[[str, bytes, Callable[[], Any]], Any]"  # the bootstrap's kept(), at the top of this file
BLOCK = 1 << 20
HIDDEN = ("_", ".")
COUNTER_RE = re.compile(r"^([+-]?[0-9]+)$")
HADOOP_GROUPS = ("File System Counters", "Job Counters", "Map-Reduce Framework", "Shuffle Errors",
                 "File Input Format Counters", "File Output Format Counters")
# Inputs refused by name. Hadoop decompresses by extension and reads anything else as text; these
# are what Firehose writes for ZIP compression and record format conversion, and codecs that the
# standard library cannot read (Hadoop reads Firehose's HADOOP_SNAPPY, but its SNAPPY, the framing
# format, gives no records at all there: SnappyCodec takes the header for a block length).
AS_TEXT = "Hadoop Streaming reads it as lines of text, so its records would all count as malformed"
NOT_SUPPORTED = "this compression is not supported here (only .gz, .bz2, .deflate)"
NOT_READ_HERE = {
    ".zip": "a ZIP archive (Firehose's ZIP compression): %s; unzip it first" % AS_TEXT,
    ".parquet": "a Parquet file (Firehose's record format conversion): " + AS_TEXT,
    ".orc": "an ORC file (Firehose's record format conversion): " + AS_TEXT,
    ".snappy": "Snappy is not decompressed here (only .gz, .bz2, .deflate). On EMR, Hadoop reads "
               "Firehose's HADOOP_SNAPPY objects, but no records at all from its SNAPPY ones",
    ".lz4": NOT_SUPPORTED, ".zst": NOT_SUPPORTED, ".lzo": NOT_SUPPORTED,
}
UTF8_BOM = b"\xef\xbb\xbf"  # dropped at the start of a file, as Hadoop's LineRecordReader does
COMPRESSED = re.compile(r"\.(gz|bz2|deflate)$")  # decompressed by name (case and all, as Hadoop); never split here
LOCAL_BLOCK_SIZE = 32 << 20  # Hadoop's fs.local.block.size: the split size on a local file system
SPLIT_SLOP = 1.1  # FileInputFormat: the last piece of a file may be up to 10 % over the split size
LINE_END_READ = 64 << 10  # rest_of_line reads this much at a time: a line end is near, BLOCK would read 1 MiB


class UsageError(Exception):
    """Bad flags or inputs: one line on stderr, exit status 2."""


class TaskFailed(Exception):
    """A task failed: the report to print."""


class FlagsRefused(TaskFailed):
    """This project's mapper.py exited with 2 in a map task: it refuses the job flags."""


# ------------------------------------------------------------------------------------
# Hadoop's rules, in bytes.
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
    raise UsageError("argument %r has both kinds of quotes: Hadoop Streaming cannot pass it" % arg)


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

def decompressed(raw: IO[bytes], name: str) -> Iterator[bytes]:
    """The bytes of a file, decompressed by its name's extension like Hadoop's codecs (which
    match it case and all: a .GZ file is read as it is). Where Hadoop fails the map task, so
    does this (ValueError): corrupt data, a file cut short, an empty .gz or .deflate file."""
    if name.endswith(".gz"):
        make, kind = lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), "gzip"  # noqa: E731
    elif name.endswith(".deflate"):
        make, kind = lambda: zlib.decompressobj(), "deflate"  # noqa: E731
    elif name.endswith(".bz2"):
        import bz2
        make, kind = bz2.BZ2Decompressor, "bzip2"
    else:
        yield from iter(lambda: raw.read(BLOCK), b"")
        return
    decoder = make()
    started = False
    while True:
        block = raw.read(BLOCK)
        if not block:
            break
        while block:
            if decoder.eof:  # a further member (concatenated gzip or bzip2 streams)
                if kind == "bzip2":
                    block = with_a_few_more(raw, block, 4)
                    if not BZIP2_HEADER.match(block):
                        return  # Hadoop's bzip2 reader ignores bytes after the last stream
                decoder = make()
            started = True
            try:
                out = decoder.decompress(block)
            except (zlib.error, OSError) as error:
                raise ValueError("corrupt %s data (%s): Hadoop fails the map task on it too" % (kind, error))
            if out:
                yield out
            block = decoder.unused_data if decoder.eof else b""
    if started and not decoder.eof:
        raise ValueError("unexpected end of compressed data")
    if not started and kind != "bzip2":
        raise ValueError("an empty %s file: Hadoop fails the map task on it "
                         "(EOFException: Unexpected end of input stream)" % name.rpartition(".")[2])


BZIP2_HEADER = re.compile(rb"BZh[1-9]")


def with_a_few_more(raw: IO[bytes], block: bytes, size: int) -> bytes:
    """block, with bytes read from raw after it until it has `size` of them or raw ends."""
    while len(block) < size:
        more = raw.read(size - len(block))
        if not more:
            break
        block += more
    return block


def feed_records(raw: IO[bytes], name: str, sink: IO[bytes]) -> None:
    """Write one input to sink as a map task's stdin gets it from Hadoop: decompressed,
    a leading UTF-8 BOM dropped, lines cut like LineReader and ending in LF."""
    if name == "-":  # standard input: gzip is recognised by its magic bytes
        name = "-.gz" if raw.peek(2)[:2] == b"\x1f\x8b" else "-"
    write_lines(without_bom(decompressed(raw, name)), sink)


def feed_split(raw: IO[bytes], start: int, size: int, sink: IO[bytes]) -> None:
    """Write one split of an uncompressed file as Hadoop's LineRecordReader reads it: cut like
    LineReader, every line ending in LF (see split_bytes for which lines), a UTF-8 BOM dropped
    if the split begins the file."""
    blocks = split_bytes(raw, start, start + size)
    write_lines(without_bom(blocks) if start == 0 else blocks, sink)


def write_lines(blocks: Iterable[bytes], sink: IO[bytes]) -> None:
    """Write bytes to sink cut into lines like LineReader: LF, CR LF and a lone CR end a line
    and become LF, and a last line without one gets one."""
    cutter = LineCutter()
    last = b"\n"
    for block in blocks:
        block = cutter.feed(block)
        if block:
            sink.write(block)
            last = block[-1:]
    tail = cutter.end()
    if tail:
        sink.write(tail)
    elif last != b"\n":
        sink.write(b"\n")


def without_bom(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """The blocks, a UTF-8 BOM at the start of the first one dropped."""
    first = True
    for block in blocks:
        if first:
            block = block[len(UTF8_BOM):] if block.startswith(UTF8_BOM) else block
            first = False
        yield block


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


def feed_files_as_records(paths: List[str], sink: IO[bytes]) -> None:
    """Files of a task's raw output as "key<TAB>value" lines (see cut_output)."""
    for path in paths:
        with open(path, "rb") as f:
            for block in whole_blocks(f):
                sink.write(as_records(block) + b"\n")


def cut_output(stream: IO[bytes], prefix: str, reducers: int) -> None:
    """Cut a task's stdout into key/value records like Hadoop's TextOutputReader and write
    them as "key<TAB>value" lines (a line without TAB gets one), into PREFIX (reducers <= 1)
    or into PREFIX.N by HashPartitioner."""
    outs = [open(prefix if reducers <= 1 else "%s.%d" % (prefix, p), "wb")
            for p in range(max(reducers, 1))]
    cache = {}  # type: Dict[bytes, int]
    try:
        for block in whole_blocks(stream):
            if reducers <= 1:
                outs[0].write(as_records(block) + b"\n")
                continue
            parts = [[] for _ in range(reducers)]  # type: List[List[bytes]]
            for line in block.split(b"\n"):
                tab = line.find(b"\t")
                if tab < 0:
                    key = line
                    line += b"\t"
                else:
                    key = line[:tab]
                p = cache.get(key)
                if p is None:
                    if len(cache) > 500000:
                        cache.clear()
                    p = cache[key] = hash_partition(key, reducers)
                parts[p].append(line)
            for out, part in zip(outs, parts):
                if part:
                    out.write(b"\n".join(part) + b"\n")
    finally:
        for out in outs:
            out.close()


# ------------------------------------------------------------------------------------
# Inputs.
# ------------------------------------------------------------------------------------

class Input:
    """One map task's input: a local file, standard input or an S3 object."""

    def __init__(self, name: str, size: int, uri: Optional[str], path: Optional[str]) -> None:
        self.name = name  # as the user sees it (a path, "-" or s3://...)
        self.size = size  # of the split: the whole file, or a piece of it
        self.start = 0  # where the split begins in the file
        self.whole = True  # whether the split is the whole file
        self.uri = uri  # what Hadoop names it in mapreduce_map_input_file
        self.path = path  # the local file to read (S3: once downloaded; None: stdin)
        self.download = None  # type: Optional[Tuple[str, str]]  # S3: (source, relative path)

    def piece(self, start: int, size: int) -> "Input":
        """The split of this file that begins at start."""
        split = Input(self.name, size, self.uri, self.path)
        split.start, split.whole, split.download = start, False, self.download
        return split


def hidden(name: str) -> bool:
    return name.startswith(HIDDEN)


def walk(top: str) -> Iterator[str]:
    """Files below top, recursively and sorted, skipping hidden names like Hadoop. A folder
    that cannot be read, or a link back to a folder above it, is an error: skipping it would
    lose data without a word, and following it would never end."""
    def unreadable(error: OSError) -> None:
        raise UsageError("input %s: cannot read the folder %s (%s)" % (top, error.filename, error.strerror))

    for root, dirs, files in os.walk(top, followlinks=True, onerror=unreadable):
        loop = links_back(top, root)
        if loop is not None:
            raise UsageError("input %s: %s is a link back to %s" % (top, root, loop))
        dirs[:] = sorted(d for d in dirs if not hidden(d))
        for name in sorted(files):
            if not hidden(name):
                yield os.path.join(root, name)


def links_back(top: str, folder: str) -> Optional[str]:
    """The folder above `folder` (up to top) that it is again, through a link; else None."""
    real, floor = os.path.realpath(folder), len(top.rstrip(os.sep))
    above = os.path.dirname(folder)
    while len(above) >= floor and above != folder:
        if os.path.realpath(above) == real:
            return above
        folder, above = above, os.path.dirname(above)
    return None


def check_readable(name: str) -> None:
    """Refuse an input this harness cannot read as Hadoop would (see NOT_READ_HERE)."""
    extension = os.path.splitext(name)[1].lower()
    if extension in NOT_READ_HERE:
        raise UsageError("input %s: %s" % (name, NOT_READ_HERE[extension]))


def local_file(path: str) -> Input:
    check_readable(path)
    try:
        size = os.path.getsize(path)
    except OSError as error:  # a broken link, most often
        raise UsageError("input %s: %s" % (path, error.strerror))
    return Input(path, size, "file:" + os.path.abspath(path), path)


# ------------------------------------------------------------------------------------
# Hadoop's globs (org.apache.hadoop.fs.Globber, GlobPattern, GlobExpander), which differ from
# the shell's: [^...] negates as [!...] does, {a,b} alternates (across / too), * and ? match
# names starting with . or _ (only what the last part matches is hidden from the input), and
# a backslash escapes any character.
# ------------------------------------------------------------------------------------

GLOB_WILDCARDS = "*?[{"


def has_wildcard(pattern: str) -> bool:
    """Whether Hadoop takes the path as a glob: a *, ?, [ or { that no backslash escapes."""
    escaped = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in GLOB_WILDCARDS:
            return True
    return False


def expand_slashed_braces(pattern: str) -> List[str]:
    """GlobExpander: the patterns that a {...} holding a / stands for, one for each of its
    alternatives, recursively (a {...} without / is left for the part it is in)."""
    depth, start, commas, escaped = 0, -1, [], False
    for i, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "{":
            depth += 1
            if depth == 1:
                start, commas = i, []
        elif char == "," and depth == 1:
            commas.append(i)
        elif char == "}" and depth > 0:
            depth -= 1
            if depth == 0 and "/" in pattern[start:i]:
                cuts = [start] + commas + [i]
                return [expanded for a, b in zip(cuts, cuts[1:])
                        for expanded in expand_slashed_braces(pattern[:start] + pattern[a + 1:b] + pattern[i + 1:])]
    return [pattern]


def unescaped(part: str) -> str:
    """A path part without a wildcard, as Hadoop names it: each \\x is x."""
    return re.sub(r"\\(.)", r"\1", part)


def name_matcher(part: str) -> Callable[[str], bool]:
    """Whether a name matches one part of a path pattern: GlobPattern's regular expression for a
    part with a wildcard; equality with the part, its escapes removed, for one without."""
    if not has_wildcard(part):
        literal = unescaped(part)
        return lambda name: name == literal
    regex, in_set, curly, i = [], False, 0, 0
    while i < len(part):
        char = part[i]
        if char == "\\" and i + 1 < len(part):
            regex.append(re.escape(part[i + 1]))
            i += 1
        elif in_set:
            in_set = char != "]"
            regex.append(char)
        elif char == "[":
            in_set = True
            negated = part[i + 1:i + 2] in ("!", "^")
            regex.append("[^" if negated else "[")
            i += negated
        elif char in "*?":
            regex.append(".*" if char == "*" else ".")
        elif char == "{":
            regex.append("(?:")
            curly += 1
        elif char == "}" and curly:
            regex.append(")")
            curly -= 1
        elif char == "," and curly:
            regex.append("|")
        else:
            regex.append(re.escape(char))
        i += 1
    try:
        compiled = re.compile("".join(regex), re.DOTALL)
    except re.error as error:
        raise UsageError("glob %s: %s" % (part, error))
    return lambda name: compiled.fullmatch(name) is not None


def local_glob(pattern: str) -> List[str]:
    """The paths Hadoop's globStatus finds for a local pattern, sorted; names that start with
    _ or . are left out where the last part matches them, as FileInputFormat leaves them out."""
    found = set()  # type: Set[str]
    for expanded in expand_slashed_braces(pattern):
        root = "/" if expanded.startswith("/") else ""
        candidates = [root]
        for part in [p for p in expanded.split("/") if p]:
            matches = name_matcher(part)
            if has_wildcard(part):
                candidates = [os.path.join(c, name) for c in candidates if os.path.isdir(c or ".")
                              for name in sorted(listed(c or ".")) if matches(name)]
            else:
                candidates = [os.path.join(c, unescaped(part)) for c in candidates]
        found.update(c for c in candidates if c and os.path.lexists(c) and not hidden(os.path.basename(c)))
    return sorted(found)


def listed(folder: str) -> List[str]:
    try:
        return os.listdir(folder)
    except OSError:  # unreadable: Hadoop's listing skips it too
        return []


def local_inputs(arg: str) -> List[Input]:
    """An INPUT argument: a file, a directory (walked) or a glob pattern."""
    if not has_wildcard(arg) and "\\" not in arg:
        return local_path_inputs(arg)
    matches = local_glob(arg)  # also for escapes alone, which Hadoop takes out
    if not matches:
        hint = ""
        if os.path.lexists(arg):
            hint = (" (a file of that very name exists, but Hadoop takes *, ?, [ and { as a glob: "
                    "escape them with \\ to read it)")
        raise UsageError("input pattern %s matches 0 files%s" % (arg, hint))
    return [found for match in matches for found in local_path_inputs(match)]


def local_path_inputs(arg: str) -> List[Input]:
    """A file, or a directory (walked)."""
    try:
        os.stat(arg)
    except FileNotFoundError:
        pass
    except OSError as error:  # no permission to look, most often
        raise UsageError("input %s: %s" % (arg, error.strerror))
    if os.path.exists(arg):
        if hidden(os.path.basename(os.path.abspath(arg))):
            raise UsageError("input %s: Hadoop ignores names that start with _ or ." % arg)
        if os.path.isdir(arg):
            return [local_file(path) for path in walk(arg)]
        return [local_file(arg)]
    raise UsageError("input path does not exist: %s" % arg)


def aws(args: List[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["aws"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as err:
        raise UsageError("s3:// input needs the AWS CLI (aws) on PATH: %s" % err)


def s3_inputs(uri: str) -> List[Input]:
    """Objects under an s3:// prefix (or that a glob in the key reaches), hidden names skipped."""
    match = re.match(r"^s3://([^/]+)/?(.*)$", uri)
    if not match:
        raise UsageError("not an s3:// URI: %s" % uri)
    bucket, key = match.groups()
    found = {}  # type: Dict[str, Input]
    for pattern in expand_slashed_braces(key) if has_wildcard(key) else [key]:
        for item in s3_objects(bucket, pattern):
            found.setdefault(item.name, item)
    if not found:
        raise UsageError("input %s matches 0 objects" % uri)
    return [found[name] for name in sorted(found)]


# How many objects were listed under each s3:// prefix that inputs are downloaded from: where
# fewer are inputs, the download names them (see download_filters).
S3_LISTED = {}  # type: Dict[str, int]


def s3_objects(bucket: str, key: str) -> List[Input]:
    """The objects of s3://bucket/key: a prefix, or a glob (without a {...} that holds a /)."""
    parts = key.split("/")
    pattern = None  # type: Optional[List[Callable[[str], bool]]]
    literal = key
    if has_wildcard(key):
        first = next(i for i, part in enumerate(parts) if has_wildcard(part))
        literal = "".join(unescaped(part) + "/" for part in parts[:first])
        pattern = [name_matcher(part) for part in parts]
    listing = aws(["s3", "ls", "--recursive", "s3://%s/%s" % (bucket, literal)])
    if listing.returncode not in (0, 1):
        said = listing.stderr.decode("utf-8", "replace").strip().splitlines() or ["(nothing said)"]
        raise UsageError("cannot list s3://%s/%s: %s" % (bucket, key, said[-1]))
    found = []  # type: List[Input]
    below = literal if literal.endswith("/") or not literal else literal + "/"
    origin = "s3://%s/%s" % (bucket, below)  # what one `aws s3 cp --recursive` copies
    for line in listing.stdout.decode("utf-8", "surrogateescape").splitlines():
        fields = line.split(None, 3)
        if len(fields) < 4 or fields[3].endswith("/"):
            continue
        size, name = int(fields[2]), fields[3]
        if name.startswith(below):
            S3_LISTED[origin] = S3_LISTED.get(origin, 0) + 1
        if pattern is not None:
            names = name.split("/")
            if len(names) < len(pattern) or not all(matches(n) for matches, n in zip(pattern, names)):
                continue
            rest = names[len(pattern) - 1:]
        elif name == literal:
            rest = [name.rsplit("/", 1)[-1]]
        elif name.startswith(below):
            rest = name[len(below):].split("/")
        else:
            continue
        if any(hidden(part) for part in rest):
            continue
        object_uri = "s3://%s/%s" % (bucket, name)
        check_readable(object_uri)
        found.append(Input(object_uri, size, object_uri, None))
        if name == literal:  # the object itself
            found[-1].download = (object_uri, name.rsplit("/", 1)[-1])
        else:  # everything below the prefix comes in one `aws s3 cp --recursive`
            found[-1].download = (origin, name[len(below):])
    return found


def resolve_inputs(args: List[str]) -> List[Input]:
    inputs = []  # type: List[Input]
    for arg in args:
        if arg == "-":
            inputs.append(Input("-", 0, os.environ.get("mapreduce_map_input_file"), None))
        elif arg.startswith("s3://"):
            inputs.extend(s3_inputs(arg))
        else:
            inputs.extend(local_inputs(arg))
    if sum(1 for i in inputs if i.name == "-") > 1:
        raise UsageError("standard input (-) can be read only once")
    return inputs


def input_splits(inputs: List[Input], block_size: int) -> List[Input]:
    """The map tasks' inputs, as Hadoop's FileInputFormat (the old API, which streaming uses)
    makes them: the split size is the block size, or the whole input's size if smaller; a file
    larger than 1.1 split sizes is cut into splits of that size, the last one up to 1.1 times
    as large. Compressed files and standard input stay whole (Hadoop splits .bz2; not here)."""
    split_size = max(1, min(sum(i.size for i in inputs), block_size))
    splits = []  # type: List[Input]
    for source in inputs:
        if source.name == "-" or COMPRESSED.search(source.name) or source.size / split_size <= SPLIT_SLOP:
            splits.append(source)
            continue
        left = source.size
        while left / split_size > SPLIT_SLOP:
            splits.append(source.piece(source.size - left, split_size))
            left -= split_size
        splits.append(source.piece(source.size - left, left))
    return splits


# ------------------------------------------------------------------------------------
# Tasks.
# ------------------------------------------------------------------------------------

class Job:
    """Everything the tasks of one run share."""

    def __init__(self, opts: "Options", work: str) -> None:
        self.opts = opts
        self.work = work
        self.job_id = "job_local%d_0001" % random.randrange(1 << 31)
        self.lock = threading.Lock()
        self.counters = {}  # type: Dict[Tuple[str, str], int]
        self.processes = []  # type: List[Any]  # subprocess.Popen or ForkedProcess
        self.fork_server = None  # type: Optional[ForkServer]
        self.forked = []  # type: List[List[str]]  # the commands it starts
        self.failed = threading.Event()
        self.done_files = 0
        self.done_bytes = 0
        self.out_dir = os.path.join(work, "out")  # where part files go (-o: the staging dir)
        self.own_mapper = None  # type: Optional[List[str]]  # the command, if it is mapper.py
        self.output_uri = "file:" + os.path.abspath(opts.output or self.out_dir)

    def task_env(self, kind: str, index: int, source: Optional[Input] = None) -> Dict[str, str]:
        """The variables Hadoop Streaming gives a task (its job conf, dots as underscores)."""
        task = "task_%s_%s_%06d" % (self.job_id[4:], kind, index)
        attempt = "attempt_%s_%s_%06d_0" % (self.job_id[4:], kind, index)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("mapreduce_", "mapred_", "map_input_"))}
        ismap = "true" if kind == "m" else "false"
        env.update({
            "mapreduce_job_id": self.job_id, "mapred_job_id": self.job_id,
            "mapreduce_task_id": task, "mapred_tip_id": task,
            "mapreduce_task_attempt_id": attempt, "mapred_task_id": attempt,
            "mapreduce_task_partition": str(index), "mapred_task_partition": str(index),
            "mapreduce_task_ismap": ismap, "mapred_task_is_map": ismap,
            "mapreduce_job_reduces": str(self.opts.reducers),
            "mapred_reduce_tasks": str(self.opts.reducers),
            "mapreduce_output_fileoutputformat_outputdir": self.output_uri,
            "mapred_output_dir": self.output_uri,
            "TMPDIR": self.work,
        })
        if source is not None and source.uri is not None:
            for prefix in ("mapreduce_map_input_", "map_input_"):
                env[prefix + "file"] = source.uri
                env[prefix + "start"] = str(source.start)
                env[prefix + "length"] = str(source.size)
        return env

    def start(self, argv: List[str], stage: str, **kwargs) -> Any:
        """Start a task's process: forked by the fork server if it runs one of the pair's
        scripts (see ForkServer), else as a program."""
        with self.lock:
            if self.failed.is_set():
                raise TaskFailed("")
            try:
                if self.fork_server is not None and any(argv is f for f in self.forked):
                    proc = self.fork_server.spawn(argv, kwargs.get("stdin"), kwargs.get("stdout"),
                                                  kwargs.get("stderr"), kwargs["env"])
                else:
                    proc = subprocess.Popen(argv, **kwargs)
            except OSError as err:
                raise TaskFailed("%s: cannot start %s: %s" % (PROG, stage, err))
            self.processes.append(proc)
            return proc

    def kill_all(self) -> None:
        with self.lock:
            for proc in self.processes:
                if proc.poll() is None:
                    try:
                        proc.kill()
                    except OSError:
                        pass

    def absorb_stderr(self, path: str) -> List[str]:
        """Sum the counters in a task's stderr file; its other lines."""
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        shown = []  # type: List[str]
        with self.lock:
            for line in re.split(r"\r\n|\r|\n", text):
                if line.startswith("reporter:"):
                    self._reporter_line(line)
                elif line:
                    shown.append(line)
        return shown

    def echo(self, lines: List[str]) -> None:
        """A finished task's own stderr lines, together, unless the run already failed."""
        with self.lock:
            if lines and not self.failed.is_set():
                sys.stderr.write("\n".join(lines) + "\n")
                sys.stderr.flush()

    def _reporter_line(self, line: str) -> None:
        if not line.startswith("reporter:counter:"):
            return  # reporter:status: lines only set a task's status in Hadoop
        columns = line[len("reporter:counter:"):].strip().split(",")
        while columns and columns[-1] == "":  # Java's String.split drops trailing empties
            columns.pop()
        if len(columns) == 3 and COUNTER_RE.match(columns[2]):
            key = (columns[0], columns[1])
            self.counters[key] = self.counters.get(key, 0) + int(columns[2])
        else:
            sys.stderr.write("%s: cannot parse counter line: %s\n" % (PROG, line))


def program(argv: List[str], here: str) -> List[str]:
    """Resolve the program like PipeMapRed: the task's directory first, then PATH (and,
    standing in for -files, the directory of this script)."""
    prog = argv[0]
    if os.path.isabs(prog) or "/" in prog:
        return argv
    for folder in [os.getcwd(), here] + os.environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(folder or ".", prog)
        if os.path.isfile(candidate):
            return [os.path.abspath(candidate)] + argv[1:]
    return argv


class Feeder(threading.Thread):
    """Writes a task's stdin from this process (reading, decompressing, cutting lines)."""

    def __init__(self, write: Callable[[IO[bytes]], None], sink: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.write, self.sink = write, sink
        self.error = None  # type: Optional[str]
        self.note = None  # type: Optional[str]

    def run(self) -> None:
        try:
            self.write(self.sink)
            self.sink.close()
        except BrokenPipeError:
            self.note = ("the task stopped reading its input before the end (Hadoop fails such "
                         "a task once the input outgrows its pipe buffers)")
        except (ValueError, OSError, EOFError) as err:
            self.error = str(err)
        except Exception as err:  # never a task that seems to succeed with its input cut short
            self.error = "%s: %s" % (type(err).__name__, err)
        finally:
            try:
                self.sink.close()
            except OSError:
                pass


Stage = "Tuple[str, List[str], Dict[str, str]]"  # a string: typing is not imported at run time


def pipeline(job: Job, stages: List[Stage], what: str, tag: str, stdin: Optional[IO] = None,
             stdout: Optional[IO] = None, feed: Optional[Callable[[IO[bytes]], None]] = None,
             collect: Optional[Callable[[IO[bytes]], None]] = None) -> None:
    """Run processes connected by pipes, their stdin written by `feed` (or `stdin`), the
    last one's stdout read by `collect` (or going to `stdout`); each one's stderr goes to a
    file. Raise TaskFailed naming the first stage that failed."""
    procs = []  # type: List[Tuple[str, subprocess.Popen, str]]
    previous = subprocess.PIPE if feed is not None else stdin
    feeder = None  # type: Optional[Feeder]
    try:
        for n, (stage, argv, env) in enumerate(stages):
            last = n == len(stages) - 1
            err_path = os.path.join(job.work, "%s.%d.stderr" % (tag, n))
            with open(err_path, "wb") as err:
                proc = job.start(argv, stage, stdin=previous, stderr=err, env=env,
                                 stdout=(subprocess.PIPE if collect is not None else stdout)
                                 if last else subprocess.PIPE)
            if n == 0 and feed is not None:
                feeder = Feeder(feed, proc.stdin)
                feeder.start()
            if n > 0 and previous is not None:
                previous.close()  # the pipe now belongs to the next process only
            previous = proc.stdout
            procs.append((stage, proc, err_path))
        collect_error = None  # type: Optional[str]
        if collect is not None:
            try:
                collect(procs[-1][1].stdout)
            except (ValueError, OSError) as err:
                collect_error = "%s: cannot write the output of %s: %s" % (PROG, what, err)
            procs[-1][1].stdout.close()
    except BaseException:
        if previous is not None and previous not in (stdin, subprocess.PIPE):
            previous.close()
        for _, proc, _ in procs:
            proc.kill()
            proc.wait()
        raise
    for _, proc, _ in procs:
        proc.wait()
    while feeder is not None and feeder.is_alive() and not job.failed.is_set():
        feeder.join(0.1)  # not waited for once the job stops: it may wait for a named pipe's writer
    report = None  # type: Optional[str]
    shown = []  # type: List[str]
    if feeder is not None and feeder.error and not job.failed.is_set():
        report = "%s: cannot read %s: %s" % (PROG, what, feeder.error)
    elif feeder is not None and feeder.note:
        shown.append("%s: %s: %s" % (PROG, what, feeder.note))
    failed = []  # type: List[Tuple[str, subprocess.Popen, List[str]]]
    for stage, proc, err_path in procs:
        lines = job.absorb_stderr(err_path)
        shown.extend(lines)
        if proc.returncode != 0:
            failed.append((stage, proc, lines))
    if failed and report is None and not job.failed.is_set():
        for stage, proc, lines in failed:
            if proc.args is job.own_mapper and proc.returncode == 2:
                said = re.sub(r"^mapper\.py: (error: )?", "", lines[-1] if lines else "")
                raise FlagsRefused("%s: mapper.py refuses the job flags: %s" % (PROG, said))
        report = failure_report(failed, what)
    report = report or collect_error
    if report:
        raise TaskFailed(report)
    job.echo(shown)


def failure_report(failed: List[Tuple[str, subprocess.Popen, List[str]]], what: str) -> str:
    """The report on the stage to blame. A stage killed by SIGPIPE only wrote to a later
    stage that had already stopped reading, so a later stage's own failure comes first."""
    own = [f for f in failed if f[1].returncode != -signal.SIGPIPE]
    stage, proc, lines = (own or failed)[0]
    status = proc.returncode
    how = ("killed by signal %d" % -status) if status < 0 else ("exit status %d" % status)
    report = "%s: %s failed (%s) on %s\n  command: %s" % (
        PROG, stage, how, what, " ".join(proc.args))
    if lines:
        report += "\n  last lines of its stderr:\n" + "\n".join(
            "    " + line for line in lines[-10:])
    return report


class Options:
    def __init__(self) -> None:
        self.output = None  # type: Optional[str]
        self.force = False
        self.reducers = 1
        self.combine = False
        self.jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
        self.mapper = None  # type: Optional[str]
        self.reducer = None  # type: Optional[str]
        self.combiner = None  # type: Optional[str]
        self.hadoop = False
        self.fork_server = True
        self.block_size = LOCAL_BLOCK_SIZE  # type: Any
        self.inputs = []  # type: List[str]
        self.flags = []  # type: List[str]


def parse_options(argv: List[str]) -> Options:
    opts = Options()
    with_value = {"-o": "output", "--output": "output", "-r": "reducers", "--reducers": "reducers",
                  "-j": "jobs", "--jobs": "jobs", "--mapper": "mapper", "--reducer": "reducer",
                  "--combiner": "combiner", "--block-size": "block_size"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            opts.flags = argv[i + 1:]
            break
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in with_value:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise UsageError("%s needs a value" % arg)
                value = argv[i]
            setattr(opts, with_value[name], value)
        elif arg in ("-c", "--combine"):
            opts.combine = True
        elif arg == "--force":
            opts.force = True
        elif arg == "--hadoop":
            opts.hadoop = True
        elif arg == "--no-fork-server":
            opts.fork_server = False
        elif arg.startswith("-") and arg != "-":
            raise UsageError("unknown option %s (see --help)" % arg)
        else:
            opts.inputs.append(arg)
        i += 1
    for name in ("reducers", "jobs", "block_size"):
        value = getattr(opts, name)
        if not (isinstance(value, int) or re.match(r"^[0-9]+$", value)):
            raise UsageError("--%s needs a number, not %r" % (name.replace("_", "-"), value))
        setattr(opts, name, int(value))
    if opts.jobs < 1:
        raise UsageError("--jobs needs at least 1")
    if opts.block_size < 1:
        raise UsageError("--block-size needs at least 1")
    if opts.combiner is not None:
        opts.combine = True
    if opts.combine and opts.combiner is None and opts.reducer is not None:
        raise UsageError("-c with --reducer needs --combiner CMD")
    if opts.output == "":
        raise UsageError("-o needs a directory")
    if opts.output and is_uri(opts.output) and not opts.hadoop:
        raise UsageError("-o %s: only a local directory here (with --hadoop, any URI Hadoop "
                         "writes to)" % opts.output)
    return opts


def script_command(here: str, name: str, args: List[str]) -> List[str]:
    """One of this project's scripts, run by this Python. The pair uses only the standard
    library, so it runs with -S (no site-packages set-up: on some machines that start-up
    costs more than a small input's map task)."""
    path = os.path.join(here, name)
    if not os.path.isfile(path):
        raise UsageError("%s is missing next to run_local.sh (%s)" % (name, here))
    return [sys.executable, "-S", path] + args


def user_command(command: str, here: str, what: str) -> List[str]:
    argv = split_args(command)
    if not argv:
        raise UsageError("%s: an empty command" % what)
    return program(argv, here)


class Commands:
    """The mapper, reducer and combiner commands, as argument lists."""

    def __init__(self, opts: Options, here: str) -> None:
        self.own = []  # type: List[List[str]]  # those that run this project's scripts
        self.compiled = []  # type: List[List[str]]  # those of them that run from bytecode
        self.defining_only = set()  # type: Set[str]  # bytecode files of scripts that defines_only()
        if opts.mapper is None:
            self.mapper = self._own(script_command(here, "mapper.py", opts.flags))
        else:
            self.mapper = user_command(opts.mapper, here, "--mapper") + opts.flags
        if opts.reducer is None:
            self.reducer = self._own(script_command(here, "reducer.py", []))
        else:
            self.reducer = user_command(opts.reducer, here, "--reducer")
        self.combiner = None  # type: Optional[List[str]]
        if opts.combine and opts.reducers > 0:
            if opts.combiner is None:
                self.combiner = self._own(script_command(here, "reducer.py", ["--combine"]))
            else:
                self.combiner = user_command(opts.combiner, here, "--combiner")

    def _own(self, argv: List[str]) -> List[str]:
        self.own.append(argv)
        return argv

    def use_bytecode(self, work: str, kept: Kept) -> None:
        """Run this project's scripts from bytecode, WORK/NAME.pyc. Python compiles a script
        that it runs as a program every time (it caches only imported modules), and that
        costs each of hundreds of small map tasks as much as reading its input. The code,
        and whether the script defines_only(), is kept from run to run while the script stays
        the same. A script that does not compile is left as it is, to fail in its task as it
        would on the cluster."""
        import importlib.util
        compiled = {}  # type: Dict[str, Optional[str]]  # reducer.py serves as reducer and combiner
        for argv in self.own:
            source = argv[2]
            if source not in compiled:
                compiled[source] = None
                try:
                    code, plain = script_code(source, kept)
                except (OSError, SyntaxError, ValueError):
                    continue
                target = os.path.join(work, os.path.basename(source) + "c")
                try:
                    with open(target, "wb") as f:  # the header of a .pyc; run as a program, it is not checked
                        f.write(importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code))
                except OSError:  # no room: the script runs from its source
                    continue
                compiled[source] = target
                if plain:
                    self.defining_only.add(target)
            if compiled[source] is not None:
                argv[2] = compiled[source]  # type: ignore[assignment]
                self.compiled.append(argv)


def script_code(path: str, kept: Kept) -> Tuple[Any, bool]:
    """A script's code, and whether it defines_only(), kept while the script (and its path,
    which tracebacks name) stays the same."""
    with open(path, "rb") as f:
        source = f.read()
    return kept(os.path.basename(path), os.fsencode(path) + b"\0" + source,
                lambda: (compile(source, path, "exec"), defines_only(source, path)))


# ------------------------------------------------------------------------------------
# Starting the pair's tasks: forked from a Python that has already imported what they use.
# ------------------------------------------------------------------------------------
# A map task of a 1 MB file reads it in about 20 ms, while a new python3 spends some 50 ms
# starting and importing re, json, decimal and argparse before reading a byte. So this
# project's own scripts are run by a fork server: one process per job that imports those
# modules once, then forks a child per task. The child is a new process like any other
# task's (its own stdin, stdout, stderr, environment and argv, as Hadoop gives them); it
# runs the script's code as __main__ and ends the way `python3 -S script` ends. A --mapper,
# --reducer or --combiner command always starts as its own program, and --no-fork-server
# starts the pair that way too.

# The modules mapper.py and reducer.py import (checked by a test), and shutil, which
# argparse imports each time it builds a parser.
PRELOADED = ("argparse", "collections", "datetime", "decimal", "json", "math", "operator", "os", "re", "shutil",
             "sys", "zlib")

# The server, run as `python3 -S -c FORK_SERVER SOCKET_FD MODULE,...`. It imports the
# modules and parses a sample command line with argparse, whose own regular expressions are
# compiled on first use. The engine starts it first thing, so that this happens while the
# engine compiles the scripts. Then it reads requests from the socket, each one a
# length-prefixed marshal of ("warm", [SCRIPT, ...]): run the top level of each SCRIPT once
# under another name than __main__, which leaves its regular expressions compiled in re's
# cache for every child (only scripts that define and nothing else are given, see
# defines_only); ("run", id, script, argv, env) with the task's stdin, stdout and stderr
# attached (SCM_RIGHTS); or ("kill", pid). It answers ("started", id, pid),
# ("refused", id, reason) and ("exited", pid, returncode).
FORK_SERVER = r'''
import array, marshal, os, select, signal, socket, struct, sys, types

control = socket.socket(fileno=int(sys.argv[1]))
FD = array.array("i").itemsize
codes = {}
children = set()


def send(message):
    body = marshal.dumps(message)
    control.sendall(struct.pack("!I", len(body)) + body)


def receive():
    header, fds = b"", []
    while len(header) < 4:
        data, ancdata, _, _ = control.recvmsg(4 - len(header), socket.CMSG_SPACE(3 * FD))
        if not data:
            return None, fds
        header += data
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.extend(array.array("i", payload[:len(payload) - len(payload) % FD]))
    size, = struct.unpack("!I", header)
    body = b""
    while len(body) < size:
        data = control.recv(size - len(body))
        if not data:
            return None, fds
        body += data
    return marshal.loads(body), fds


def returncode(status):
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def reap():
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        children.discard(pid)
        send(("exited", pid, returncode(status)))


def code_of(script):
    if script not in codes:
        with open(script, "rb") as f:
            data = f.read()
        codes[script] = marshal.loads(data[16:]) if script.endswith(".pyc") else compile(data, script, "exec")
    return codes[script]


def exit_status(stop):
    code = stop.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write("%s\n" % (code,))
    return 1


def run_as_main(code, script, argv, env, fds, keep):
    # In the child: become the task's process, run the script, end as `python3 -S script` does.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) | keep:
        if fd > 2:
            os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = argv
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    main = types.ModuleType("__main__")
    main.__file__ = script
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    status, interrupted = 0, False
    try:
        exec(code, main.__dict__)
    except SystemExit as stop:
        status = exit_status(stop)
    except BaseException:
        kind, error, trace = sys.exc_info()
        error.__traceback__ = trace.tb_next  # without this server's frame
        sys.excepthook(kind, error, trace.tb_next)
        status, interrupted = 1, kind is KeyboardInterrupt
    if "threading" in sys.modules:
        sys.modules["threading"]._shutdown()
    if "atexit" in sys.modules:
        sys.modules["atexit"]._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception as error:  # as CPython's own exit reports it
            status = 120
            try:
                sys.stderr.write("Exception ignored in: %r\n%s: %s\n" % (stream, type(error).__name__, error))
                sys.stderr.flush()
            except Exception:
                pass
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(status)


def start(request_id, script, argv, env, fds, keep):
    try:
        code = code_of(script)
    except (OSError, ValueError, EOFError, SyntaxError) as error:
        send(("refused", request_id, "%s: %s" % (script, error)))
        return
    pid = os.fork()
    if pid == 0:
        try:
            run_as_main(code, script, argv, env, fds, keep)
        finally:
            os._exit(1)
    children.add(pid)
    send(("started", request_id, pid))


def preload(modules):
    for name in modules:
        __import__(name)
    if "argparse" in sys.modules:
        warm_up_argparse(sys.modules["argparse"])


def warm(scripts):
    for script in scripts:
        try:
            exec(code_of(script), {"__name__": "__fork_server__", "__builtins__": __builtins__})
        except BaseException:
            pass  # its tasks will fail the same way, on their own


def warm_up_argparse(argparse):
    # argparse compiles a regular expression the first time a parser meets each kind of
    # argument: a task would do that (2-4 ms) before reading a byte. Here it is done once.
    parser = argparse.ArgumentParser(prog="warm-up")
    parser.add_argument("--one")
    parser.add_argument("--maybe", nargs="?", const="")
    parser.add_argument("--some", nargs="*")
    parser.add_argument("--more", nargs="+")
    parser.add_argument("--two", nargs=2)
    parser.add_argument("--flag", action="store_true")
    parser.add_argument("--choice", choices=["a"])
    parser.add_argument("item", nargs="?")
    parser.parse_args(["--one", "1", "--maybe", "--some", "--more", "x", "--two", "y", "z", "--flag",
                       "--choice", "a", "item"])


def serve():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a ^C is the engine's to handle
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    keep = {control.fileno(), wake_read, wake_write}
    while True:
        ready = select.select([control, wake_read], [], [])[0]
        if wake_read in ready:
            os.read(wake_read, 4096)
            reap()
        if control not in ready:
            continue
        message, fds = receive()
        try:
            if message is None:
                break
            if message[0] == "run" and len(fds) == 3:
                start(message[1], message[2], message[3], message[4], fds, keep)
            elif message[0] == "warm":
                warm(message[1])
            elif message[0] == "kill" and message[1] in children:
                os.kill(message[1], signal.SIGKILL)
        finally:
            for fd in fds:
                os.close(fd)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    signal.set_wakeup_fd(-1)
    while children:
        pid, status = os.waitpid(-1, 0)
        children.discard(pid)


preload(sys.argv[2].split(","))
serve()
os._exit(0)  # nothing is left to flush: the interpreter's clean-up would only make the job wait
'''


def defines_only(source: bytes, path: str) -> bool:
    """Whether a script's top level only imports, defines and assigns, and runs anything else
    under `if __name__ == "__main__":` (as mapper.py and reducer.py do), so that running it
    under another name only makes its definitions."""
    import ast
    try:
        tree = ast.parse(source, path)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.If):
            test = node.test
            if not (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
                    and test.left.id == "__name__" and not node.orelse
                    and all(isinstance(op, ast.Eq) for op in test.ops)):
                if not (type(test).__name__ in ("Constant", "NameConstant") and not getattr(test, "value", True)):
                    return False
        elif isinstance(node, ast.Expr):
            if type(node.value).__name__ not in ("Constant", "Str"):
                return False
        elif not isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef,
                                   ast.Assign, ast.AnnAssign)):
            return False
    return True


class ForkedProcess:
    """A task the fork server started: what pipeline() uses of a subprocess.Popen."""

    def __init__(self, server: "ForkServer", args: List[str]) -> None:
        self.server = server
        self.args = args
        self.stdin = None  # type: Optional[IO[bytes]]
        self.stdout = None  # type: Optional[IO[bytes]]
        self.stderr = None  # type: Optional[IO[bytes]]
        self.pid = 0
        self.returncode = None  # type: Optional[int]
        self.refused = None  # type: Optional[str]
        self.started = threading.Event()
        self.exited = threading.Event()

    def poll(self) -> Optional[int]:
        return self.returncode

    def wait(self) -> int:
        self.exited.wait()
        return self.returncode  # type: ignore[return-value]

    def kill(self) -> None:
        if self.returncode is None and self.pid:
            self.server.send(("kill", self.pid))


class ForkServer:
    """The job's fork server (see FORK_SERVER), and a thread that reads its answers."""

    @staticmethod
    def available() -> bool:
        return hasattr(os, "fork") and hasattr(socket, "AF_UNIX") and hasattr(socket.socket, "sendmsg")

    def __init__(self, env: Dict[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs, open(os.devnull, "rb") as nothing:
            self.process = subprocess.Popen(
                [sys.executable, "-S", "-c", FORK_SERVER, str(theirs.fileno()), ",".join(PRELOADED)],
                stdin=nothing, stdout=subprocess.DEVNULL, env=env, pass_fds=[theirs.fileno()])
        self.socket = ours
        self.lock = threading.Lock()  # the state below
        self.send_lock = threading.Lock()  # writing to the socket
        self.gone = False
        self.requests = {}  # type: Dict[int, ForkedProcess]
        self.by_pid = {}  # type: Dict[int, ForkedProcess]
        self.reader = threading.Thread(target=self._read_answers, daemon=True)
        self.reader.start()

    def warm(self, scripts: List[str]) -> None:
        """Have the server run these scripts' top level once (see FORK_SERVER)."""
        self.send(("warm", scripts))

    def send(self, message: Tuple, fds: Sequence[int] = ()) -> None:
        body = marshal.dumps(message)
        data = struct.pack("!I", len(body)) + body
        with self.send_lock:
            try:
                sent = self.socket.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                     array.array("i", fds))] if fds else [])
                self.socket.sendall(data[sent:])
            except OSError:
                pass  # the server is gone: _read_answers has ended every task

    def spawn(self, argv: List[str], stdin: Any, stdout: Any, stderr: Any,
              env: Dict[str, str]) -> ForkedProcess:
        """Start `python3 -S SCRIPT ARGS...` (argv) forked from the server; stdin, stdout
        and stderr as subprocess.Popen takes them (PIPE, a file, or None to share ours)."""
        proc = ForkedProcess(self, argv)
        mine = []  # type: List[int]  # the child's ends of new pipes: closed here once sent
        fds = []  # type: List[int]
        for n, (stream, mode) in enumerate(((stdin, "wb"), (stdout, "rb"), (stderr, "rb"))):
            if stream == subprocess.PIPE:
                read, write = os.pipe()
                child, parent = (read, write) if n == 0 else (write, read)
                setattr(proc, ("stdin", "stdout", "stderr")[n], open(parent, mode))
                mine.append(child)
                fds.append(child)
            else:
                fds.append(n if stream is None else stream.fileno())
        request_id = id(proc)
        with self.lock:
            registered = not self.gone  # else no answer will come
            if registered:
                self.requests[request_id] = proc
        try:
            if registered:
                self.send(("run", request_id, argv[2], argv[2:], env), fds)
        finally:
            for fd in mine:
                os.close(fd)
        if registered:
            proc.started.wait()
        if not proc.pid:
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            raise OSError(proc.refused or "the fork server stopped")
        return proc

    def _read_answers(self) -> None:
        stream = self.socket.makefile("rb")
        while True:
            try:
                header = stream.read(4)
                body = stream.read(struct.unpack("!I", header)[0]) if len(header) == 4 else b""
                answer = marshal.loads(body) if body else None
            except (OSError, EOFError, ValueError):  # killed with us (a signal to the group): a reset
                answer = None
            if answer is None:
                break
            with self.lock:
                if answer[0] == "started":
                    proc = self.requests.pop(answer[1])
                    proc.pid = answer[2]
                    self.by_pid[proc.pid] = proc
                    proc.started.set()
                elif answer[0] == "refused":
                    proc = self.requests.pop(answer[1])
                    proc.refused = answer[2]
                    proc.started.set()
                elif answer[0] == "exited" and answer[1] in self.by_pid:
                    proc = self.by_pid.pop(answer[1])
                    proc.returncode = answer[2]
                    proc.exited.set()
        with self.lock:  # the server is gone: what it ran is gone too
            self.gone = True
            for proc in list(self.requests.values()) + list(self.by_pid.values()):
                proc.refused = proc.refused or "the fork server stopped"
                if proc.returncode is None:
                    proc.returncode = -signal.SIGKILL
                proc.started.set()
                proc.exited.set()
            self.requests.clear()
            self.by_pid.clear()

    def close(self) -> None:
        """No more tasks: the server kills what still runs, and ends."""
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.process.wait()
        self.reader.join()
        self.socket.close()


def sort_command(job: Job, files: List[str]) -> List[str]:
    """Sort by the key (the bytes before the first TAB) with LC_ALL=C, ties by the whole line
    so that the order is the same whatever the order of the map tasks."""
    return ["sort", "-t", "\t", "-k1,1", "-T", job.work] + files


def sort_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["LC_ALL"] = "C"
    return env


def download(job: Job, inputs: List[Input]) -> None:
    """Copy the S3 inputs into the work directory, one `aws s3 cp` per prefix (the AWS CLI
    transfers in parallel; a process per object would cost a CLI start-up each)."""
    targets = {}  # type: Dict[str, str]
    wanted = {}  # type: Dict[str, List[str]]
    for source in inputs:
        if source.download is not None:
            wanted.setdefault(source.download[0], []).append(source.download[1])
    for source in inputs:
        if source.download is None:
            continue
        origin, relative = source.download
        if origin not in targets:
            targets[origin] = os.path.join(job.work, "s3", str(len(targets)))
            recursive = ["--recursive"] if origin.endswith("/") else []
            if recursive:
                recursive += download_filters(origin, sorted(set(wanted[origin])))
            target = targets[origin] + ("/" if recursive else "/" + relative)
            stage = "aws s3 cp %s" % origin
            with open(os.devnull, "rb") as nothing:
                pipeline(job, [(stage, ["aws", "s3", "cp", "--only-show-errors", "--no-progress"]
                                + recursive + [origin, target], dict(os.environ))],
                         origin, "s3.%d" % len(targets), stdin=nothing)
        source.path = os.path.join(targets[origin], *relative.split("/"))
        if not os.path.isfile(source.path):
            raise TaskFailed("%s: %s was not downloaded" % (PROG, source.name))


def download_filters(origin: str, wanted: List[str]) -> List[str]:
    """`aws s3 cp --recursive` options that copy from origin what the job reads, not all of
    it (a glob, or names Hadoop skips): the objects by name, or, for many, the folders that
    hold them. (The CLI matches each listed object against each filter: too many of them cost
    more than copying the rest.)"""
    listed = S3_LISTED.get(origin, 0)
    if len(wanted) >= listed:
        return []
    names = wanted
    if len(names) * listed > FILTER_MATCHES:
        names = sorted({name.rpartition("/")[0] + "/*" for name in wanted if "/" in name}
                       | {name for name in wanted if "/" not in name})
    if len(names) * listed > FILTER_MATCHES:
        sys.stderr.write("%s: copying all %d objects under %s for %d inputs spread over %d folders\n"
                         % (PROG, listed, origin, len(wanted), len(names)))
        return []
    escape = lambda name: re.sub(r"([*?\[])", r"[\1]", name)  # noqa: E731  (the CLI's fnmatch)
    filters = ["--exclude", "*"]
    for name in names:
        filters += ["--include", escape(name[:-1]) + "*" if name.endswith("/*") else escape(name)]
    return filters


FILTER_MATCHES = 5000000  # filters times objects listed: a few seconds of the CLI's time


def already_lines(path: str) -> bool:
    """Whether a local file is, as it is, what Hadoop would give its mapper (not compressed,
    no CR, no BOM, empty or ending in LF), so that the mapper can read it directly. The file
    is looked at in place (mapped, not read: no copy, half the CPU); if it cannot be mapped,
    the answer is no, and its lines go through feed_records, which gives the same bytes."""
    status = os.stat(path)
    if not stat.S_ISREG(status.st_mode):  # a named pipe (<(...)), a device: its size says nothing
        return False
    size = status.st_size
    if COMPRESSED.search(path) or size > 1 << 28:
        return False
    if size == 0:
        return True
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return view[-1:] == b"\n" and view[:len(UTF8_BOM)] != UTF8_BOM and view.find(b"\r") < 0
    except (OSError, ValueError):  # a file system without mmap, or a file that shrank meanwhile
        return False


def run_map(job: Job, cmds: Commands, index: int, source: Input) -> None:
    opts = job.opts
    tag = "m%06d" % index
    env = job.task_env("m", index, source)
    if opts.reducers == 0:
        out = os.path.join(job.out_dir, "part-%05d" % index)
    else:
        out = os.path.join(job.work, "map", tag)
    what = "input %s%s (map task %d)" % (
        source.name, "" if source.whole else ", bytes %d-%d" % (source.start, source.start + source.size), index)
    collect = lambda stream: cut_output(stream, out, opts.reducers)  # noqa: E731
    stages = [("mapper", cmds.mapper, env)]  # type: List[Stage]
    if source.path is None:  # standard input
        pipeline(job, stages, what, tag, collect=collect,
                 feed=lambda sink: feed_records(sys.stdin.buffer, "-", sink))
    elif not source.whole:
        def feed_piece(sink: IO[bytes]) -> None:
            with open(source.path or "", "rb") as raw:
                feed_split(raw, source.start, source.size, sink)
        pipeline(job, stages, what, tag, feed=feed_piece, collect=collect)
    elif already_lines(source.path):
        with open(source.path, "rb") as stdin:
            pipeline(job, stages, what, tag, stdin=stdin, collect=collect)
    else:
        def feed(sink: IO[bytes]) -> None:
            with open(source.path or "", "rb") as raw:
                feed_records(raw, source.name, sink)
        pipeline(job, stages, what, tag, feed=feed, collect=collect)
    if cmds.combiner is not None:
        # Hadoop runs the combiner on each partition of the sorted map output. What it writes
        # is cut into key/value records on the reduce side (feed_files_as_records).
        for p in range(opts.reducers):
            part = out if opts.reducers == 1 else "%s.%d" % (out, p)
            if os.path.getsize(part) == 0:
                continue
            combined = part + ".combined"
            with open(combined, "wb") as sink:
                pipeline(job, [("sort", sort_command(job, [part]), sort_env()),
                               ("combiner", cmds.combiner, env)],
                         "the combiner of input %s (map task %d, partition %d)"
                         % (source.name, index, p), "%s.c%d" % (tag, p), stdout=sink)
            os.replace(combined, part)
    with job.lock:
        job.done_files += 1
        job.done_bytes += source.size


def run_reduce(job: Job, cmds: Commands, index: int, map_count: int) -> None:
    opts = job.opts
    files = [os.path.join(job.work, "map", "m%06d" % m + ("" if opts.reducers == 1 else ".%d" % index))
             for m in range(map_count)]
    files = [f for f in files if os.path.getsize(f) > 0]
    part = os.path.join(job.out_dir, "part-%05d" % index)
    env = job.task_env("r", index)
    what = "reduce task %d" % index
    if not files:
        # Hadoop starts the reducer but, with no input, keeps neither its output nor counters.
        err_path = os.path.join(job.work, "r%06d.stderr" % index)
        with open(os.devnull, "wb") as null, open(os.devnull, "rb") as empty, \
                open(err_path, "w+b") as err:
            proc = job.start(cmds.reducer, "reducer", stdin=empty, stdout=null, stderr=err, env=env)
            proc.wait()
            err.seek(0)
            text = err.read()
        open(part, "wb").close()
        if proc.returncode != 0:
            raise TaskFailed("%s: reducer failed (exit status %d) on %s (no input)\n%s" % (
                PROG, proc.returncode, what, text.decode("utf-8", "replace")[-2000:]))
        return
    stages = [("sort", sort_command(job, files), sort_env()),
              ("reducer", cmds.reducer, env)]  # type: List[Stage]
    feed = None  # type: Optional[Callable[[IO[bytes]], None]]
    if cmds.combiner is not None:  # the combiners' output, cut into records first
        stages[0] = ("sort", sort_command(job, []), sort_env())
        feed = lambda sink: feed_files_as_records(files, sink)  # noqa: E731
    pipeline(job, stages, what, "r%06d" % index, feed=feed,
             collect=lambda stream: cut_output(stream, part, 1))


def run_tasks(job: Job, calls: List[Tuple]) -> None:
    """Run (function, args...) tasks, jobs at a time, in threads; stop at the first failure."""
    failures = []  # type: List[TaskFailed]
    errors = []  # type: List[BaseException]  # anything else a task raised: raised here
    pending = iter(calls)  # shared by the workers: each takes the next task

    def worker() -> None:
        for call in pending:
            if job.failed.is_set():
                return
            try:
                call[0](*call[1:])
            except TaskFailed as failure:
                with job.lock:
                    if not job.failed.is_set() and str(failure):
                        failures.append(failure)
                    job.failed.set()
                job.kill_all()
            except BaseException as error:
                errors.append(error)
                job.failed.set()
                job.kill_all()

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(min(job.opts.jobs, len(calls)))]
    for thread in workers:
        thread.start()
    try:
        for thread in workers:
            thread.join()
    except BaseException:  # ^C or a SIGTERM here: stop the tasks, then let the workers end
        job.failed.set()
        job.kill_all()
        for thread in workers:
            thread.join()
        raise
    if errors:
        raise errors[0]
    if job.failed.is_set():
        raise failures[0] if failures else TaskFailed("%s: a task failed" % PROG)


class Progress(threading.Thread):
    """Files done, bytes and elapsed time on a terminal's stderr, once the run is long."""

    def __init__(self, job: Job, total_files: int, total_bytes: int) -> None:
        super().__init__(daemon=True)
        self.job, self.total_files, self.total_bytes = job, total_files, total_bytes
        self.stop = threading.Event()
        self.shown = False
        self.started = time.time()
        self.phase = "map"

    def run(self) -> None:
        while not self.stop.wait(1.0):
            elapsed = time.time() - self.started
            if elapsed < 3:
                continue
            sys.stderr.write("\r%s: %s: %d/%d files, %.1f/%.1f MB, %.0f s\033[K" % (
                PROG, self.phase, self.job.done_files, self.total_files,
                self.job.done_bytes / 1e6, self.total_bytes / 1e6, elapsed))
            sys.stderr.flush()
            self.shown = True

    def finish(self) -> None:
        self.stop.set()
        if self.is_alive():
            self.join()
        if self.shown:
            sys.stderr.write("\r\033[K")


def print_counters(counters: Dict[Tuple[str, str], int]) -> None:
    lines = ["Counters: %d" % len(counters)]
    group = None
    for (g, name), value in sorted(counters.items()):
        if g != group:
            lines.append("\t" + g)
            group = g
        lines.append("\t\t%s=%d" % (name, value))
    sys.stderr.write("\n".join(lines) + "\n")


# What a job's output folder holds: its part files and _SUCCESS (Hadoop's local file system
# also writes a .NAME.crc beside each).
JOB_OUTPUT_NAME = re.compile(r"\.?(part-[mr]?-?[0-9]+(\.[A-Za-z0-9]+)?|_SUCCESS)(\.crc)?\Z")


def within(path: str, folder: str) -> bool:
    """Whether path is folder or below it, links resolved."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder + os.sep)


class Output:
    """-o DIR: refused if it exists (unless --force); written as STAGING inside a hidden
    temporary sibling of DIR, and renamed into place at the end."""

    def __init__(self, path: str, force: bool, create: bool = True) -> None:
        self.path = os.path.abspath(path)
        self.force = force
        if os.path.lexists(self.path) and not force:
            raise UsageError("output directory %s already exists (Hadoop refuses it too); "
                             "remove it or add --force" % path)
        if os.path.lexists(self.path):
            self.check_is_job_output(path)
        parent = os.path.dirname(self.path)
        above = parent
        while not os.path.lexists(above):
            above = os.path.dirname(above)
        if not os.path.isdir(above):
            raise UsageError("cannot write the output directory %s: %s is a file" % (path, above))
        self.made_below = above if above != parent else None  # the folders made for it: gone if it fails
        try:
            os.makedirs(parent, exist_ok=True)
            self.temp = tempfile.mkdtemp(prefix=".%s.tmp-" % os.path.basename(self.path), dir=parent)
        except OSError as error:
            raise UsageError("cannot write the output directory %s: %s" % (path, error.strerror))
        self.staging = os.path.join(self.temp, os.path.basename(self.path))
        if create:
            os.mkdir(self.staging)

    def check_is_job_output(self, path: str) -> None:
        """--force replaces an earlier job's output, nothing else: a folder of part files,
        _SUCCESS and their .crc files (or an empty folder)."""
        if os.path.islink(self.path) or not os.path.isdir(self.path):
            raise UsageError("--force replaces an earlier job's output folder, and %s is not a folder"
                             % path)
        try:
            names = sorted(os.listdir(self.path))
        except OSError as error:
            raise UsageError("output directory %s: %s" % (path, error.strerror))
        other = [name for name in names if not JOB_OUTPUT_NAME.match(name)]
        if other:
            raise UsageError("output directory %s holds %s, which no job writes: --force replaces "
                             "only an earlier job's output (part files and _SUCCESS); choose another "
                             "DIR, or remove this one yourself" % (path, other[0]))

    def check_holds_no_input(self, inputs: List["Input"]) -> None:
        """--force replaces DIR: refuse a DIR that is, or holds, an input of this job."""
        for source in inputs:
            if source.path is not None and source.download is None:
                if within(source.path, self.path):
                    raise UsageError("output directory %s holds the input %s: --force would delete it"
                                     % (self.path, source.name))

    def commit(self, success_marker: bool) -> None:
        if success_marker:
            open(os.path.join(self.staging, "_SUCCESS"), "wb").close()
        if os.path.lexists(self.path):
            if not self.force:  # it was not there at the start: another run, or a user, made it
                raise TaskFailed("%s: the output directory %s appeared while this job ran, and is "
                                 "left as it is (--force to replace it)" % (PROG, self.path))
            os.replace(self.path, os.path.join(self.temp, "replaced"))  # the old one goes once the new one is there
        os.replace(self.staging, self.path)
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.temp, ignore_errors=True)
        folder = os.path.dirname(self.path)
        while self.made_below and folder != self.made_below and not os.path.lexists(self.path):
            try:
                os.rmdir(folder)
            except OSError:  # not empty: something else is in it now
                break
            folder = os.path.dirname(folder)


def stdout_open() -> bool:
    try:
        os.fstat(1)
        return sys.stdout is not None
    except OSError:
        return False


def emit_merged(parts: List[str], temp: str) -> int:
    """The part files merged and sorted by bytes on stdout; 141 if stdout's reader left."""
    sys.stdout.flush()
    if not parts:
        return 0
    done = subprocess.run(["sort", "-T", temp] + parts, env=sort_env())
    if done.returncode == -signal.SIGPIPE:
        return 128 + signal.SIGPIPE
    if done.returncode != 0:
        raise TaskFailed("%s: sort of the result failed (exit status %d)" % (PROG, done.returncode))
    return 0


def warn_of_overlaps(args: List[str], files: List[Input], output: Optional[Output]) -> None:
    """Warn of what this run does as Hadoop would, but a user seldom means: a file that two
    inputs reach is read, and counted, twice; an output folder inside an input folder is read
    as input by the next run over that folder."""
    seen = set()  # type: Set[str]
    for source in files:
        if source.name == "-":
            continue
        where = os.path.realpath(source.path) if source.download is None else source.name
        if where in seen:
            sys.stderr.write("%s: warning: the inputs reach %s twice: its records are read and counted "
                             "twice (Hadoop does the same)\n" % (PROG, source.name))
            break
        seen.add(where)
    if output is not None:
        for arg in args:
            if not arg.startswith("s3://") and os.path.isdir(arg) and within(output.path, arg):
                sys.stderr.write("%s: warning: the output %s is inside the input %s: a later run over "
                                 "%s would read it as input\n" % (PROG, output.path, arg, arg))


def run_emulated(opts: Options, here: str, kept: Kept) -> int:
    cmds = Commands(opts, here)
    args = opts.inputs or [os.path.join(here, "sample_data")]
    files = resolve_inputs(args)
    inputs = input_splits(files, opts.block_size)
    # Hadoop numbers map tasks by split size, largest first (a stable sort).
    inputs = sorted(inputs, key=lambda i: -i.size)
    output = Output(opts.output, opts.force) if opts.output else None
    try:  # from here on, whatever happens (a signal too), the temporary directories go
        if output is not None:
            output.check_holds_no_input(inputs)
        elif not stdout_open():
            raise UsageError("standard output is closed: give -o DIR for the result")
        warn_of_overlaps(args, files, output)  # of a run that goes on
        work = tempfile.mkdtemp(prefix="run_local-")
        try:
            return run_job(Job(opts, work), cmds, inputs, output, kept)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        if output is not None:
            output.discard()  # after a commit, nothing is left to discard


def run_job(job: Job, cmds: Commands, inputs: List[Input], output: Optional[Output], kept: Kept) -> int:
    """The map and reduce tasks of one run, in job.work; the exit status."""
    opts, work = job.opts, job.work
    if opts.mapper is None:
        job.own_mapper = cmds.mapper
    progress = Progress(job, len(inputs), sum(i.size for i in inputs))
    if sys.stderr.isatty():
        progress.start()
    try:
        if opts.fork_server and cmds.own and ForkServer.available():
            job.fork_server = ForkServer(dict(os.environ))  # it starts while the scripts compile
        os.mkdir(os.path.join(work, "map"))
        cmds.use_bytecode(work, kept)
        if job.fork_server is not None and cmds.compiled:
            job.fork_server.warm(sorted(cmds.defining_only))
            job.forked = cmds.compiled
        if output is not None:
            job.out_dir = output.staging
        else:
            os.mkdir(job.out_dir)
        download(job, inputs)
        run_tasks(job, [(run_map, job, cmds, n, source) for n, source in enumerate(inputs)])
        progress.phase = "reduce"
        if opts.reducers > 0:
            run_tasks(job, [(run_reduce, job, cmds, r, len(inputs)) for r in range(opts.reducers)])
        progress.finish()
        if output is not None:
            output.commit(success_marker=True)
            status = 0
        else:
            out = job.out_dir
            status = emit_merged([os.path.join(out, n) for n in sorted(os.listdir(out))], work)
        print_counters(job.counters)
        return status
    except FlagsRefused as refused:  # bad usage, found by the first map task
        progress.finish()
        sys.stderr.write("%s\n" % refused)
        return 2
    except TaskFailed as failure:
        progress.finish()
        sys.stderr.write("%s\n" % failure)
        print_counters(job.counters)  # of the tasks that ran, as Hadoop shows them for a failed job
        sys.stderr.write("%s: failed; no output written\n" % PROG)
        return 1
    finally:
        job.kill_all()
        if job.fork_server is not None:
            job.fork_server.close()


# ------------------------------------------------------------------------------------
# --hadoop: the same job through the real Hadoop.
# ------------------------------------------------------------------------------------

def streaming_jar() -> str:
    if os.environ.get("HADOOP_STREAMING_JAR"):
        return os.environ["HADOOP_STREAMING_JAR"]
    emr = "/usr/lib/hadoop-mapreduce/hadoop-streaming.jar"
    if os.path.isfile(emr):
        return emr
    home = os.environ.get("HADOOP_HOME")
    if home:
        jars = sorted(glob.glob(os.path.join(home, "share/hadoop/tools/lib/hadoop-streaming-*.jar")))
        jars = [j for j in jars if not j.endswith(("-sources.jar", "-tests.jar"))]
        if jars:
            return jars[-1]
    raise UsageError("no hadoop-streaming jar: set HADOOP_STREAMING_JAR (or HADOOP_HOME)")


def is_uri(path: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", path) is not None


def hadoop_path(path: str) -> str:
    """A local path as a file: URI (the cluster's default file system may be HDFS)."""
    return path if is_uri(path) else "file://" + os.path.abspath(path)


def shippable(paths: List[str], work: str) -> List[str]:
    """The files for -files, copied into the work directory: Hadoop reads each as a URI twice
    (escaped once only), so a space, comma, # or % in the project's path would stop the job."""
    folder = os.path.join(work, "files")
    os.mkdir(folder)
    copies = []
    for path in paths:
        copy = os.path.join(folder, os.path.basename(path))
        shutil.copy2(path, copy)
        copies.append("file://" + copy)
    if re.search(r"[\s,#%]", folder):
        raise UsageError("--hadoop cannot ship files from %s (Hadoop takes -files as URIs): set TMPDIR "
                         "to a folder without spaces, commas, # or %%" % folder)
    return copies


def hadoop_command(argv: List[str], here: str, shipped: List[str], default: bool) -> str:
    """A task command for -mapper/-reducer/-combiner. The files it names (this project's
    script, or local files named by relative paths) are shipped with -files and named by
    their base name, as the task's working directory holds them."""
    words = []
    for n, word in enumerate(argv):
        path = None  # type: Optional[str]
        if default:
            path = os.path.join(here, word) if n == 0 else None
        elif not is_uri(word) and not os.path.isabs(word):
            if os.path.isfile(word):
                path = os.path.abspath(word)
            elif n == 0 and "/" not in word and os.path.isfile(os.path.join(here, word)):
                path = os.path.join(here, word)
        if path is not None:
            if path not in shipped:
                shipped.append(path)
            word = os.path.basename(path)
        words.append(quote_arg(word))
    if default:  # as submit_step.sh runs them: no reliance on the #! line or the executable bit
        words.insert(0, "python3")
    return " ".join(words)


def run_hadoop(opts: Options, here: str) -> int:
    if "-" in opts.inputs:
        raise UsageError("--hadoop cannot read standard input")
    jar = streaming_jar()
    shipped = []  # type: List[str]
    mapper = hadoop_command(split_args(opts.mapper) + opts.flags if opts.mapper
                            else ["mapper.py"] + opts.flags, here, shipped, opts.mapper is None)
    reducer = hadoop_command(split_args(opts.reducer) if opts.reducer else ["reducer.py"],
                             here, shipped, opts.reducer is None)
    combiner = None
    if opts.combine and opts.reducers > 0:
        combiner = hadoop_command(split_args(opts.combiner) if opts.combiner
                                  else ["reducer.py", "--combine"], here, shipped,
                                  opts.combiner is None)
    inputs = opts.inputs or [os.path.join(here, "sample_data")]
    for arg in inputs:
        if not is_uri(arg) and not os.path.exists(arg) and not has_wildcard(arg):
            raise UsageError("input path does not exist: %s" % arg)
    work = tempfile.mkdtemp(prefix="run_local-hadoop-")
    output = None  # type: Optional[Output]
    try:
        if opts.output and not is_uri(opts.output):
            output = Output(opts.output, opts.force, create=False)
            target = output.staging
        elif opts.output:
            target = opts.output
        else:
            target = os.path.join(work, "out")
        command = ["hadoop", "jar", jar,
                   "-D", "mapreduce.job.reduces=%d" % opts.reducers,
                   "-D", "mapreduce.input.fileinputformat.input.dir.recursive=true",
                   "-D", "mapreduce.local.map.tasks.maximum=%d" % opts.jobs,
                   "-D", "mapreduce.local.reduce.tasks.maximum=%d" % opts.jobs,
                   "-D", "fs.local.block.size=%d" % opts.block_size,
                   "-files", ",".join(shippable(shipped, work)),
                   "-mapper", mapper, "-reducer", reducer]
        if combiner:
            command += ["-combiner", combiner]
        for arg in inputs:
            command += ["-input", hadoop_path(arg)]
        command += ["-output", hadoop_path(target)]
        try:
            proc = subprocess.Popen(command, cwd=work, stderr=subprocess.PIPE)
        except OSError as err:
            raise UsageError("--hadoop needs hadoop on PATH: %s" % err)
        counters = {}  # type: Dict[Tuple[str, str], int]
        group = None
        for raw in proc.stderr:
            sys.stderr.buffer.write(raw)
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith("\t\t") and group and "=" in line:
                name, _, value = line.strip().rpartition("=")
                if group not in HADOOP_GROUPS and COUNTER_RE.match(value):
                    counters[(group, name)] = int(value)
            elif line.startswith("\t") and not line.startswith("\t\t"):
                group = line.strip()
        sys.stderr.flush()
        if proc.wait() != 0:
            sys.stderr.write("%s: hadoop failed (exit status %d); no output written\n"
                             % (PROG, proc.returncode))
            return 1
        if output is not None:
            output.commit(success_marker=False)
            output = None
        status = 0
        if not opts.output:
            status = emit_merged([os.path.join(target, n) for n in sorted(os.listdir(target))
                                  if n.startswith("part-")], work)
        print_counters(counters)
        return status
    finally:
        if output is not None:
            output.discard()
        shutil.rmtree(work, ignore_errors=True)


def check_tmpdir() -> None:
    """Work files go to $TMPDIR: refuse one that is not there, rather than fall back to /tmp
    (on an EMR master, TMPDIR=/mnt/tmp is set to keep them off the small root disk)."""
    folder = os.environ.get("TMPDIR")
    if folder and not os.path.isdir(folder):
        raise UsageError("TMPDIR=%s is not a folder: create it, or set TMPDIR to one" % folder)
    if folder and not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError("TMPDIR=%s cannot be written" % folder)


def main(here: str, argv: List[str], kept: Kept) -> int:
    try:
        opts = parse_options(argv)
        check_tmpdir()
        if opts.hadoop:
            return run_hadoop(opts, here)
        return run_emulated(opts, here, kept)
    except UsageError as err:
        sys.stderr.write("%s: %s\n" % (PROG, err))
        return 2
    except TaskFailed as failure:  # --hadoop's output directory appeared meanwhile
        sys.stderr.write("%s\n%s: failed; no output written\n" % (failure, PROG))
        return 1


def on_terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def command_line(script: str, argv: List[str], kept: Kept) -> None:
    """`run_local.sh ARGS...`, as the bootstrap at the top of this file calls it: SCRIPT is
    this file's path, kept() its cache of compiled code. Exits with the job's status."""
    signal.signal(signal.SIGTERM, on_terminate)
    signal.signal(signal.SIGHUP, on_terminate)  # the terminal, or the ssh session, went away
    try:
        sys.exit(main(os.path.dirname(os.path.abspath(script)), argv, kept))
    except KeyboardInterrupt:
        try:
            sys.stderr.write("%s: interrupted; no output written\n" % PROG)
        except OSError:  # no terminal left to say it on
            pass
        sys.exit(130)
PYTHON
