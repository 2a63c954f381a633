"""--hadoop: the same job through the real Hadoop, `hadoop jar STREAMING_JAR ...`, with the
pair shipped by -files as submit_step.sh ships it, and the output committed as the emulated
run commits it."""
from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, List, Optional

from ..errors import UsageError
from ..globs import has_wildcard
from ..hadoop import QuotingError, is_uri, job_counters, quote_arg, split_args
from . import PROG
from .output import Output, emit_merged
from .progress import print_counters
from .stopping import mark_committed, signals_held

if TYPE_CHECKING:
    from .cli import Options


def streaming_jar() -> str:
    if os.environ.get("HADOOP_STREAMING_JAR"):
        return os.environ["HADOOP_STREAMING_JAR"]
    emr = "/usr/lib/hadoop-mapreduce/hadoop-streaming.jar"
    if os.path.isfile(emr):
        return emr
    home = os.environ.get("HADOOP_HOME")
    if home:
        jars = sorted(glob.glob(os.path.join(home, "share/hadoop/tools/lib/hadoop-streaming-*.jar")))
        jars = [j for j in jars if not j.endswith(("-sources.jar", "-tests.jar"))]
        if jars:
            return jars[-1]
    raise UsageError("no hadoop-streaming jar: set HADOOP_STREAMING_JAR (or HADOOP_HOME)")


def hadoop_path(path: str) -> str:
    """A local path as a file: URI (the cluster's default file system may be HDFS)."""
    return path if is_uri(path) else "file://" + os.path.abspath(path)


def shippable(paths: List[str], work: str) -> List[str]:
    """The files for -files, copied into the work directory: Hadoop reads each as a URI twice
    (escaped once only), so a space, comma, # or % in the project's path would stop the job."""
    folder = os.path.join(work, "files")
    os.mkdir(folder)
    copies = []
    for path in paths:
        copy = os.path.join(folder, os.path.basename(path))
        shutil.copy2(path, copy)
        copies.append("file://" + copy)
    if re.search(r"[\s,#%]", folder):
        raise UsageError("--hadoop cannot ship files from %s (Hadoop takes -files as URIs): set TMPDIR "
                         "to a folder without spaces, commas, # or %%" % folder)
    return copies


def hadoop_command(argv: List[str], here: str, shipped: List[str], default: bool) -> str:
    """A task command for -mapper/-reducer/-combiner. The files it names (this project's
    script, or local files named by relative paths) are shipped with -files and named by
    their base name, as the task's working directory holds them."""
    words = []
    for n, word in enumerate(argv):
        path = None  # type: Optional[str]
        if default:
            path = os.path.join(here, word) if n == 0 else None
        elif not is_uri(word) and not os.path.isabs(word):
            if os.path.isfile(word):
                path = os.path.abspath(word)
            elif n == 0 and "/" not in word and os.path.isfile(os.path.join(here, word)):
                path = os.path.join(here, word)
        if path is not None:
            if path not in shipped:
                shipped.append(path)
            word = os.path.basename(path)
        try:
            words.append(quote_arg(word))
        except QuotingError as error:
            raise UsageError(str(error))
    if default:  # as submit_step.sh runs them: no reliance on the #! line or the executable bit
        words.insert(0, "python3")
    return " ".join(words)


def stop(proc: subprocess.Popen) -> None:
    """End the hadoop process and everything in its group (its JVM, the job's tasks): SIGTERM,
    and SIGKILL to what is left after STOP_GRACE seconds, so that no task writes into the
    output folder once it is removed."""
    group = proc.pid
    signals = [signal.SIGTERM, signal.SIGKILL]
    deadline = time.monotonic()
    while True:
        if signals and time.monotonic() >= deadline:
            try:
                os.killpg(group, signals.pop(0))
            except OSError:  # ProcessLookupError: the group has ended
                break
            deadline = time.monotonic() + STOP_GRACE
        if proc.poll() is not None and not group_alive(group):
            break
        if not signals and time.monotonic() >= deadline:
            break  # only processes that SIGKILL cannot end (in uninterruptible I/O) are left
        time.sleep(0.05)
    proc.wait()


STOP_GRACE = 5.0


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except OSError:
        return False


def run_hadoop(opts: Options, here: str) -> int:
    if "-" in opts.inputs:
        raise UsageError("--hadoop cannot read standard input")
    jar = streaming_jar()
    shipped = []  # type: List[str]
    mapper = hadoop_command(split_args(opts.mapper) + opts.flags if opts.mapper
                            else ["mapper.py"] + opts.flags, here, shipped, opts.mapper is None)
    reducer = hadoop_command(split_args(opts.reducer) if opts.reducer else ["reducer.py"],
                             here, shipped, opts.reducer is None)
    combiner = None
    if opts.combine and opts.reducers > 0:
        combiner = hadoop_command(split_args(opts.combiner) if opts.combiner
                                  else ["reducer.py", "--combine"], here, shipped,
                                  opts.combiner is None)
    inputs = opts.inputs or [os.path.join(here, "sample_data")]
    for arg in inputs:
        if not is_uri(arg) and not os.path.exists(arg) and not has_wildcard(arg):
            raise UsageError("input path does not exist: %s" % arg)
    work = None  # type: Optional[str]
    output = None  # type: Optional[Output]
    try:  # from here on, whatever happens (a signal too), the temporary directories go
        with signals_held():  # made and known at once
            work = tempfile.mkdtemp(prefix="run_local-hadoop-")
            if opts.output and not is_uri(opts.output):
                output = Output(opts.output, opts.force, here, create=False)
        if output is not None:
            target = output.staging
        elif opts.output:
            target = opts.output
        else:
            target = os.path.join(work, "out")
        command = ["hadoop", "jar", jar,
                   "-D", "mapreduce.job.reduces=%d" % opts.reducers,
                   "-D", "mapreduce.input.fileinputformat.input.dir.recursive=true",
                   "-D", "mapreduce.local.map.tasks.maximum=%d" % opts.jobs,
                   "-D", "mapreduce.local.reduce.tasks.maximum=%d" % opts.jobs,
                   "-D", "fs.local.block.size=%d" % opts.block_size,
                   "-files", ",".join(shippable(shipped, work)),
                   "-mapper", mapper, "-reducer", reducer]
        if combiner:
            command += ["-combiner", combiner]
        for arg in inputs:
            command += ["-input", hadoop_path(arg)]
        command += ["-output", hadoop_path(target)]
        try:  # in a process group of its own, which stop() ends with all its tasks
            proc = subprocess.Popen(command, cwd=work, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as err:
            raise UsageError("--hadoop needs hadoop on PATH: %s" % err)
        report = []  # type: List[str]
        try:
            for raw in proc.stderr:
                sys.stderr.buffer.write(raw)
                report.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
            proc.wait()
        except BaseException:  # ^C, SIGTERM, SIGHUP: the job stops before its output is removed
            with signals_held():
                stop(proc)
            raise
        counters = job_counters(report)
        sys.stderr.flush()
        if proc.returncode != 0:
            sys.stderr.write("%s: hadoop failed (exit status %d); no output written\n"
                             % (PROG, proc.returncode))
            return 1
        if output is not None:
            with signals_held():  # the point of no return, in one step
                output.commit(success_marker=False)
                mark_committed()
            output = None
        status = 0
        if not opts.output:
            status = emit_merged([os.path.join(target, n) for n in sorted(os.listdir(target))
                                  if n.startswith("part-")], work)
        print_counters(counters)
        return status
    finally:
        with signals_held():  # a second ^C does not cut the clean-up short
            if output is not None:
                output.discard()
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)


