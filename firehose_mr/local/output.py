"""-o DIR: written into a hidden temporary sibling of DIR and renamed into place at the end, so
that a failed run leaves nothing; --force replaces an earlier job's output, nothing else.
Without -o, the part files merged and sorted on stdout."""
from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from ..errors import TaskFailed, UsageError
from . import PROG
from .tasks import sort_env

if TYPE_CHECKING:
    from .inputs import Input

# What a job's output folder holds: its part files and _SUCCESS (Hadoop's local file system
# also writes a .NAME.crc beside each).
JOB_OUTPUT_NAME = re.compile(r"\.?(part-[mr]?-?[0-9]+(\.[A-Za-z0-9]+)?|_SUCCESS)(\.crc)?\Z")


FileIdentity = Tuple[int, int, int, int]  # device, inode, size, modification time


def within(path: str, folder: str) -> bool:
    """Whether path is folder or below it, links resolved."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder + os.sep)


def check_not_precious(path: str, absolute: str, project: str) -> None:
    """-o never names a folder that is, or holds, the current directory, the home folder or
    the project: --force would replace it, with all that is in it."""
    try:
        here = os.getcwd()  # type: Optional[str]
    except OSError:  # the current directory was deleted
        here = None
    for what, folder in (("the current directory", here), ("the home folder", os.path.expanduser("~")),
                         ("the project folder", project)):
        if folder and os.path.isabs(folder) and within(folder, absolute):
            raise UsageError("output directory %s is or holds %s (%s): choose another DIR"
                             % (path, what, folder))


def identity(path: str) -> Optional[FileIdentity]:
    """What tells a plain file from another one, or from itself changed; None for anything
    else (a folder, a link, nothing)."""
    try:
        status = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(status.st_mode):
        return None
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


def earlier_output(path: str, absolute: str) -> Dict[str, FileIdentity]:
    """--force replaces an earlier job's output, nothing else: a folder of plain files named
    as a job names them (part files, _SUCCESS, their .crc files), or an empty folder. Its
    files, each with its identity, to be checked again at the commit."""
    if os.path.islink(absolute) or not os.path.isdir(absolute):
        raise UsageError("--force replaces an earlier job's output folder, and %s is not a folder"
                         % path)
    try:
        names = sorted(os.listdir(absolute))
    except OSError as error:
        raise UsageError("output directory %s: %s" % (path, error.strerror))
    files = {}  # type: Dict[str, FileIdentity]
    for name in names:
        found = identity(os.path.join(absolute, name)) if JOB_OUTPUT_NAME.match(name) else None
        if found is None:
            raise UsageError("output directory %s holds %s, which no job writes: --force replaces "
                             "only an earlier job's output (part files and _SUCCESS); choose another "
                             "DIR, or remove this one yourself" % (path, name))
        files[name] = found
    return files


class Output:
    """-o DIR: refused if it exists (unless --force); written as STAGING inside a hidden
    temporary sibling of DIR, and renamed into place at the end."""

    def __init__(self, path: str, force: bool, project: str, create: bool = True) -> None:
        self.path = os.path.abspath(path)
        self.force = force
        self.kept = False  # an earlier output that could not be put back stays in the sibling
        check_not_precious(path, self.path, project)
        if os.path.lexists(self.path) and not force:
            raise UsageError("output directory %s already exists (Hadoop refuses it too); "
                             "remove it or add --force" % path)
        self.earlier = None  # type: Optional[Dict[str, FileIdentity]]  # what --force replaces
        if os.path.lexists(self.path):
            self.earlier = earlier_output(path, self.path)
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

    def check_holds_no_input(self, inputs: List["Input"]) -> None:
        """--force replaces DIR: refuse a DIR that is, or holds, an input of this job."""
        for source in inputs:
            if source.path is not None and source.download is None:
                if within(source.path, self.path):
                    raise UsageError("output directory %s holds the input %s: --force would delete it"
                                     % (self.path, source.name))

    def commit(self, success_marker: bool) -> None:
        """Put the new output in DIR's place. An earlier output that --force replaces goes
        only if it still holds just the files it held at the start, as they were: looked at
        again once it is moved aside, so that nothing added meanwhile is lost."""
        if success_marker:
            open(os.path.join(self.staging, "_SUCCESS"), "wb").close()
        if os.path.lexists(self.path):
            if self.earlier is None:  # it was not there at the start: another run, or a user, made it
                raise TaskFailed("%s: the output directory %s appeared while this job ran, and is "
                                 "left as it is" % (PROG, self.path))
            self.check_unchanged(self.path)
            aside = os.path.join(self.temp, "replaced")  # the old one goes once the new one is there
            os.replace(self.path, aside)
            try:
                self.check_unchanged(aside)
            except TaskFailed:
                self.put_back(aside)
                raise
            try:
                os.replace(self.staging, self.path)
            except OSError:
                self.put_back(aside)
                raise
        else:
            os.replace(self.staging, self.path)
        self.discard()

    def check_unchanged(self, folder: str) -> None:
        """TaskFailed unless folder holds only files of the earlier output, as they were."""
        earlier = self.earlier or {}
        if os.path.islink(folder) or not os.path.isdir(folder):
            changed = "is no longer a folder"
        else:
            other = [name for name in sorted(os.listdir(folder))
                     if name not in earlier or earlier[name] != identity(os.path.join(folder, name))]
            changed = "now holds %s, which the earlier job did not write" % other[0] if other else ""
        if changed:
            raise TaskFailed("%s: the output directory %s %s (it changed while this job ran): it is left "
                             "as it is, and this job's output is not written" % (PROG, self.path, changed))

    def put_back(self, aside: str) -> None:
        """The earlier output, moved aside, back in its place."""
        try:
            os.rename(aside, self.path)
        except OSError:  # something took its place meanwhile: the earlier one stays where it is
            self.kept = True
            raise TaskFailed("%s: the output directory %s changed while this job ran, and something "
                             "else took its place: the earlier one is kept as %s" % (PROG, self.path, aside))

    def discard(self) -> None:
        if self.kept:
            return
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


