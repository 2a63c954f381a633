"""INPUT arguments, resolved as Hadoop resolves them (files, folders walked, globs, S3 prefixes),
and the map tasks' splits of them."""
from __future__ import annotations

import json
import os
import re
import stat
from typing import Dict, Iterator, List, Optional, Tuple

from .. import aws
from ..errors import UsageError
from ..formats import (COMPRESSED, HEAD_SIZE, NEWEST_EMR_HADOOP, codec_name, refusal_by_content,
                       refusal_by_name)
from ..globs import (GlobError, expand_slashed_braces, has_wildcard, key_reach, literal_folders,
                     local_glob, reaches_visible)
from ..hadoop import SPLIT_SLOP, hidden, split_ranges, split_size


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
        self.codec = name  # the name as Hadoop picks a codec by it (see formats.codec_name)

    def piece(self, start: int, size: int) -> "Input":
        """The split of this file that begins at start."""
        split = Input(self.name, size, self.uri, self.path)
        split.start, split.whole, split.download, split.codec = start, False, self.download, self.codec
        return split


def resolve_inputs(args: List[str], hadoop: str = NEWEST_EMR_HADOOP) -> List[Input]:
    """The files and objects that the INPUT arguments name, in order, each read as that Hadoop
    (major.minor) reads it; a local file whose bytes that Hadoop would misread is refused."""
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
    for source in inputs:
        source.codec = codec_name(source.name, hadoop)
        if source.path is not None:  # a local file (an S3 object is looked at once copied)
            check_content(source.path, source.name, source.codec)
    return inputs


def input_splits(inputs: List[Input], block_size: int) -> List[Input]:
    """The map tasks' inputs, as Hadoop's FileInputFormat makes them (see hadoop.split_ranges),
    numbered as Hadoop numbers map tasks: by split size, largest first (a stable sort).
    Compressed files and standard input stay whole (Hadoop splits .bz2; not here)."""
    size = split_size(sum(i.size for i in inputs), block_size)
    splits = []  # type: List[Input]
    for source in inputs:
        if source.name == "-" or COMPRESSED.search(source.codec) or source.size / size <= SPLIT_SLOP:
            splits.append(source)
        else:
            splits.extend(source.piece(start, length) for start, length in split_ranges(source.size, size))
    return sorted(splits, key=lambda i: -i.size)


# ------------------------------------------------------------------------------------
# Local files, folders and globs.
# ------------------------------------------------------------------------------------

def local_inputs(arg: str) -> List[Input]:
    """An INPUT argument: a file, a directory (walked) or a glob pattern."""
    if not has_wildcard(arg) and "\\" not in arg:
        return local_path_inputs(arg)
    try:
        matches = local_glob(arg)  # also for escapes alone, which Hadoop takes out
    except GlobError as error:
        raise UsageError(str(error))
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


def local_file(path: str) -> Input:
    check_readable(path)
    try:
        size = os.path.getsize(path)
    except OSError as error:  # a broken link, most often
        raise UsageError("input %s: %s" % (path, error.strerror))
    return Input(path, size, "file:" + os.path.abspath(path), path)


def check_readable(name: str) -> None:
    """Refuse an input this harness cannot read as Hadoop would (see formats.NOT_READ_HERE)."""
    refusal = refusal_by_name(name)
    if refusal is not None:
        raise UsageError("input %s: %s" % (name, refusal))


def check_content(path: str, name: str, codec: str) -> None:
    """Refuse a file whose first bytes show that Hadoop would misread it, such as gzip under a
    name without .gz (see formats.refusal_by_content). Only a plain file is looked at: the
    bytes of a named pipe can be read only once, by its map task."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return
        with open(path, "rb") as f:
            head = f.read(HEAD_SIZE)
    except OSError as error:
        raise UsageError("input %s: %s" % (name, error.strerror))
    refusal = refusal_by_content(codec, head)
    if refusal is not None:
        raise UsageError("input %s is %s" % (name, refusal))


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


# ------------------------------------------------------------------------------------
# S3 objects, listed with the AWS CLI and copied into the work directory (tasks.download).
# ------------------------------------------------------------------------------------

# How many objects were listed under each s3:// prefix that inputs are downloaded from: where
# fewer are inputs, the download names them (see tasks.download_filters).
S3_LISTED = {}  # type: Dict[str, int]


def s3_inputs(uri: str) -> List[Input]:
    """Objects under an s3:// prefix (or that a glob in the key reaches), hidden names skipped."""
    match = re.match(r"^s3://([^/]+)/?(.*)$", uri)
    if not match:
        raise UsageError("not an s3:// URI: %s" % uri)
    bucket, key = match.groups()
    found = {}  # type: Dict[str, Input]
    try:
        for pattern in expand_slashed_braces(key) if has_wildcard(key) else [key]:
            for item in s3_objects(bucket, pattern):
                found.setdefault(item.name, item)
    except GlobError as error:
        raise UsageError(str(error))
    if not found:
        raise UsageError("input %s matches 0 objects" % uri)
    return [found[name] for name in sorted(found)]


def s3_objects(bucket: str, key: str) -> List[Input]:
    """The objects of s3://bucket/key: a prefix, or a glob (without a {...} that holds a /)."""
    reach = key_reach(key) if has_wildcard(key) else None
    literal = literal_folders(key) if reach is not None else key
    below = literal if literal.endswith("/") or not literal else literal + "/"
    origin = "s3://%s/%s" % (bucket, below)  # what one `aws s3 cp --recursive` copies
    found = []  # type: List[Input]
    for size, name in s3_listing(bucket, literal, key):
        if name.startswith(below):
            S3_LISTED[origin] = S3_LISTED.get(origin, 0) + 1
        if reach is not None:
            rest = reach(name)
            if rest is None:
                continue
        elif name == literal:
            rest = [name.rsplit("/", 1)[-1]]
        elif name.startswith(below):
            rest = name[len(below):].split("/")
        else:
            continue
        if not reaches_visible(rest):
            continue
        object_uri = "s3://%s/%s" % (bucket, name)
        check_readable(object_uri)
        found.append(Input(object_uri, size, object_uri, None))
        if name == literal:  # the object itself
            found[-1].download = (object_uri, name.rsplit("/", 1)[-1])
        else:  # everything below the prefix comes in one `aws s3 cp --recursive`
            found[-1].download = (origin, name[len(below):])
    return found


def s3_listing(bucket: str, prefix: str, asked: str) -> List[Tuple[int, str]]:
    """(size, key) of every object whose key starts with prefix (folder markers left out)."""
    listing = aws.list_objects(bucket, prefix)
    if listing.returncode != 0:
        said = listing.stderr.decode("utf-8", "replace").strip().splitlines() or ["(nothing said)"]
        raise UsageError("cannot list s3://%s/%s: %s" % (bucket, asked, said[-1]))
    try:
        contents = json.loads(listing.stdout.decode("utf-8") or "{}").get("Contents") or []
        objects = [(int(item["Size"]), item["Key"]) for item in contents]
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise UsageError("cannot list s3://%s/%s: the AWS CLI's listing is not what it should be "
                         "(%s: %s)" % (bucket, asked, type(error).__name__, error))
    return [(size, key) for size, key in objects if not key.endswith("/")]
