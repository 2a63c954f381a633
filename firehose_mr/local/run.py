"""The emulated job from start to end: its inputs and splits, its commands, the work directory,
the map stage, the reduce stage, and the output committed or merged onto stdout."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import TYPE_CHECKING, List, Optional, Set

from ..errors import TaskFailed, UsageError
from . import PROG
from .commands import Commands
from .forkserver import ForkServer
from .inputs import Input, input_splits, resolve_inputs
from .output import Output, emit_merged, stdout_open, within
from .pipeline import FlagsRefused
from .progress import Progress, print_counters
from .stopping import mark_committed, signals_held, start_thread
from .tasks import Job, download, run_map, run_reduce, run_tasks

if TYPE_CHECKING:
    from .cli import Options


def warn_of_overlaps(args: List[str], files: List[Input], output: Optional[Output]) -> None:
    """Warn of what this run does as Hadoop would, but a user seldom means: a file that two
    inputs reach is read, and counted, twice; an output folder inside an input folder is read
    as input by the next run over that folder."""
    seen = set()  # type: Set[str]
    for source in files:
        if source.name == "-":
            continue
        where = os.path.realpath(source.path) if source.download is None else source.name
        if where in seen:
            sys.stderr.write("%s: warning: the inputs reach %s twice: its records are read and counted "
                             "twice (Hadoop does the same)\n" % (PROG, source.name))
            break
        seen.add(where)
    if output is not None:
        for arg in args:
            if not arg.startswith("s3://") and os.path.isdir(arg) and within(output.path, arg):
                sys.stderr.write("%s: warning: the output %s is inside the input %s: a later run over "
                                 "%s would read it as input\n" % (PROG, output.path, arg, arg))


def run_emulated(opts: Options, here: str) -> int:
    """The job that opts describe, run here; its exit status."""
    cmds = Commands(opts.mapper, opts.reducer, opts.combiner, opts.combine and opts.reducers > 0,
                    opts.flags, here)
    server = None  # type: Optional[ForkServer]
    if opts.fork_server and cmds.own and ForkServer.available():
        server = ForkServer(dict(os.environ))  # first thing: its imports overlap all that follows
    try:
        return run_planned(opts, here, cmds, server)
    finally:
        if server is not None:
            server.close()


def run_planned(opts: Options, here: str, cmds: Commands, server: Optional[ForkServer]) -> int:
    """The job's inputs, splits, work folder and output folder, then the job."""
    args = opts.inputs or [os.path.join(here, "sample_data")]
    files = resolve_inputs(args, opts.hadoop_version)
    splits = input_splits(files, opts.block_size)
    output = None  # type: Optional[Output]
    try:  # from here on, whatever happens (a signal too), the temporary directories go
        if opts.output:
            with signals_held():  # made and known at once
                output = Output(opts.output, opts.force, here)
            output.check_holds_no_input(splits)
        elif not stdout_open():
            raise UsageError("standard output is closed: give -o DIR for the result")
        warn_of_overlaps(args, files, output)  # of a run that goes on
        work = None  # type: Optional[str]
        try:
            with signals_held():
                work = tempfile.mkdtemp(prefix="run_local-")
            output_uri = "file:" + os.path.abspath(opts.output or os.path.join(work, "out"))
            job = Job(opts.reducers, opts.jobs, output_uri, work)
            if opts.mapper is None:
                job.own_mapper = cmds.mapper
            job.fork_server = server
            return run_job(job, cmds, splits, output)
        finally:
            with signals_held():  # a second ^C does not cut the clean-up short
                if work is not None:
                    shutil.rmtree(work, ignore_errors=True)
    finally:
        if output is not None:
            with signals_held():
                output.discard()  # after a commit, nothing is left to discard


def run_job(job: Job, cmds: Commands, splits: List[Input], output: Optional[Output]) -> int:
    """The map and reduce tasks of one run, in job.work, their pair's tasks forked by
    job.fork_server if there is one; the exit status."""
    progress = Progress(job, len(splits), sum(i.size for i in splits))
    if sys.stderr.isatty():
        start_thread(progress)
    try:
        os.mkdir(os.path.join(job.work, "map"))
        cmds.use_bytecode()
        if job.fork_server is not None and cmds.compiled:
            job.fork_server.warm(sorted(cmds.defining_only))
            job.forked = cmds.compiled
        if output is not None:
            job.out_dir = output.staging
        else:
            os.mkdir(job.out_dir)
        download(job, splits)
        run_tasks(job, [(run_map, job, cmds, n, source) for n, source in enumerate(splits)])
        progress.phase = "reduce"
        if job.reducers > 0:
            run_tasks(job, [(run_reduce, job, cmds, r, len(splits)) for r in range(job.reducers)])
        progress.finish()
        if output is not None:
            with signals_held():  # the point of no return, in one step
                output.commit(success_marker=True)
                mark_committed()
            status = 0
        else:
            out = job.out_dir
            with signals_held():  # once the result is all on stdout, the run has succeeded
                status = emit_merged([os.path.join(out, n) for n in sorted(os.listdir(out))], job.work)
                if status == 0:
                    mark_committed()
        print_counters(job.counters)
        return status
    except UsageError:  # an input refused once copied (an s3:// object's first bytes)
        progress.finish()
        raise
    except FlagsRefused as refused:  # bad usage, found by the first map task
        progress.finish()
        sys.stderr.write("%s\n" % refused)
        return 2
    except (TaskFailed, OSError) as failure:  # OSError: the work or output folder's disk full, most often
        progress.finish()
        sys.stderr.write("%s\n" % (failure if isinstance(failure, TaskFailed) else one_line(failure)))
        print_counters(job.counters)  # of the tasks that ran, as Hadoop shows them for a failed job
        sys.stderr.write("%s: failed; no output written\n" % PROG)
        return 1
    finally:
        job.kill_all()
        if job.fork_server is not None:
            job.fork_server.close()


def one_line(error: OSError) -> str:
    """What this run could not do, and why."""
    if error.filename is None:
        return "%s: %s" % (PROG, error.strerror or error)
    return "%s: %s: %s" % (PROG, error.filename, error.strerror or error)
