"""run_local.sh --on TARGET: the same job run on another machine over ssh (an EMR cluster's master
node, or any ssh destination), its output shown here as it comes.

The plan is made by pure functions (the tests check it as data): the ssh and scp command lines,
the folder there named after the content of the project's runnable files, the command lines run
there, quoted for its shell, and the refusal of arguments that would name something else there.
run_on_target carries the plan out with the system's ssh and scp:

    1. one ssh: python3's version there, and whether the folder for this content is there;
    2. if not: scp the runnable files into a temporary folder there, and one ssh renames it
       (so a folder of that name is always complete, and two versions never share one);
    3. one ssh runs that folder's run_local.sh with the same options, inputs and job flags, its
       stdout and stderr going straight to ours, its exit status ours.

The run there is stopped by the end of its standard input (--end-with-stdin), which ssh closes
when this end stops it (^C, SIGTERM) or when the connection drops: without a terminal, sshd sends
it no SIGHUP. ssh starts with SIGINT ignored, so that a ^C here reaches only this process, which
closes ssh's standard input and waits for the job there to stop, clean up and say so."""
from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from typing import TYPE_CHECKING, List, Optional

from .. import aws
from ..__main__ import FLOOR  # the pair's floor, which __main__ checks there too
from ..errors import UsageError
from ..hadoop import is_uri
from . import PROG

if TYPE_CHECKING:
    from .cli import Options

SCRIPTS = ("mapper.py", "reducer.py", "run_local.sh")
PACKAGE = "firehose_mr"
CLUSTER_USER = "hadoop"  # as `aws emr ssh` logs in
STOP_GRACE = 30  # seconds a job there gets to stop and clean up after a ^C here
SAFE_FOLDER = re.compile(r"^[A-Za-z0-9._/+-]+$")


# ------------------------------------------------------------------------------------
# The plan.
# ------------------------------------------------------------------------------------

def is_cluster_id(target: str) -> bool:
    """Whether --on names an EMR cluster (j-...) rather than an ssh destination."""
    return re.match(r"^j-[0-9A-Z]+$", target) is not None


def cluster_destination(master_dns_name: str) -> str:
    """The ssh destination of a cluster's master node."""
    return "%s@%s" % (CLUSTER_USER, master_dns_name)


def connection_args(ssh_key: Optional[str], ssh_options: List[str]) -> List[str]:
    """What every ssh and scp gets: -i KEY and -o OPT..."""
    args = ["-i", ssh_key] if ssh_key is not None else []
    for option in ssh_options:
        args += ["-o", option]
    return args


def ssh_argv(connection: List[str], destination: str, command: str) -> List[str]:
    return ["ssh"] + connection + [destination, command]


def scp_argv(connection: List[str], source: str, destination: str, remote_path: str) -> List[str]:
    """Copy the folder source to remote_path there (recursively, modes kept, no progress)."""
    return ["scp", "-r", "-p", "-q"] + connection + [source, "%s:%s" % (destination, remote_path)]


