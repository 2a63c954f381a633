"""Hadoop's globs (org.apache.hadoop.fs.Globber, GlobPattern, GlobExpander), over local paths
and S3 keys alike. They differ from the shell's: [^...] negates as [!...] does, {a,b}
alternates (across / too), * and ? match names starting with . or _ (only what the last part
matches is hidden from the input), and a backslash escapes any character."""
from __future__ import annotations

import os
import re
import stat
from typing import Callable, List, Optional, Set

from .hadoop import hidden


class GlobError(ValueError):
    """A pattern that Hadoop cannot compile."""


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
        raise GlobError("glob %s: %s" % (part, error))
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
                candidates = [os.path.join(c, name) for c in candidates if looked_up(c or ".", pattern, True)
                              for name in sorted(listed(c or ".", pattern)) if matches(name)]
            else:
                candidates = [os.path.join(c, unescaped(part)) for c in candidates]
        found.update(c for c in candidates
                     if c and looked_up(c, pattern, False) and not hidden(os.path.basename(c)))
    return sorted(found)


def looked_up(path: str, pattern: str, folder: bool) -> bool:
    """Whether path is there (folder: and is a folder, links followed). A folder above it that
    cannot be searched fails the glob, as an unreadable folder does (see listed)."""
    try:
        status = os.stat(path) if folder else os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as error:
        raise GlobError("input %s: cannot read the folder %s (%s)"
                        % (pattern, os.path.dirname(path) or ".", error.strerror))
    return stat.S_ISDIR(status.st_mode) or not folder


def listed(folder: str, pattern: str) -> List[str]:
    """The names in a folder that the pattern reaches. One that cannot be read fails the
    glob, as it fails Hadoop's job (Permission denied): skipping it would lose its files
    without a word."""
    try:
        return os.listdir(folder)
    except OSError as error:
        raise GlobError("input %s: cannot read the folder %s (%s)" % (pattern, folder, error.strerror))


def literal_folders(key: str) -> str:
    """The folders of a key pattern before its first part with a wildcard, unescaped, each
    with its / (what an S3 listing can start from): "" when the first part is a glob."""
    parts = key.split("/")
    first = next((i for i, part in enumerate(parts) if has_wildcard(part)), len(parts))
    return "".join(unescaped(part) + "/" for part in parts[:first])


def key_reach(pattern: str) -> Callable[[str], Optional[List[str]]]:
    """For a glob over S3 keys (without a {...} holding a /): a function that gives, for a
    key, its parts from the one the glob's last part matched (that name, then the path below
    it, which an input folder's recursive listing reads), or None where the glob does not
    reach the key."""
    matchers = [name_matcher(part) for part in pattern.split("/")]

    def reach(key: str) -> Optional[List[str]]:
        names = key.split("/")
        if len(names) < len(matchers) or not all(m(n) for m, n in zip(matchers, names)):
            return None
        return names[len(matchers) - 1:]
    return reach


def reaches_visible(parts: List[str]) -> bool:
    """Whether a file reached through these parts is input: no part is a hidden name."""
    return not any(hidden(part) for part in parts)


def glob_reaches(pattern: str, key: str) -> bool:
    """Whether a glob over S3 keys reaches the object at `key` as input: it matches the key, or
    a folder above it (whose whole subtree a job reads with input.dir.recursive), and no part
    from the matched one down is a hidden name."""
    for expanded in expand_slashed_braces(pattern):
        parts = key_reach(expanded)(key)
        if parts is not None and reaches_visible(parts):
            return True
    return False

