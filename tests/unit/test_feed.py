"""What a map task reads (firehose_mr/local/feed.py), on bytes: the splits of a file give each
of its lines once, and a file is handed to its mapper as it is only when that is what cutting it
into lines would give. (How those lines compare with Hadoop's: test_hadoop_conformance.py.)"""
import io
import os
import tempfile

from hypothesis import given, settings, strategies as st

from firehose_mr.local.feed import already_lines, feed_records, feed_split


def reader(data: bytes) -> io.BufferedReader:
    """A file's bytes as the runner reads them (buffered: it peeks at their start)."""
    return io.BufferedReader(io.BytesIO(data))


class Sink(io.BytesIO):
    def close(self) -> None:  # what a map task's stdin got stays readable
        pass


@settings(max_examples=400, deadline=None)
@given(data=st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\r", b"\r\n", b"\xef\xbb\xbf", b"\t"]),
                     max_size=60).map(b"".join),
       split=st.integers(1, 17))
def test_the_splits_of_a_file_give_each_of_its_lines_once(data, split):
    """The tasks of a file's splits get, together and in order, the lines its one task gets
    when it is not split."""
    whole = Sink()
    feed_records(reader(data), "file", whole)
    pieces = b""
    for start in range(0, len(data), split):
        sink = Sink()
        feed_split(io.BytesIO(data), start, min(split, len(data) - start), sink)
        pieces += sink.getvalue()
    assert pieces == whole.getvalue()


@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.sampled_from([b"a", b"\n", b"\r", b"\r\n", b"\xef\xbb\xbf", b"\xef"]),
                     max_size=12).map(b"".join))
def test_a_file_goes_to_its_mapper_unchanged_only_when_that_is_what_hadoop_gives(data):
    """already_lines() lets a map task read the file itself: only when cutting it into lines
    like Hadoop (feed_records) gives the same bytes, and whenever it plainly does (no CR, no
    BOM first, empty or ending in LF)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "object")
        with open(path, "wb") as f:
            f.write(data)
        direct = already_lines(path, path)
    fed = Sink()
    feed_records(reader(data), "object", fed)
    if direct:
        assert fed.getvalue() == data
    plain = b"\r" not in data and not data.startswith(b"\xef\xbb\xbf") and data[-1:] in (b"", b"\n")
    assert direct == plain


def test_lines_are_cut_as_hadoop_cuts_them():
    """LF, CR LF and a lone CR end a line; a BOM at the start is dropped; a last line gets its
    LF (hand-worked)."""
    fed = Sink()
    feed_records(reader(b"\xef\xbb\xbfa\r\nb\rc\n\nd"), "f", fed)
    assert fed.getvalue() == b"a\nb\nc\n\nd\n"
    fed = Sink()
    feed_split(io.BytesIO(b"one\ntwo\nthree\n"), 2, 5, fed)  # begins inside "one": from "two" on
    assert fed.getvalue() == b"two\n"