def runnable_files(project: str) -> List[str]:
    """The files a run needs, relative to the project: the pair, run_local.sh and the package's
    .py files (not the tests, not data, not compiled code)."""
    files = list(SCRIPTS)
    for root, dirs, names in os.walk(os.path.join(project, PACKAGE)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(names):
            if name.endswith(".py"):
                files.append(os.path.relpath(os.path.join(root, name), project).replace(os.sep, "/"))
    return files


def content_name(project: str, files: List[str]) -> str:
    """The name of the folder there: a hash of the files' names, modes and bytes."""
    digest = hashlib.sha256()
    for name in files:
        path = os.path.join(project, name)
        with open(path, "rb") as f:
            data = f.read()
        executable = os.stat(path).st_mode & 0o100 != 0
        digest.update(b"%s\0%d\0%d\0" % (name.encode("utf-8"), executable, len(data)))
        digest.update(data)
    return digest.hexdigest()[:20]


def incoming_name(name: str, token: str) -> str:
    """The temporary folder there that a copy goes into before it is renamed to name."""
    return ".%s.incoming-%s" % (name, token)


def probe_command(base: str, name: str) -> str:
    """Prints python3's version (`Python X.Y.Z`) and, if the folder base/name is there,
    `copied`; makes base if it is not there."""
    return "python3 -V 2>&1 && mkdir -p -- %s && if test -d %s; then echo copied; fi" % (
        shlex.quote(base), shlex.quote(base + "/" + name))


def install_command(base: str, incoming: str, name: str) -> str:
    """Renames base/incoming to base/name, unless another run put that there meanwhile."""
    return "cd -- %s && if test -d %s; then rm -rf -- %s; else mv -- %s %s; fi" % tuple(
        shlex.quote(part) for part in (base, name, incoming, incoming, name))


def remove_command(base: str, incoming: str) -> str:
    return "rm -rf -- %s" % shlex.quote(base + "/" + incoming)


def run_command(base: str, name: str, args: List[str]) -> str:
    """The folder's run_local.sh with args, stopped by the end of its standard input."""
    argv = ["exec", "%s/%s/run_local.sh" % (base, name), "--end-with-stdin"] + args
    return " ".join(shlex.quote(arg) for arg in argv)


def passed_on(argv: List[str], here_only: List[int]) -> List[str]:
    """The arguments for the run there: all but those of --on and its ssh options."""
    return [arg for i, arg in enumerate(argv) if i not in here_only]


def refusal(opts: Options) -> Optional[str]:
    """Why these options cannot run on --on's target, if they cannot: what they name must be
    there, and a relative path would be resolved there in another folder (the home folder)."""
    target = opts.on or ""
    if not target or target.startswith("-"):
        return "--on needs a cluster id (j-...) or an ssh destination, not %r" % target
    if not SAFE_FOLDER.match(opts.remote_dir) or opts.remote_dir.startswith("-"):
        return "--remote-dir %s: letters, digits and . _ + - / only" % opts.remote_dir
    if opts.ssh_key is not None and not os.path.isfile(opts.ssh_key):
        return "--ssh-key %s: no such file" % opts.ssh_key
    if not opts.inputs:
        return ("--on needs INPUT: s3://BUCKET/PREFIX or an absolute path on %s "
                "(sample_data is not copied there)" % target)
    for arg in opts.inputs:
        if arg == "-":
            return "--on: standard input (-) cannot be an input there: give s3:// or an absolute path"
        if not arg.startswith("/") and not is_uri(arg):
            return ("--on: the input %s is a relative path: on %s it would name a path in another "
                    "folder; give s3://... or an absolute path there" % (arg, target))
    if opts.output is not None and not opts.output.startswith("/") and not is_uri(opts.output):
        return ("--on: -o %s is a relative path: on %s it would name a folder in another folder; "
                "give an absolute path there" % (opts.output, target))
    return None


def python_refusal(said: str, destination: str) -> Optional[str]:
    """Why the target's python3 cannot run the pair, from what `python3 -V` said there (after
    whatever a login script there printed)."""
    version = re.search(r"^Python (\d+)\.(\d+)(\S*)", said, re.M)
    if version is None:
        lines = said.strip().splitlines()
        return "no python3 runs on %s: %s" % (destination, lines[-1] if lines else "(nothing said)")
    if (int(version.group(1)), int(version.group(2))) < FLOOR:
        return "needs Python %d.%d or newer; python3 on %s is %s.%s%s" % (
            FLOOR + (destination,) + version.groups())
    return None


def last_line(said: bytes) -> str:
    """The last line a command wrote (its error, for ssh and scp), or a note that it wrote none."""
    lines = said.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "(nothing said)"


# ------------------------------------------------------------------------------------
# Carrying it out.
# ------------------------------------------------------------------------------------

def run_on_target(opts: Options, here: str, argv: List[str]) -> int:
    """run_local.sh --on TARGET ARGS...: the job run there; its exit status."""
    why = refusal(opts)
    if why is not None:
        raise UsageError(why)
    target = opts.on or ""
    destination = cluster_destination(aws.master_node(target)) if is_cluster_id(target) else target
    connection = connection_args(opts.ssh_key, opts.ssh_options)
    files = runnable_files(here)
    name = content_name(here, files)
    if not probe(connection, destination, opts.remote_dir, name):
        copy_project(connection, destination, opts.remote_dir, name, here, files)
    command = run_command(opts.remote_dir, name, passed_on(argv, opts.here_only))
    return run_there(ssh_argv(connection, destination, command), destination)


def captured(argv: List[str]) -> "subprocess.CompletedProcess[bytes]":
    """ssh or scp, its output captured."""
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as err:
        raise UsageError("--on needs %s on PATH: %s" % (argv[0], err))


def probe(connection: List[str], destination: str, base: str, name: str) -> bool:
    """Checks python3 there; whether the folder for this content is there already."""
    found = captured(ssh_argv(connection, destination, probe_command(base, name)))
    if found.returncode == 255:
        raise UsageError("cannot reach %s over ssh: %s" % (destination, last_line(found.stderr)))
    said = found.stdout.decode("utf-8", "replace")
    why = python_refusal(said, destination)
    if why is not None:
        raise UsageError(why)
    if found.returncode != 0:
        raise UsageError("cannot make the folder %s on %s: %s" % (base, destination, last_line(found.stdout)))
    return "copied" in said.splitlines()


def copy_project(connection: List[str], destination: str, base: str, name: str, here: str,
         files: List[str]) -> None:
    """Puts the runnable files into base/name there, through a temporary folder renamed at
    the end; removes that folder if the copy does not get that far."""
    sys.stderr.write("%s: copying %d files (mapper.py, reducer.py, run_local.sh, %s/) to %s:%s/%s\n"
                     % (PROG, len(files), PACKAGE, destination, base, name))
    sys.stderr.flush()
    stage = tempfile.mkdtemp(prefix="run_local-on-")
    incoming = incoming_name(name, os.urandom(4).hex())
    installed = False
    try:
        for relative in files:
            target = os.path.join(stage, name, relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(os.path.join(here, relative), target)
        steps = [scp_argv(connection, os.path.join(stage, name), destination, base + "/" + incoming),
                 ssh_argv(connection, destination, install_command(base, incoming, name))]
        for step in steps:
            done = captured(step)
            if done.returncode != 0:
                raise UsageError("cannot copy the project to %s:%s: %s" % (
                    destination, base, last_line(done.stderr + done.stdout)))
        installed = True
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if not installed:
            remove_incoming(ssh_argv(connection, destination, remove_command(base, incoming)))


def remove_incoming(argv: List[str]) -> None:
    """The unfinished copy there removed, if that can be done in STOP_GRACE seconds."""
    try:
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=STOP_GRACE)
    except (OSError, subprocess.TimeoutExpired):
        pass


def start_ignoring_sigint(argv: List[str]) -> "subprocess.Popen[bytes]":
    """argv started with SIGINT ignored (which ssh keeps so), its stdin a pipe from here."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.Popen(argv, stdin=subprocess.PIPE)
    finally:
        signal.signal(signal.SIGINT, previous)


def run_there(argv: List[str], destination: str) -> int:
    """ssh running the job there; its exit status, which is the job's."""
    sys.stdout.flush()
    sys.stderr.flush()
    ssh = start_ignoring_sigint(argv)
    try:
        status = ssh.wait()
    except KeyboardInterrupt:  # ^C, SIGTERM or SIGHUP here
        return stop(ssh)
    if status < 0:
        sys.stderr.write("%s: ssh to %s was killed by signal %d; the job there stops as its "
                         "connection ends\n" % (PROG, destination, -status))
        return 255
    if status == 255:
        sys.stderr.write("%s: the connection to %s failed or was lost (ssh exit status 255); the "
                         "job there stops as its connection ends\n" % (PROG, destination))
    return status


def stop(ssh: "subprocess.Popen[bytes]") -> int:
    """Ends the job there by closing its standard input, and waits for it to stop and clean up
    (it says so on stderr, and ends with 130, unless it had just ended by itself); a second ^C,
    or a job that does not stop in STOP_GRACE seconds, ends ssh at once, and this end says
    that it was interrupted."""
    assert ssh.stdin is not None
    try:
        ssh.stdin.close()
        status = ssh.wait(timeout=STOP_GRACE)
        if 0 <= status < 255:  # the job there ended, and said how
            return status
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        ssh.terminate()
        ssh.wait()
    raise KeyboardInterrupt


# ------------------------------------------------------------------------------------
# The other end: --end-with-stdin.
# ------------------------------------------------------------------------------------

def stop_when_stdin_ends() -> None:
    """Reads standard input to its end in a thread, then stops the run as SIGHUP does (the
    signal goes to the main thread, which may be waiting in a system call)."""
    main_thread = threading.main_thread().ident

    def watch() -> None:
        try:
            while os.read(0, 65536):
                pass
        except OSError:
            pass
        if main_thread is not None:
            signal.pthread_kill(main_thread, signal.SIGHUP)

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()
