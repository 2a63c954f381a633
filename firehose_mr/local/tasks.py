"""The job: its map tasks (one per split), the shuffle (each map task's output cut by key into
partitions, then sorted by key bytes), its reduce tasks, and the counters its tasks report."""
from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import threading
from typing import IO, Any, Callable, Dict, List, Optional, Tuple

from ..errors import TaskFailed
from ..hadoop import counter_increment, task_environment
from . import PROG
from .commands import Commands
from .feed import already_lines, cut_output, feed_files_as_records, feed_records, feed_split
from .forkserver import ForkServer
from .inputs import S3_LISTED, Input, check_content
from .pipeline import Stage, pipeline
from .stopping import start_thread


class Job:
    """Everything the tasks of one run share."""

    def __init__(self, reducers: int, jobs: int, output_uri: str, work: str) -> None:
        self.reducers = reducers
        self.jobs = jobs
        self.work = work
        self.job_id = "job_local%d_0001" % random.randrange(1 << 31)
        self.lock = threading.Lock()
        self.counters = {}  # type: Dict[Tuple[str, str], int]
        self.processes = []  # type: List[Any]  # subprocess.Popen or ForkedProcess
        self.fork_server = None  # type: Optional[ForkServer]
        self.forked = []  # type: List[List[str]]  # the commands it starts
        self.failed = threading.Event()
        self.done_files = 0
        self.done_bytes = 0
        self.out_dir = os.path.join(work, "out")  # where part files go (-o: the staging dir)
        self.own_mapper = None  # type: Optional[List[str]]  # the command, if it is mapper.py
        self.output_uri = output_uri

    def task_env(self, kind: str, index: int, source: Optional[Input] = None) -> Dict[str, str]:
        """The variables Hadoop Streaming gives a task, and TMPDIR in the work directory."""
        split = None
        if source is not None and source.uri is not None:
            split = (source.uri, source.start, source.size)
        env = task_environment(dict(os.environ), self.job_id, kind, index, self.reducers,
                               self.output_uri, split)
        env["TMPDIR"] = self.work
        return env

    def start(self, argv: List[str], stage: str, **kwargs) -> Any:
        """Start a task's process: forked by the fork server if it runs one of the pair's
        scripts (see ForkServer), else as a program."""
        with self.lock:
            if self.failed.is_set():
                raise TaskFailed("")
            try:
                if self.fork_server is not None and any(argv is f for f in self.forked):
                    proc = self.fork_server.spawn(argv, kwargs.get("stdin"), kwargs.get("stdout"),
                                                  kwargs.get("stderr"), kwargs["env"])
                else:
                    proc = subprocess.Popen(argv, **kwargs)
            except OSError as err:
                raise TaskFailed("%s: cannot start %s: %s" % (PROG, stage, err))
            self.processes.append(proc)
            return proc

    def kill_all(self) -> None:
        with self.lock:
            for proc in self.processes:
                if proc.poll() is None:
                    try:
                        proc.kill()
                    except OSError:
                        pass

    def absorb_stderr(self, path: str) -> List[str]:
        """Sum the counters in a task's stderr file; its other lines."""
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        shown = []  # type: List[str]
        with self.lock:
            for line in re.split(r"\r\n|\r|\n", text):
                if line.startswith("reporter:"):
                    self._reporter_line(line)
                elif line:
                    shown.append(line)
        return shown

    def echo(self, lines: List[str]) -> None:
        """A finished task's own stderr lines, together, unless the run already failed."""
        with self.lock:
            if lines and not self.failed.is_set():
                sys.stderr.write("\n".join(lines) + "\n")
                sys.stderr.flush()

    def _reporter_line(self, line: str) -> None:
        try:
            counted = counter_increment(line)
        except ValueError as error:
            sys.stderr.write("%s: %s\n" % (PROG, error))
            return
        if counted is not None:  # reporter:status: lines only set a task's status in Hadoop
            group, name, amount = counted
            self.counters[(group, name)] = self.counters.get((group, name), 0) + amount


