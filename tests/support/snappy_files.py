"""The two Snappy formats Firehose can deliver, written with the standard library only (every
chunk stored as one literal: valid Snappy, just not smaller), for tests of what Hadoop and the
scripts do with them:

- SNAPPY: the framing format (github.com/google/snappy, framing_format.txt), starting with the
  stream identifier ff 06 00 00 "sNaPpY", then chunks with a masked CRC-32C;
- HADOOP_SNAPPY: Hadoop's SnappyCodec block stream, a big-endian uncompressed length, then
  length-prefixed compressed pieces (BlockCompressorStream)."""
import struct

STREAM_IDENTIFIER = b"\xff\x06\x00\x00sNaPpY"
CHUNK = 65536  # the framing format's largest uncompressed chunk


def _crc32c_table() -> list:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(number: int) -> bytes:
    out = bytearray()
    while number >= 0x80:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def raw_snappy(data: bytes) -> bytes:
    """Snappy's raw format: the length, then the data as literals of at most 64 KiB."""
    out = bytearray(_varint(len(data)))
    for start in range(0, len(data), CHUNK):
        piece = data[start:start + CHUNK]
        size = len(piece) - 1
        if size < 60:
            out.append(size << 2)
        elif size < 256:
            out += bytes([60 << 2, size])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", size)
        out += piece
    return bytes(out)


def framed_snappy(data: bytes) -> bytes:
    """Firehose's SNAPPY: the framing format, with uncompressed chunks (type 0x01)."""
    out = bytearray(STREAM_IDENTIFIER)
    for start in range(0, len(data), CHUNK):
        piece = data[start:start + CHUNK]
        body = struct.pack("<I", masked_crc(piece)) + piece
        out += b"\x01" + struct.pack("<I", len(body))[:3] + body
    return bytes(out)


def hadoop_snappy(data: bytes) -> bytes:
    """Firehose's HADOOP_SNAPPY: one block of Hadoop's SnappyCodec stream."""
    compressed = raw_snappy(data)
    return struct.pack(">I", len(data)) + struct.pack(">I", len(compressed)) + compressed
