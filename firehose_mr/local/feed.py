"""The bytes around the tasks: what a map task reads (decompressed, lines cut like Hadoop's
LineReader, a split of a file), and how a task's output is cut into records and partitioned.
This runs in threads of the runner's process; the work that counts (decompressing, writing to
pipes) releases the interpreter lock."""
from __future__ import annotations

import mmap
import os
import stat
from typing import IO, Dict, Iterable, Iterator, List

from ..formats import COMPRESSED, GZIP_MAGIC, HEAD_SIZE, decompressed, refusal_by_content
from ..hadoop import UTF8_BOM, LineCutter, as_records, hash_partition, split_bytes, whole_blocks


def feed_records(raw: IO[bytes], name: str, sink: IO[bytes]) -> None:
    """Write one input to sink as a map task's stdin gets it from Hadoop: decompressed,
    a leading UTF-8 BOM dropped, lines cut like LineReader and ending in LF."""
    if name == "-":  # standard input: gzip is recognised by its magic bytes
        name = "-.gz" if raw.peek(2)[:2] == GZIP_MAGIC else "-"
    else:  # a named pipe, most often: a file was looked at before the job (inputs.check_content)
        refusal = refusal_by_content(name, raw.peek(HEAD_SIZE)[:HEAD_SIZE])
        if refusal is not None:
            raise ValueError("it is " + refusal)
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



def already_lines(path: str, codec: str) -> bool:
    """Whether a local file is, as it is, what Hadoop would give its mapper (not compressed by
    the name Hadoop picks a codec by, `codec`,
    no CR, no BOM, empty or ending in LF), so that the mapper can read it directly. The file
    is looked at in place (mapped, not read: no copy, half the CPU); if it cannot be mapped,
    the answer is no, and its lines go through feed_records, which gives the same bytes."""
    status = os.stat(path)
    if not stat.S_ISREG(status.st_mode):  # a named pipe (<(...)), a device: its size says nothing
        return False
    size = status.st_size
    if COMPRESSED.search(codec) or size > 1 << 28:
        return False
    if size == 0:
        return True
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return view[-1:] == b"\n" and view[:len(UTF8_BOM)] != UTF8_BOM and view.find(b"\r") < 0
    except (OSError, ValueError):  # a file system without mmap, or a file that shrank meanwhile
        return False

