"""run_local.sh's command line: its options, and the run's outcome as an exit status (2 for bad
usage, 1 for a failed job, 130 for ^C, SIGTERM or a lost terminal)."""
from __future__ import annotations

import os
import re
import signal
import sys
from typing import Any, List, Optional

from ..errors import TaskFailed, UsageError
from ..formats import EMULATED_HADOOP, NEWEST_EMR_HADOOP
from ..hadoop import LOCAL_BLOCK_SIZE, is_uri
from . import PROG
from .stopping import committed

USAGE = """\
Usage: run_local.sh [OPTIONS] [INPUT...] [-- JOB FLAGS...]
       run_local.sh --on TARGET [--ssh-key FILE] [--ssh-option OPT]... [OPTIONS] INPUT...
                    [-- JOB FLAGS...]

Runs a Hadoop Streaming job locally, giving what Hadoop gives. By default the job is this
project's pair: mapper.py (with the JOB FLAGS after --) and reducer.py.

INPUT (default: sample_data next to this script)
  FILE                one map task for the file (one per split if it is larger than 1.1
                      splits: see --block-size); .gz, .bz2 and .deflate are decompressed
                      (the ending in any case, as Hadoop 3.4 reads it: see --hadoop-version);
                      .zip, .parquet, .orc (Hadoop would read them as text) and .snappy,
                      .lz4, .zst, .lzo are refused, as is gzip under a name
                      without .gz (Hadoop would read its bytes as text)
  DIR                 every file below DIR (recursively); names starting with _ or . are skipped,
                      as Hadoop's FileInputFormat skips them
  'GLOB'              a pattern expanded here as Hadoop expands it: *, ?, [...], [!...] or
                      [^...], {a,b} (also across /), \\ escapes; quote it from the shell
  -                   standard input (one map task; gzip is recognised by its magic bytes)
  s3://BUCKET/PREFIX  every object under the prefix (a glob in the key works too), listed with
                      `aws s3api list-objects-v2` and copied into the work directory (under
                      $TMPDIR) with one `aws s3 cp --recursive`, so it runs on an EMR master node

Options
  -o, --output DIR    write part-00000... and an empty _SUCCESS into DIR, which must not exist
                      (written into a temporary sibling and renamed at the end, so a failed run
                      leaves nothing). Without -o the merged result is printed on stdout,
                      sorted by its bytes (LC_ALL=C).
      --force         replace DIR if it exists and holds an earlier job's output only
                      (part files and _SUCCESS)
  -r, --reducers N    number of reduce tasks (default 1). Keys go to reducers by Hadoop's
                      HashPartitioner; each reducer's input is sorted by key bytes.
                      -r 0 is a map-only job: one part file per map task.
  -c, --combine       run a combiner on each map task's sorted output, per partition, as
                      Hadoop does (default combiner: reducer.py --combine)
      --combiner CMD  the combiner command (implies -c)
  -j, --jobs N        run N tasks at a time (default: the number of CPUs)
      --block-size N  the block size in bytes, which sets the split size as in Hadoop: a file
                      larger than 1.1 splits gets a map task per split (default 33554432,
                      Hadoop's on a local file system; give your cluster's S3 or HDFS block
                      size to get its map tasks). Compressed files are never split here
      --hadoop-version V
                      read inputs as Hadoop V reads them: 3.4 (the default, EMR 7.4 and later)
                      picks a codec by the file name's ending in any case (x.GZ is gunzipped),
                      3.3 (EMR 6.x to 7.3) by the exact ending (x.GZ is read as text)
      --no-fork-server
                      start each task of the pair as a new python3 process; by default
                      they are forked from one that has already imported the standard
                      library they use, which saves most of a small task's start-up.
                      Either way the pair runs from its compiled code, kept in
                      __pycache__ beside it (remade when a script changes)
      --mapper CMD    the mapper command (default: mapper.py next to this script); JOB FLAGS
                      are appended to it
      --reducer CMD   the reducer command (default: reducer.py next to this script)
      --hadoop        run the same job with the real Hadoop: `hadoop jar STREAMING_JAR ...`
                      (the jar: $HADOOP_STREAMING_JAR, else
                      /usr/lib/hadoop-mapreduce/hadoop-streaming.jar as on EMR, else
                      $HADOOP_HOME/share/hadoop/tools/lib/hadoop-streaming-*.jar)

On another machine, over ssh (an EMR cluster's master node)
      --on TARGET     run the same job on TARGET and show its output here as it comes, with
                      its exit status: TARGET is a cluster id (j-...: its master node,
                      looked up with `aws emr describe-cluster`, as user hadoop) or an ssh
                      destination (user@host, or a Host of your ssh config). mapper.py,
                      reducer.py, run_local.sh and firehose_mr/ are copied there (with
                      scp, the first time only) into a folder named after their content;
                      python3 there must be 3.7 or newer. INPUT and -o must name what is
                      there: s3://... or absolute paths. ^C here stops the job there
      --ssh-key FILE  the private key for ssh and scp (the EC2 key pair's .pem file)
      --ssh-option OPT
                      passed to ssh and scp as -o OPT (repeatable), e.g.
                      StrictHostKeyChecking=accept-new; otherwise your ssh config decides
      --remote-dir DIR
                      the folder there that holds the copies (default: firehose-mr in the
                      home folder there)
      --end-with-stdin
                      stop the job, as ^C does, when standard input ends (--on runs the job
                      there so: it stops when its ssh connection ends)
  -h, --help          this help

Commands are split the way Hadoop Streaming splits -mapper/-reducer (spaces separate,
'single' or "double" quotes group, no shell, no backslash escapes). The program is looked up
in the current directory, then next to this script, then on PATH.

Every task gets the environment Hadoop gives its tasks: mapreduce_job_id,
mapreduce_task_id, mapreduce_task_attempt_id, mapreduce_task_partition,
mapreduce_task_ismap, mapreduce_map_input_file / map_input_file (file:/... or s3://...),
mapreduce_job_reduces, and their old mapred_* names.

Lines are cut like Hadoop's LineReader (LF, CRLF or a lone CR; a UTF-8 BOM at the start of a
file is dropped). A map output line's key is the bytes before its first TAB (the whole line
if it has none, with an empty value: the reducer then reads "line<TAB>"). Reducer output
lines without a TAB get a TAB appended, as TextOutputFormat writes them.

On stderr: the tasks' own stderr (after each task), a summary of the counters that tasks
reported with `reporter:counter:GROUP,NAME,N` (summed over all tasks, printed as
"Counters:", then a TAB and the GROUP, then two TABs and NAME=N per counter), progress when
stderr is a terminal, and on a failure the failed stage, its input file, exit status and the
last lines of its stderr (exit status 1). Bad usage exits with status 2.

Examples
  ./run_local.sh                                    # the census job on sample_data/
  ./run_local.sh -r 3 -c -o out -- --key response   # three reducers, a combiner, part files
  ./run_local.sh s3://my-bucket/2017/02/ -- --time @arrival --per day
  ./run_local.sh --hadoop -o out -- --key response  # the same job on the real Hadoop
  ./run_local.sh --on j-XXXX s3://my-bucket/2017/02/27/14/OBJECT -- --key response  # on EMR
"""

