"""-o DIR: written into a hidden temporary sibling of DIR and renamed into place at the end, so
that a failed run leaves nothing; --force replaces an earlier job's output, nothing else.
Without -o, the part files merged and sorted on stdout."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING, List, Optional

from ..errors import TaskFailed, UsageError
from . import PROG
from .tasks import sort_env

if TYPE_CHECKING:
    from .inputs import Input

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


