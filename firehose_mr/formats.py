"""Input formats: what Hadoop Streaming decompresses (by the name's extension, case and all),
what it would read as text and this project refuses (by name; gzip also by its magic bytes),
and the decompression itself, failing where Hadoop fails the map task."""
from __future__ import annotations

import os
import re
import zlib
from typing import IO, Iterator, Optional

from .hadoop import BLOCK

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
COMPRESSED = re.compile(r"\.(gz|bz2|deflate)$")  # decompressed by name (see codec_name); never split here
# The Hadoop versions whose reading run_local.sh emulates (major.minor), and the default: the
# newest EMR's (EMR 7.13 and 7.14 ship Hadoop 3.4.2).
EMULATED_HADOOP = ("3.3", "3.4")
NEWEST_EMR_HADOOP = "3.4"
GZIP_MAGIC = b"\x1f\x8b"
SNAPPY_FRAMING_START = b"\xff\x06\x00\x00sNaPpY"  # the stream identifier chunk of Snappy's framing format
HEAD_SIZE = len(SNAPPY_FRAMING_START)  # how many bytes of a file refusal_by_content looks at
BZIP2_HEADER = re.compile(rb"BZh[1-9]")


def codec_name(name: str, hadoop: str) -> str:
    """The name as that Hadoop (major.minor) matches codec endings against it: Hadoop 3.4
    lowercases it first (CompressionCodecFactory.getCodec), so that x.GZ is gunzipped; Hadoop
    3.3 takes the ending as it is, and reads x.GZ as text."""
    return name if hadoop == "3.3" else name.lower()


# Of those, the endings Hadoop itself reads as lines of text (on EMR too); the others are codecs
# a cluster has and the standard library lacks.
READ_AS_TEXT_BY_HADOOP = (".zip", ".parquet", ".orc")


def read_as_text_by_hadoop(name: str) -> bool:
    """Whether Hadoop, on EMR too, would read a file of this name as lines of text although it
    holds no text (see READ_AS_TEXT_BY_HADOOP)."""
    return os.path.splitext(name)[1].lower() in READ_AS_TEXT_BY_HADOOP


def refusal_by_name(name: str) -> Optional[str]:
    """Why an input of this name is refused (see NOT_READ_HERE), or None."""
    return NOT_READ_HERE.get(os.path.splitext(name)[1].lower())


def refusal_by_content(name: str, head: bytes) -> Optional[str]:
    """Why a file of this name that begins with `head` (its first HEAD_SIZE bytes, or all of a
    shorter one) is refused, said as what follows "NAME is", or None. Hadoop decompresses by
    the name alone: gzip under another name is read as lines of text, and Snappy's framing
    format under .snappy is not read by its SnappyCodec."""
    if name.endswith(".snappy") and head.startswith(SNAPPY_FRAMING_START):
        return ("Snappy in its framing format (Firehose's SNAPPY compression), which Hadoop's "
                "SnappyCodec does not read: the step would read no records from it, or fail with "
                "OutOfMemoryError. Deliver the stream with Hadoop-compatible Snappy (HADOOP_SNAPPY) "
                "or GZIP, or decompress these objects first.")
    if not name.endswith(".gz") and head.startswith(GZIP_MAGIC):
        return ("gzip data under a name Hadoop does not decompress (it goes by the .gz ending; "
                "Firehose's GZIP with a custom file extension does this): it would be read as lines "
                "of text, all malformed. Give the objects a name ending in .gz (in Firehose: a file "
                "extension such as .json.gz), or decompress them first.")
    return None


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


def with_a_few_more(raw: IO[bytes], block: bytes, size: int) -> bytes:
    """block, with bytes read from raw after it until it has `size` of them or raw ends."""
    while len(block) < size:
        more = raw.read(size - len(block))
        if not more:
            break
        block += more
    return block
