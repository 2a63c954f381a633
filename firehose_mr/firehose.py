"""Firehose's layout, in one place: it delivers objects into delivery-hour folders
YYYY/MM/DD/HH/ (UTC) under a prefix, and names them STREAM-VERSION-YYYY-MM-DD-HH-MM-SS-ID.
Hours are numbers YYYYMMDDHH here, which sort as the folders do. Pure functions."""
from __future__ import annotations

import re
from typing import Dict, Iterable, List, NamedTuple, Optional, Set, Tuple

# The name of a folder at each level of the layout: 1 year, 2 month, 3 day, 4 hour.
LEVEL_NAMES = {
    1: re.compile(r"^[0-9]{4}$"),
    2: re.compile(r"^(0[1-9]|1[0-2])$"),
    3: re.compile(r"^(0[1-9]|[12][0-9]|3[01])$"),
    4: re.compile(r"^([01][0-9]|2[0-3])$"),
}
OBJECT_DEPTH = 5  # YYYY/MM/DD/HH/object
DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}))?$")


def days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def parse_date(text: str, default_hour: int) -> int:
    """YYYY-MM-DD or YYYY-MM-DDTHH (UTC) as the hour YYYYMMDDHH (default_hour without THH).
    ValueError says what is wrong, to follow the text."""
    found = DATE.match(text)
    if not found:
        raise ValueError("expected YYYY-MM-DD or YYYY-MM-DDTHH (UTC)")
    year, month, day = int(found.group(1)), int(found.group(2)), int(found.group(3))
    hour = int(found.group(4)) if found.group(4) is not None else default_hour
    if not 1 <= month <= 12 or not 1 <= day <= days_in_month(year, month) or hour > 23:
        raise ValueError("no such date or hour")
    return year * 1000000 + month * 10000 + day * 100 + hour


def hour_folder(hour: int) -> str:
    """YYYYMMDDHH as the folders YYYY/MM/DD/HH."""
    text = "%010d" % hour
    return "%s/%s/%s/%s" % (text[:4], text[4:6], text[6:8], text[8:])


def trailing_date_depth(prefix: str) -> int:
    """How many date folders (YYYY, MM, DD, HH, in that order) end this key prefix."""
    parts = [part for part in prefix.rstrip("/").split("/")] if prefix.strip("/") else []
    for depth in (4, 3, 2, 1):
        tail = parts[-depth:] if len(parts) >= depth else []
        if tail and all(LEVEL_NAMES[level].match(name) for level, name in enumerate(tail, 1)):
            return depth
    return 0


def stars(count: int) -> str:
    """*/*/... with `count` parts."""
    return "/".join(["*"] * count)


def objects_glob(prefix: str) -> str:
    """The glob, from a key prefix ending in / (or empty), that matches the objects of the
    layout under it: as many * parts as levels are left below the prefix's date folders."""
    return prefix + stars(OBJECT_DEPTH - trailing_date_depth(prefix))


def is_marker(key: str) -> bool:
    """A folder marker, not an object: a key ending in / or in _$folder$."""
    return key.endswith("/") or key.endswith("_$folder$")


def folder_span(names: List[str]) -> Tuple[int, int]:
    """The first and last hour (YYYYMMDDHH) of the folder year[/month[/day[/hour]]]."""
    year = int(names[0])
    if len(names) == 1:
        return year * 1000000 + 10100, year * 1000000 + 123123
    month = int(names[1])
    base = year * 1000000 + month * 10000
    if len(names) == 2:
        return base + 100, base + days_in_month(year, month) * 100 + 23
    day_start = base + int(names[2]) * 100
    if len(names) == 3:
        return day_start, day_start + 23
    return day_start + int(names[3]), day_start + int(names[3])


class HourRange(NamedTuple):
    """--from and --to: the hours first..last (YYYYMMDDHH), and the dates as given."""
    first: int
    last: int
    given_from: str
    given_to: str


class RangePlan(NamedTuple):
    """What a date range under a Firehose root comes to, from the keys listed there."""
    folders: List[str]  # the fewest folders (relative, ending in /) that cover the range's hours
    globs: List[str]  # the glob of each of those folders, relative to the root
    empty: List[str]  # those of the folders that hold no object
    objects: List[str]  # the objects (relative keys) in the range
    deeper: Optional[str]  # a relative key below an hour folder of the range, or None


def range_plan(relative_keys: Iterable[str], first: int, last: int) -> RangePlan:
    """The folders, globs and objects of the hours first..last (YYYYMMDDHH) among keys
    relative to a Firehose root. Folders exist where a key is below them (a marker too); a
    folder that the range covers whole gets one glob, the others are looked into."""
    tree = {}  # type: Dict[str, dict]
    objects = []  # type: List[str]
    deeper = None  # type: Optional[str]
    with_objects = set()  # type: Set[str]
    for key in relative_keys:
        parts = key.split("/")
        names = []  # type: List[str]
        for level in (1, 2, 3, 4):
            if len(parts) > level and LEVEL_NAMES[level].match(parts[level - 1]):
                names.append(parts[level - 1])
            else:
                break
        if len(names) < 4:
            add_folders(tree, names if len(parts) > len(names) else names[:-1])
            continue
        start, _ = folder_span(names)
        if not first <= start <= last:
            continue
        add_folders(tree, names)
        if is_marker(key):
            continue
        if len(parts) == OBJECT_DEPTH:
            objects.append(key)
            with_objects.add("/".join(names) + "/")
        elif deeper is None:
            deeper = key
    folders = covering_folders(tree, [], first, last)
    empty = [f for f in folders if not any(o.startswith(f) for o in with_objects)]
    globs = [f + stars(OBJECT_DEPTH - f.count("/")) for f in folders]
    return RangePlan(folders, globs, empty, objects, deeper)


def add_folders(tree: Dict[str, dict], names: List[str]) -> None:
    node = tree
    for name in names:
        node = node.setdefault(name, {})


def covering_folders(tree: Dict[str, dict], above: List[str], first: int, last: int) -> List[str]:
    """Depth first, in key order: the folders of the tree under `above` that the range covers
    whole, and those of the partly covered ones below them."""
    found = []  # type: List[str]
    for name in sorted(tree):
        names = above + [name]
        start, end = folder_span(names)
        if end < first or start > last:
            continue
        if first <= start and end <= last:
            found.append("/".join(names) + "/")
        elif len(names) < 4:
            found.extend(covering_folders(tree[name], names, first, last))
    return found