def run_map(job: Job, cmds: Commands, index: int, source: Input) -> None:
    tag = "m%06d" % index
    env = job.task_env("m", index, source)
    if job.reducers == 0:
        out = os.path.join(job.out_dir, "part-%05d" % index)
    else:
        out = os.path.join(job.work, "map", tag)
    what = "input %s%s (map task %d)" % (
        source.name, "" if source.whole else ", bytes %d-%d" % (source.start, source.start + source.size), index)
    collect = lambda stream: cut_output(stream, out, job.reducers)  # noqa: E731
    stages = [("mapper", cmds.mapper, env)]  # type: List[Stage]
    if source.path is None:  # standard input
        pipeline(job, stages, what, tag, collect=collect,
                 feed=lambda sink: feed_records(sys.stdin.buffer, "-", sink))
    elif not source.whole:
        def feed_piece(sink: IO[bytes]) -> None:
            with open(source.path or "", "rb") as raw:
                feed_split(raw, source.start, source.size, sink)
        pipeline(job, stages, what, tag, feed=feed_piece, collect=collect)
    elif already_lines(source.path, source.codec):
        with open(source.path, "rb") as stdin:
            pipeline(job, stages, what, tag, stdin=stdin, collect=collect)
    else:
        def feed(sink: IO[bytes]) -> None:
            with open(source.path or "", "rb") as raw:
                feed_records(raw, source.codec, sink)
        pipeline(job, stages, what, tag, feed=feed, collect=collect)
    if cmds.combiner is not None:
        # Hadoop runs the combiner on each partition of the sorted map output. What it writes
        # is cut into key/value records on the reduce side (feed_files_as_records).
        for p in range(job.reducers):
            part = out if job.reducers == 1 else "%s.%d" % (out, p)
            if os.path.getsize(part) == 0:
                continue
            combined = part + ".combined"
            with open(combined, "wb") as sink:
                pipeline(job, [("sort", sort_command(job, [part]), sort_env()),
                               ("combiner", cmds.combiner, env)],
                         "the combiner of input %s (map task %d, partition %d)"
                         % (source.name, index, p), "%s.c%d" % (tag, p), stdout=sink)
            os.replace(combined, part)
    with job.lock:
        job.done_files += 1
        job.done_bytes += source.size


def run_reduce(job: Job, cmds: Commands, index: int, map_count: int) -> None:
    files = [os.path.join(job.work, "map", "m%06d" % m + ("" if job.reducers == 1 else ".%d" % index))
             for m in range(map_count)]
    files = [f for f in files if os.path.getsize(f) > 0]
    part = os.path.join(job.out_dir, "part-%05d" % index)
    env = job.task_env("r", index)
    what = "reduce task %d" % index
    if not files:
        # Hadoop starts the reducer but, with no input, keeps neither its output nor counters.
        err_path = os.path.join(job.work, "r%06d.stderr" % index)
        with open(os.devnull, "wb") as null, open(os.devnull, "rb") as empty, \
                open(err_path, "w+b") as err:
            proc = job.start(cmds.reducer, "reducer", stdin=empty, stdout=null, stderr=err, env=env)
            proc.wait()
            err.seek(0)
            text = err.read()
        open(part, "wb").close()
        if proc.returncode != 0:
            raise TaskFailed("%s: reducer failed (exit status %d) on %s (no input)\n%s" % (
                PROG, proc.returncode, what, text.decode("utf-8", "replace")[-2000:]))
        return
    stages = [("sort", sort_command(job, files), sort_env()),
              ("reducer", cmds.reducer, env)]  # type: List[Stage]
    feed = None  # type: Optional[Callable[[IO[bytes]], None]]
    if cmds.combiner is not None:  # the combiners' output, cut into records first
        stages[0] = ("sort", sort_command(job, []), sort_env())
        feed = lambda sink: feed_files_as_records(files, sink)  # noqa: E731
    pipeline(job, stages, what, "r%06d" % index, feed=feed,
             collect=lambda stream: cut_output(stream, part, 1))


