"""The mapper, reducer and combiner commands, as argument lists: this project's scripts run by
this Python, or a user's command split as Hadoop Streaming splits it and looked up as its task
would find it."""
from __future__ import annotations

import importlib.util
import os
import sys
from typing import Dict, List, Optional, Set

from ..errors import UsageError
from ..hadoop import split_args
from .forkserver import defines_only


class Commands:
    """The mapper, reducer and combiner commands of a job."""

    def __init__(self, mapper: Optional[str], reducer: Optional[str], combiner: Optional[str],
                 combine: bool, flags: List[str], here: str) -> None:
        self.own = []  # type: List[List[str]]  # those that run this project's scripts
        self.compiled = []  # type: List[List[str]]  # those of them that run from bytecode
        self.defining_only = set()  # type: Set[str]  # bytecode files of scripts that defines_only()
        if mapper is None:
            self.mapper = self._own(script_command(here, "mapper.py", flags))
        else:
            self.mapper = user_command(mapper, here, "--mapper") + flags
        if reducer is None:
            self.reducer = self._own(script_command(here, "reducer.py", []))
        else:
            self.reducer = user_command(reducer, here, "--reducer")
        self.combiner = None  # type: Optional[List[str]]
        if combine:
            if combiner is None:
                self.combiner = self._own(script_command(here, "reducer.py", ["--combine"]))
            else:
                self.combiner = user_command(combiner, here, "--combiner")

    def _own(self, argv: List[str]) -> List[str]:
        self.own.append(argv)
        return argv

    def use_bytecode(self) -> None:
        """Run this project's scripts from their bytecode in __pycache__ beside them. Python
        compiles a script that it runs as a program every time (it caches only imported
        modules), and that costs each of hundreds of small map tasks as much as reading its
        input. A script that does not compile, or whose bytecode cannot be written, runs from
        its source, to fail in its task as it would on the cluster."""
        compiled = {}  # type: Dict[str, Optional[str]]  # reducer.py serves as reducer and combiner
        for argv in self.own:
            source = argv[2]
            if source not in compiled:
                with open(source, "rb") as f:
                    text = f.read()
                compiled[source] = bytecode(source, text)
                if compiled[source] is not None and plain_script(source, text):
                    self.defining_only.add(compiled[source])
            if compiled[source] is not None:
                argv[2] = compiled[source]  # type: ignore[assignment]
                self.compiled.append(argv)


def bytecode(source: str, text: bytes) -> Optional[str]:
    """The script's bytecode file in __pycache__, written (as a checked-hash .pyc, which Python
    would take for an import too) unless one for the same source text is there; None where it
    cannot be made."""
    target = importlib.util.cache_from_source(source)
    try:
        with open(target, "rb") as f:
            header = f.read(16)
        if header[:4] == importlib.util.MAGIC_NUMBER and header[8:16] == importlib.util.source_hash(text):
            return target
    except OSError:
        pass  # not made yet
    import py_compile  # only when it is to be written: its imports cost a run some 5 ms
    try:
        py_compile.compile(source, cfile=target, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    except (OSError, py_compile.PyCompileError):
        return None
    return target


def plain_script(source: str, text: bytes) -> bool:
    """Whether the script defines_only(), kept beside its bytecode in __pycache__ for the same
    source text (parsing 1,300 lines costs a run some 12 ms): SCRIPT.TAG.defines-only holds the
    text's hash and 1 or 0. Where it cannot be kept, it is worked out each time."""
    answer_file = importlib.util.cache_from_source(source)[:-len(".pyc")] + ".defines-only"
    key = importlib.util.source_hash(text)
    try:
        with open(answer_file, "rb") as f:
            kept = f.read()
        if kept[:-1] == key and kept[-1:] in (b"0", b"1"):
            return kept[-1:] == b"1"
    except OSError:
        pass  # not worked out yet
    answer = defines_only(text, source)
    temp = "%s.%d" % (answer_file, os.getpid())
    try:
        with open(temp, "wb") as f:
            f.write(key + (b"1" if answer else b"0"))
        os.replace(temp, answer_file)
    except OSError:  # nowhere to keep it
        if os.path.exists(temp):
            os.unlink(temp)
    return answer


def script_command(here: str, name: str, args: List[str]) -> List[str]:
    """One of this project's scripts, run by this Python. The pair uses only the standard
    library, so it runs with -S (no site-packages set-up: on some machines that start-up
    costs more than a small input's map task)."""
    path = os.path.join(here, name)
    if not os.path.isfile(path):
        raise UsageError("%s is missing next to run_local.sh (%s)" % (name, here))
    return [sys.executable, "-S", path] + args


def user_command(command: str, here: str, what: str) -> List[str]:
    """A --mapper, --reducer or --combiner command, split as Hadoop Streaming splits it."""
    argv = split_args(command)
    if not argv:
        raise UsageError("%s: an empty command" % what)
    return program(argv, here)


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