# --on and its options: for this end only, not passed on to the run there (see remote.py).
HERE_ONLY = ("--on", "--ssh-key", "--ssh-option", "--remote-dir")
DEFAULT_REMOTE_DIR = "firehose-mr"  # in the home folder there


class Options:
    def __init__(self) -> None:
        self.output = None  # type: Optional[str]
        self.force = False
        self.reducers = 1
        self.combine = False
        self.jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
        self.mapper = None  # type: Optional[str]
        self.reducer = None  # type: Optional[str]
        self.combiner = None  # type: Optional[str]
        self.hadoop = False
        self.fork_server = True
        self.block_size = LOCAL_BLOCK_SIZE  # type: Any
        self.hadoop_version = NEWEST_EMR_HADOOP  # whose reading of inputs is emulated
        self.inputs = []  # type: List[str]
        self.flags = []  # type: List[str]
        self.on = None  # type: Optional[str]
        self.ssh_key = None  # type: Optional[str]
        self.ssh_options = []  # type: List[str]
        self.remote_dir = DEFAULT_REMOTE_DIR
        self.here_only = []  # type: List[int]  # the places in argv of --on and its options
        self.end_with_stdin = False


def parse_options(argv: List[str]) -> Options:
    opts = Options()
    with_value = {"-o": "output", "--output": "output", "-r": "reducers", "--reducers": "reducers",
                  "-j": "jobs", "--jobs": "jobs", "--mapper": "mapper", "--reducer": "reducer",
                  "--combiner": "combiner", "--block-size": "block_size", "--on": "on",
                  "--hadoop-version": "hadoop_version",
                  "--ssh-key": "ssh_key", "--ssh-option": "ssh_options", "--remote-dir": "remote_dir"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            opts.flags = argv[i + 1:]
            break
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in with_value:
            start = i
            if not eq:
                i += 1
                if i >= len(argv):
                    raise UsageError("%s needs a value" % arg)
                value = argv[i]
            if name == "--ssh-option":
                opts.ssh_options.append(value)
            else:
                setattr(opts, with_value[name], value)
            if name in HERE_ONLY:
                opts.here_only.extend(range(start, i + 1))
        elif arg in ("-c", "--combine"):
            opts.combine = True
        elif arg == "--force":
            opts.force = True
        elif arg == "--hadoop":
            opts.hadoop = True
        elif arg == "--no-fork-server":
            opts.fork_server = False
        elif arg == "--end-with-stdin":
            opts.end_with_stdin = True
        elif arg.startswith("-") and arg != "-":
            raise UsageError("unknown option %s (see --help)" % arg)
        else:
            opts.inputs.append(arg)
        i += 1
    for name in ("reducers", "jobs", "block_size"):
        value = getattr(opts, name)
        if not (isinstance(value, int) or re.match(r"^[0-9]+$", value)):
            raise UsageError("--%s needs a number, not %r" % (name.replace("_", "-"), value))
        setattr(opts, name, int(value))
    if opts.here_only and opts.on is None:
        raise UsageError("%s needs --on" % argv[opts.here_only[0]].partition("=")[0])
    if opts.end_with_stdin and "-" in opts.inputs:
        raise UsageError("--end-with-stdin: standard input (-) cannot also be an input")
    opts.hadoop_version = major_minor(opts.hadoop_version)
    if opts.jobs < 1:
        raise UsageError("--jobs needs at least 1")
    if opts.block_size < 1:
        raise UsageError("--block-size needs at least 1")
    if opts.combiner is not None:
        opts.combine = True
    if opts.combine and opts.combiner is None and opts.reducer is not None:
        raise UsageError("-c with --reducer needs --combiner CMD")
    if opts.output == "":
        raise UsageError("-o needs a directory")
    if opts.output and is_uri(opts.output) and not opts.hadoop:
        raise UsageError("-o %s: only a local directory here (with --hadoop, any URI Hadoop "
                         "writes to)" % opts.output)
    return opts


def major_minor(version: str) -> str:
    """A --hadoop-version (3.3, 3.4.2, ...) as the major.minor version that is emulated."""
    found = re.match(r"^([0-9]+\.[0-9]+)(\.[0-9]+)?$", version)
    if found is None or found.group(1) not in EMULATED_HADOOP:
        raise UsageError("--hadoop-version: %s is not one of %s (or a release of one)"
                         % (version, ", ".join(EMULATED_HADOOP)))
    return found.group(1)


def check_tmpdir() -> None:
    """Work files go to $TMPDIR: refuse one that is not there, rather than fall back to /tmp
    (on an EMR master, TMPDIR=/mnt/tmp is set to keep them off the small root disk)."""
    folder = os.environ.get("TMPDIR")
    if folder and not os.path.isdir(folder):
        raise UsageError("TMPDIR=%s is not a folder: create it, or set TMPDIR to one" % folder)
    if folder and not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError("TMPDIR=%s cannot be written" % folder)


def main(here: str, argv: List[str]) -> int:
    """The job that argv asks for; its exit status."""
    options = argv[:argv.index("--")] if "--" in argv else argv
    if "-h" in options or "--help" in options:
        sys.stdout.write(USAGE)
        return 0
    try:
        opts = parse_options(argv)
        if opts.on is not None:
            from .remote import run_on_target
            return run_on_target(opts, here, argv)
        if opts.end_with_stdin:
            from .remote import stop_when_stdin_ends
            stop_when_stdin_ends()
        check_tmpdir()
        if opts.hadoop:
            from .hadoop_run import run_hadoop
            return run_hadoop(opts, here)
        from .run import run_emulated
        return run_emulated(opts, here)
    except UsageError as err:
        sys.stderr.write("%s: %s\n" % (PROG, err))
        return 2
    except TaskFailed as failure:  # --hadoop's output directory appeared meanwhile
        sys.stderr.write("%s\n%s: failed; no output written\n" % (failure, PROG))
        return 1


def on_terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class Console:
    """sys.stderr (or its buffer), whose reader may leave (`2>&1 | head`) or whose terminal
    may go away: from then on, what is written to it goes to /dev/null. The job goes on and
    ends as it would have, so that its exit status and its output agree."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.buffer = None  # type: Any  # for sys.stderr: its buffer, as a Console too

    def write(self, data: Any) -> int:
        try:
            return self.stream.write(data)
        except OSError:
            self.gone()
            return len(data)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError:
            self.gone()

    def gone(self) -> None:
        """Standard error on /dev/null, and what this stream still held flushed there."""
        write_nowhere(2)
        try:
            self.stream.flush()
        except OSError:
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def write_nowhere(fd: int) -> None:
    null = os.open(os.devnull, os.O_WRONLY)
    if null != fd:
        os.dup2(null, fd)
        os.close(null)


def console() -> Console:
    """sys.stderr as a Console; one on /dev/null if the run started with it closed (2>&-)."""
    stream = sys.stderr
    if stream is None:
        write_nowhere(2)
        stream = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
    wrapped = Console(stream)
    wrapped.buffer = Console(stream.buffer)
    return wrapped


def command_line(here: str, argv: List[str]) -> None:
    """`run_local.sh ARGS...`: runs the job of the pair in folder `here`, and exits with its
    status."""
    sys.stderr = console()  # type: ignore[assignment]
    for signum in (signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the terminal, or the ssh session, went away
        if signal.getsignal(signum) != signal.SIG_IGN:  # as nohup leaves it: ignored by the job too
            signal.signal(signum, on_terminate)
    try:
        status = main(here, argv)
    except KeyboardInterrupt:
        if not committed():
            try:
                sys.stderr.write("%s: interrupted; no output written\n" % PROG)
            except OSError:  # no terminal left to say it on
                pass
            sys.exit(130)
        status = 0  # after the point of no return (see stopping.py): the run has succeeded
    if committed():  # ended now: Python's own ending puts the default ^C back, which would kill it
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)
    sys.exit(status)
