"""Processes connected by pipes: a task's stages (sort, combiner, mapper, reducer), its input
written from a thread, its stderr kept in a file, and the report of the stage to blame."""
from __future__ import annotations

import os
import re
import select
import signal
import stat
import subprocess
import threading
from typing import IO, TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from ..errors import TaskFailed
from ..hadoop import STREAM_BUFFER
from . import PROG

if TYPE_CHECKING:
    from .tasks import Job

Stage = Tuple[str, List[str], Dict[str, str]]  # its name, its command, its environment


class FlagsRefused(TaskFailed):
    """This project's mapper.py exited with 2 in a map task: it refuses the job flags."""


class Feeder(threading.Thread):
    """Writes a task's stdin from this process (reading, decompressing, cutting lines)."""

    def __init__(self, write: Callable[[IO[bytes]], None], sink: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.write, self.sink = write, sink
        self.error = None  # type: Optional[str]

    def run(self) -> None:
        try:
            self.write(self.sink)
            self.sink.close()
        except BrokenPipeError:
            pass  # the task stopped reading: Intake.unread has counted what it left
        except (ValueError, OSError, EOFError) as err:
            self.error = str(err)
        except Exception as err:  # never a task that seems to succeed with its input cut short
            self.error = "%s: %s" % (type(err).__name__, err)
        finally:
            try:
                self.sink.close()
            except OSError:
                pass


class Intake:
    """The first stage's stdin, looked at once the stage has ended: how much of its input it
    left unread. A file's offset says it (the stage shares it). A pipe that this process
    writes is kept open for reading here too: what the stage left in it, and what the feeder
    still writes, is read here and counted (up to more than STREAM_BUFFER), and the feeder is
    stopped only then."""

    def __init__(self, stdin: Optional[IO], feed: bool) -> None:
        self.file = stdin if stdin is not None and is_file(stdin) else None
        self.pipe = None  # type: Optional[IO[bytes]]  # the read end, given to the stage
        self.sink = None  # type: Optional[IO[bytes]]  # the write end, for the feeder
        if feed:
            read, write = os.pipe()
            self.pipe, self.sink = open(read, "rb", buffering=0), open(write, "wb")

    def stage_stdin(self, stdin: Optional[IO]) -> Optional[IO]:
        return self.pipe if self.pipe is not None else stdin

    def unread(self, stopped: threading.Event) -> int:
        """The bytes the stage did not read, counted up to a little more than STREAM_BUFFER
        (call it once the stage has ended); the pipe's read end is closed."""
        if self.file is not None:
            fd = self.file.fileno()
            return max(0, os.fstat(fd).st_size - os.lseek(fd, 0, os.SEEK_CUR))
        if self.pipe is None:
            return 0
        left = 0
        fd = self.pipe.fileno()
        while left <= STREAM_BUFFER and not stopped.is_set():
            if not select.select([fd], [], [], 0.1)[0]:
                continue  # the feeder waits for its own input (a named pipe's writer)
            data = os.read(fd, 1 << 16)
            if not data:
                break
            left += len(data)
        self.close()
        return left

    def close(self) -> None:
        if self.pipe is not None:
            self.pipe.close()


def is_file(stream: IO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False


def pipeline(job: Job, stages: List[Stage], what: str, tag: str, stdin: Optional[IO] = None,
             stdout: Optional[IO] = None, feed: Optional[Callable[[IO[bytes]], None]] = None,
             collect: Optional[Callable[[IO[bytes]], None]] = None) -> None:
    """Run processes connected by pipes, their stdin written by `feed` (or `stdin`), the
    last one's stdout read by `collect` (or going to `stdout`); each one's stderr goes to a
    file. Raise TaskFailed naming the first stage that failed."""
    procs = []  # type: List[Tuple[str, subprocess.Popen, str]]
    intake = Intake(stdin, feed is not None)
    previous = intake.stage_stdin(stdin)
    feeder = None  # type: Optional[Feeder]
    try:
        for n, (stage, argv, env) in enumerate(stages):
            last = n == len(stages) - 1
            err_path = os.path.join(job.work, "%s.%d.stderr" % (tag, n))
            with open(err_path, "wb") as err:
                proc = job.start(argv, stage, stdin=previous, stderr=err, env=env,
                                 stdout=(subprocess.PIPE if collect is not None else stdout)
                                 if last else subprocess.PIPE)
            if n == 0 and feed is not None and intake.sink is not None:
                feeder = Feeder(feed, intake.sink)
                feeder.start()
            if n > 0 and previous is not None:
                previous.close()  # the pipe now belongs to the next process only
            previous = proc.stdout
            procs.append((stage, proc, err_path))
        collect_error = None  # type: Optional[str]
        if collect is not None:
            try:
                collect(procs[-1][1].stdout)
            except (ValueError, OSError) as err:
                collect_error = "%s: cannot write the output of %s: %s" % (
                    PROG, what, err.strerror if isinstance(err, OSError) and err.strerror else err)
            procs[-1][1].stdout.close()
    except BaseException:
        if previous is not None and previous not in (stdin, intake.pipe):
            previous.close()
        for _, proc, _ in procs:
            proc.kill()
            proc.wait()
        intake.close()
        if feeder is None and intake.sink is not None:
            intake.sink.close()
        raise
    for _, proc, _ in procs:
        proc.wait()
    unread = intake.unread(job.failed)  # which also stops a feeder still writing to a stage that has ended
    while feeder is not None and feeder.is_alive() and not job.failed.is_set():
        feeder.join(0.1)  # not waited for once the job stops: it may wait for a named pipe's writer
    report = None  # type: Optional[str]
    shown = []  # type: List[str]
    if feeder is not None and feeder.error and not job.failed.is_set():
        report = "%s: cannot read %s: %s" % (PROG, what, feeder.error)
    if report is None and not job.failed.is_set():
        report = collect_error  # the cause (a full disk, most often); a stage that failed then, its effect
    failed = []  # type: List[Tuple[str, subprocess.Popen, List[str]]]
    for stage, proc, err_path in procs:
        lines = job.absorb_stderr(err_path)
        shown.extend(lines)
        if proc.returncode != 0:
            failed.append((stage, proc, lines))
    if failed and report is None and not job.failed.is_set():
        for stage, proc, lines in failed:
            if proc.args is job.own_mapper and proc.returncode == 2:
                said = re.sub(r"^mapper\.py: (error: )?", "", lines[-1] if lines else "")
                raise FlagsRefused("%s: mapper.py refuses the job flags: %s" % (PROG, said))
        report = failure_report(failed, what)
    if report is None and unread > STREAM_BUFFER and not job.failed.is_set():
        report = cut_short_report(procs[0][0], procs[0][1], what, shown)
    if report:
        raise TaskFailed(report)
    job.echo(shown)


def cut_short_report(stage: str, proc: subprocess.Popen, what: str, lines: List[str]) -> str:
    """A stage that ended well with more of its input unread than Hadoop's stream buffer
    holds: under Hadoop, its task fails with a broken pipe, and the job with it."""
    report = ("%s: %s stopped reading its input with more than %d KiB of it left, on %s: Hadoop fails "
              "such a task (java.io.IOException: Broken pipe), and the job with it\n  command: %s" % (
                  PROG, stage, STREAM_BUFFER >> 10, what, " ".join(proc.args)))
    if lines:
        report += "\n  last lines of its stderr:\n" + "\n".join("    " + line for line in lines[-10:])
    return report


def failure_report(failed: List[Tuple[str, subprocess.Popen, List[str]]], what: str) -> str:
    """The report on the stage to blame. A stage killed by SIGPIPE only wrote to a later
    stage that had already stopped reading, so a later stage's own failure comes first."""
    own = [f for f in failed if f[1].returncode != -signal.SIGPIPE]
    stage, proc, lines = (own or failed)[0]
    status = proc.returncode
    how = ("killed by signal %d" % -status) if status < 0 else ("exit status %d" % status)
    report = "%s: %s failed (%s) on %s\n  command: %s" % (
        PROG, stage, how, what, " ".join(proc.args))
    if lines:
        report += "\n  last lines of its stderr:\n" + "\n".join(
            "    " + line for line in lines[-10:])
    return report
