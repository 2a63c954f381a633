"""Starting the pair's tasks: forked from a Python that has already imported what they use.

A map task of a 1 MB file reads it in about 20 ms, while a new python3 spends some 50 ms
starting and importing re, json, decimal and argparse before reading a byte. So this project's
own scripts are run by a fork server (forkserver_main.py): one process per job that imports
those modules once, then forks a child per task. The child is a new process like any other
task's (its own stdin, stdout, stderr, environment and argv, as Hadoop gives them); it runs the
script's code as __main__ and ends the way `python3 -S script` ends. A --mapper, --reducer or
--combiner command always starts as its own program, and --no-fork-server starts the pair that
way too."""
from __future__ import annotations

import array
import marshal
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from contextlib import contextmanager
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Tuple

from .stopping import start_thread

# The modules mapper.py and reducer.py import (checked by a test), and shutil, which
# argparse imports each time it builds a parser.
PRELOADED = ("argparse", "collections", "datetime", "decimal", "json", "math", "operator", "os", "re", "shutil",
             "sys", "zlib")
SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forkserver_main.py")


def defines_only(source: bytes, path: str) -> bool:
    """Whether a script's top level only imports, defines and assigns, and runs anything else
    under `if __name__ == "__main__":` (as mapper.py and reducer.py do), so that running it
    under another name only makes its definitions."""
    import ast  # only when the answer is not kept (see commands.plain_script)
    try:
        tree = ast.parse(source, path)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.If):
            test = node.test
            if not (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
                    and test.left.id == "__name__" and not node.orelse
                    and all(isinstance(op, ast.Eq) for op in test.ops)):
                if not (type(test).__name__ in ("Constant", "NameConstant") and not getattr(test, "value", True)):
                    return False
        elif isinstance(node, ast.Expr):
            if type(node.value).__name__ not in ("Constant", "Str"):
                return False
        elif not isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef,
                                   ast.Assign, ast.AnnAssign)):
            return False
    return True


@contextmanager
def sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread while the fork server starts, which inherits the mask: a ^C
    in its first moments then waits until it ignores SIGINT (see forkserver_main.serve) instead
    of ending its start-up in a traceback. This process still gets such a ^C: another thread
    takes it, or this one once the mask is back."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


class ForkedProcess:
    """A task the fork server started: what pipeline() uses of a subprocess.Popen."""

    def __init__(self, server: "ForkServer", args: List[str]) -> None:
        self.server = server
        self.args = args
        self.stdin = None  # type: Optional[IO[bytes]]
        self.stdout = None  # type: Optional[IO[bytes]]
        self.stderr = None  # type: Optional[IO[bytes]]
        self.pid = 0
        self.returncode = None  # type: Optional[int]
        self.refused = None  # type: Optional[str]
        self.started = threading.Event()
        self.exited = threading.Event()

    def poll(self) -> Optional[int]:
        return self.returncode

    def wait(self) -> int:
        self.exited.wait()
        return self.returncode  # type: ignore[return-value]

    def kill(self) -> None:
        if self.returncode is None and self.pid:
            self.server.send(("kill", self.pid))


class ForkServer:
    """The job's fork server (see forkserver_main.py), and a thread that reads its answers."""

    @staticmethod
    def available() -> bool:
        return hasattr(os, "fork") and hasattr(socket, "AF_UNIX") and hasattr(socket.socket, "sendmsg")

    def __init__(self, env: Dict[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs, open(os.devnull, "rb") as nothing, sigint_blocked():
            self.process = subprocess.Popen(
                [sys.executable, "-S", SERVER, str(theirs.fileno()), ",".join(PRELOADED)],
                stdin=nothing, stdout=subprocess.DEVNULL, env=env, pass_fds=[theirs.fileno()])
        self.socket = ours
        self.lock = threading.Lock()  # the state below
        self.send_lock = threading.Lock()  # writing to the socket
        self.gone = False
        self.requests = {}  # type: Dict[int, ForkedProcess]
        self.by_pid = {}  # type: Dict[int, ForkedProcess]
        self.reader = threading.Thread(target=self._read_answers, daemon=True)
        start_thread(self.reader)

    def warm(self, scripts: List[str]) -> None:
        """Have the server run these scripts' top level once (see forkserver_main.py)."""
        self.send(("warm", scripts))

    def send(self, message: Tuple, fds: Sequence[int] = ()) -> None:
        body = marshal.dumps(message)
        data = struct.pack("!I", len(body)) + body
        with self.send_lock:
            try:
                sent = self.socket.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                     array.array("i", fds))] if fds else [])
                self.socket.sendall(data[sent:])
            except OSError:
                pass  # the server is gone: _read_answers has ended every task

    def spawn(self, argv: List[str], stdin: Any, stdout: Any, stderr: Any,
              env: Dict[str, str]) -> ForkedProcess:
        """Start `python3 -S SCRIPT ARGS...` (argv) forked from the server; stdin, stdout
        and stderr as subprocess.Popen takes them (PIPE, a file, or None to share ours)."""
        proc = ForkedProcess(self, argv)
        mine = []  # type: List[int]  # the child's ends of new pipes: closed here once sent
        fds = []  # type: List[int]
        for n, (stream, mode) in enumerate(((stdin, "wb"), (stdout, "rb"), (stderr, "rb"))):
            if stream == subprocess.PIPE:
                read, write = os.pipe()
                child, parent = (read, write) if n == 0 else (write, read)
                setattr(proc, ("stdin", "stdout", "stderr")[n], open(parent, mode))
                mine.append(child)
                fds.append(child)
            else:
                fds.append(n if stream is None else stream.fileno())
        request_id = id(proc)
        with self.lock:
            registered = not self.gone  # else no answer will come
            if registered:
                self.requests[request_id] = proc
        try:
            if registered:
                self.send(("run", request_id, argv[2], argv[2:], env), fds)
        finally:
            for fd in mine:
                os.close(fd)
        if registered:
            proc.started.wait()
        if not proc.pid:
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            raise OSError(proc.refused or "the fork server stopped")
        return proc

    def _read_answers(self) -> None:
        stream = self.socket.makefile("rb")
        while True:
            try:
                header = stream.read(4)
                body = stream.read(struct.unpack("!I", header)[0]) if len(header) == 4 else b""
                answer = marshal.loads(body) if body else None
            except (OSError, EOFError, ValueError):  # killed with us (a signal to the group): a reset
                answer = None
            if answer is None:
                break
            with self.lock:
                if answer[0] == "started":
                    proc = self.requests.pop(answer[1])
                    proc.pid = answer[2]
                    self.by_pid[proc.pid] = proc
                    proc.started.set()
                elif answer[0] == "refused":
                    proc = self.requests.pop(answer[1])
                    proc.refused = answer[2]
                    proc.started.set()
                elif answer[0] == "exited" and answer[1] in self.by_pid:
                    proc = self.by_pid.pop(answer[1])
                    proc.returncode = answer[2]
                    proc.exited.set()
        with self.lock:  # the server is gone: what it ran is gone too
            self.gone = True
            for proc in list(self.requests.values()) + list(self.by_pid.values()):
                proc.refused = proc.refused or "the fork server stopped"
                if proc.returncode is None:
                    proc.returncode = -signal.SIGKILL
                proc.started.set()
                proc.exited.set()
            self.requests.clear()
            self.by_pid.clear()

    def close(self) -> None:
        """No more tasks: the server kills what still runs, and ends (again: nothing)."""
        if self.socket.fileno() < 0:
            return
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.process.wait()
        self.reader.join()
        self.socket.close()