def run_tasks(job: Job, calls: List[Tuple]) -> None:
    """Run (function, args...) tasks, jobs at a time, in threads; stop at the first failure."""
    failures = []  # type: List[TaskFailed]
    errors = []  # type: List[BaseException]  # anything else a task raised: raised here
    pending = iter(calls)  # shared by the workers: each takes the next task

    def worker() -> None:
        for call in pending:
            if job.failed.is_set():
                return
            try:
                call[0](*call[1:])
            except TaskFailed as failure:
                with job.lock:
                    if not job.failed.is_set() and str(failure):
                        failures.append(failure)
                    job.failed.set()
                job.kill_all()
            except BaseException as error:
                errors.append(error)
                job.failed.set()
                job.kill_all()

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(min(job.jobs, len(calls)))]
    started = []  # type: List[threading.Thread]
    try:
        for thread in workers:
            start_thread(thread)
            started.append(thread)
        for thread in workers:
            thread.join()
    except BaseException:  # ^C or a SIGTERM here: stop the tasks, then let the workers end
        job.failed.set()
        job.kill_all()
        for thread in started:
            thread.join()
        raise
    if errors:
        raise errors[0]
    if job.failed.is_set():
        raise failures[0] if failures else TaskFailed("%s: a task failed" % PROG)


def sort_command(job: Job, files: List[str]) -> List[str]:
    """Sort by the key (the bytes before the first TAB) with LC_ALL=C, ties by the whole line
    so that the order is the same whatever the order of the map tasks."""
    return ["sort", "-t", "\t", "-k1,1", "-T", job.work] + files


def sort_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["LC_ALL"] = "C"
    return env


def download(job: Job, inputs: List[Input]) -> None:
    """Copy the S3 inputs into the work directory, one `aws s3 cp` per prefix (the AWS CLI
    transfers in parallel; a process per object would cost a CLI start-up each)."""
    targets = {}  # type: Dict[str, str]
    wanted = {}  # type: Dict[str, List[str]]
    for source in inputs:
        if source.download is not None:
            wanted.setdefault(source.download[0], []).append(source.download[1])
    for source in inputs:
        if source.download is None:
            continue
        origin, relative = source.download
        if origin not in targets:
            targets[origin] = os.path.join(job.work, "s3", str(len(targets)))
            recursive = ["--recursive"] if origin.endswith("/") else []
            if recursive:
                recursive += download_filters(origin, sorted(set(wanted[origin])))
            target = targets[origin] + ("/" if recursive else "/" + relative)
            stage = "aws s3 cp %s" % origin
            with open(os.devnull, "rb") as nothing:
                pipeline(job, [(stage, ["aws", "s3", "cp", "--only-show-errors", "--no-progress"]
                                + recursive + [origin, target], dict(os.environ))],
                         origin, "s3.%d" % len(targets), stdin=nothing)
        source.path = os.path.join(targets[origin], *relative.split("/"))
        if not os.path.isfile(source.path):
            raise TaskFailed("%s: %s was not downloaded" % (PROG, source.name))
        if source.start == 0:
            check_content(source.path, source.name, source.codec)


def download_filters(origin: str, wanted: List[str]) -> List[str]:
    """`aws s3 cp --recursive` options that copy from origin what the job reads, not all of
    it (a glob, or names Hadoop skips): the objects by name, or, for many, the folders that
    hold them. (The CLI matches each listed object against each filter: too many of them cost
    more than copying the rest.)"""
    listed = S3_LISTED.get(origin, 0)
    if len(wanted) >= listed:
        return []
    names = wanted
    if len(names) * listed > FILTER_MATCHES:
        names = sorted({name.rpartition("/")[0] + "/*" for name in wanted if "/" in name}
                       | {name for name in wanted if "/" not in name})
    if len(names) * listed > FILTER_MATCHES:
        sys.stderr.write("%s: copying all %d objects under %s for %d inputs spread over %d folders\n"
                         % (PROG, listed, origin, len(wanted), len(names)))
        return []
    escape = lambda name: re.sub(r"([*?\[])", r"[\1]", name)  # noqa: E731  (the CLI's fnmatch)
    filters = ["--exclude", "*"]
    for name in names:
        filters += ["--include", escape(name[:-1]) + "*" if name.endswith("/*") else escape(name)]
    return filters


FILTER_MATCHES = 5000000  # filters times objects listed: a few seconds of the CLI's time


