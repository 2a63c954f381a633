"""run_local.sh --on TARGET: the same job on another machine over ssh (issue 22).

The plan (ssh and scp command lines, the content-named folder there, the command line for the
shell there, the refusals) is checked as data on remote.py's functions. Everything else runs
run_local.sh as a process against a real sshd on 127.0.0.1 (ssh_server.py), whose sessions run
on this machine as the "master node": reached by an ssh destination, or by an EMR cluster id
that the moto endpoint's DescribeCluster resolves, and reading the moto bucket through the
AWS CLI."""
import ast
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest

from aws_server import AwsServer, aws  # noqa: F401  (`aws` is a pytest fixture)
from conftest import REPO, SAMPLE_DATA, clean_env, sigint_at_default, tool
from ssh_server import SshServer, sshd  # noqa: F401  (`sshd` is a pytest fixture)
from firehose_mr.local import remote
from firehose_mr.local.cli import parse_options

RUN_LOCAL = REPO / "run_local.sh"
SAMPLE_FILES = sorted(p for p in SAMPLE_DATA.rglob("*") if p.is_file())
FLAGS = ["--", "--time", "@arrival", "--key", "response"]
COPYING = re.compile(r"^run_local\.sh: copying \d+ files .* to \S+:(\S+)$", re.M)


# -- the plan, as data ------------------------------------------------------------------------------

def test_the_modules_of_on_parse_as_python_3_7():
    """--end-with-stdin runs on the master node, whose python3 may be 3.7."""
    modules = [REPO / "firehose_mr" / name for name in ("local/remote.py", "local/cli.py", "aws.py")]
    result = subprocess.run([tool("vermin"), "-t=3.7-", "--no-tips", "--violations", "--eval-annotations"]
                            + [str(m) for m in modules], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for module in modules:
        ast.parse(module.read_text(), feature_version=(3, 7))


def test_ssh_and_scp_get_the_key_and_every_option_in_order():
    connection = remote.connection_args("key.pem", ["Port=2222", "User=ec2-user"])
    assert remote.ssh_argv(connection, "hadoop@master", "true") == [
        "ssh", "-i", "key.pem", "-o", "Port=2222", "-o", "User=ec2-user", "hadoop@master", "true"]
    assert remote.scp_argv(connection, "stage/abc", "hadoop@master", "firehose-mr/.abc.incoming-1") == [
        "scp", "-r", "-p", "-q", "-i", "key.pem", "-o", "Port=2222", "-o", "User=ec2-user",
        "stage/abc", "hadoop@master:firehose-mr/.abc.incoming-1"]
    assert remote.ssh_argv(remote.connection_args(None, []), "box", "true") == ["ssh", "box", "true"]


def test_a_cluster_id_is_reached_as_hadoop_on_its_master_node():
    assert remote.is_cluster_id("j-2AXXXXXXGAPLF") and not remote.is_cluster_id("hadoop@j-host")
    assert not remote.is_cluster_id("j-") and not remote.is_cluster_id("my-host")
    assert remote.cluster_destination("ec2-1-2-3-4.compute-1.amazonaws.com") == \
        "hadoop@ec2-1-2-3-4.compute-1.amazonaws.com"


@pytest.mark.parametrize("args", [
    ["s3://bucket/2017/02/27/14/OBJECT"],
    ["-o", "/mnt/out dir", "s3://b/it's here", "/data/$HOME/x;rm -rf ~", "--", "--key", "a b", "*", "\n"],
    ["--mapper", "python3 -c 'import sys'", "/x", "--", "--key", '"quoted"', "`date`", "$(id)"],
])
def test_the_command_there_gives_its_shell_every_argument_unchanged(args):
    command = remote.run_command("firehose-mr", "0123abcd", args)
    assert shlex.split(command) == ["exec", "firehose-mr/0123abcd/run_local.sh", "--end-with-stdin"] + args
    shown = subprocess.run(["bash", "-c", command.replace("exec ", "printf '%s\\0' ", 1)],
                           capture_output=True, check=True).stdout
    assert shown.split(b"\0")[:-1] == [a.encode() for a in
                                       ["firehose-mr/0123abcd/run_local.sh", "--end-with-stdin"] + args]


def test_the_probe_and_the_install_commands():
    assert remote.probe_command("firehose-mr", "0a1b") == (
        "python3 -V 2>&1 && mkdir -p -- firehose-mr && if test -d firehose-mr/0a1b; then echo copied; fi")
    assert remote.install_command("/mnt/fm", ".0a1b.incoming-ff", "0a1b") == (
        "cd -- /mnt/fm && if test -d 0a1b; then rm -rf -- .0a1b.incoming-ff; "
        "else mv -- .0a1b.incoming-ff 0a1b; fi")
    assert remote.incoming_name("0a1b", "ff") == ".0a1b.incoming-ff"


def test_only_the_on_options_stay_here_and_the_job_flags_go_unchanged():
    argv = ["--on", "j-ABC", "-r", "2", "--ssh-option=Port=1", "--ssh-key", "k.pem", "-o", "--on",
            "--remote-dir=/mnt/fm", "--ssh-option", "User=me", "s3://b/p", "--", "--on", "x"]
    opts = parse_options(argv)
    assert (opts.on, opts.ssh_key, opts.ssh_options, opts.remote_dir, opts.output) == (
        "j-ABC", "k.pem", ["Port=1", "User=me"], "/mnt/fm", "--on")
    assert remote.passed_on(argv, opts.here_only) == ["-r", "2", "-o", "--on", "s3://b/p", "--", "--on", "x"]


def test_the_folder_there_is_named_after_the_runnable_files_content(tmp_path):
    files = remote.runnable_files(str(REPO))
    assert files[:3] == ["mapper.py", "reducer.py", "run_local.sh"]
    assert {"firehose_mr/__main__.py", "firehose_mr/local/cli.py", "firehose_mr/local/remote.py"} <= set(files)
    assert all(name.endswith(".py") for name in files[3:])
    assert not [name for name in files if "__pycache__" in name or name.startswith(("tests/", "sample_data/"))]
    copy = tmp_path / "copy"
    for name in files:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(str(REPO / name), str(copy / name))
    (copy / "firehose_mr" / "__pycache__").mkdir()
    (copy / "firehose_mr" / "__pycache__" / "aws.cpython-311.pyc").write_bytes(b"compiled")
    (copy / "notes.txt").write_text("not runnable")
    name = remote.content_name(str(REPO), files)
    assert re.match(r"^[0-9a-f]{20}$", name)
    assert remote.runnable_files(str(copy)) == files and remote.content_name(str(copy), files) == name
    with open(str(copy / "firehose_mr" / "hadoop.py"), "a") as f:
        f.write("\n")
    assert remote.content_name(str(copy), files) != name
    (copy / "firehose_mr" / "hadoop.py").write_bytes((REPO / "firehose_mr" / "hadoop.py").read_bytes())
    assert remote.content_name(str(copy), files) == name
    (copy / "run_local.sh").chmod(0o644)
    assert remote.content_name(str(copy), files) != name


@pytest.mark.parametrize("args,message", [
    (["data/2017"], "--on: the input data/2017 is a relative path: on box it would name a path in "
                    "another folder; give s3://... or an absolute path there"),
    (["/data", "-"], "--on: standard input (-) cannot be an input there: give s3:// or an absolute path"),
    ([], "--on needs INPUT: s3://BUCKET/PREFIX or an absolute path on box (sample_data is not copied there)"),
    (["-o", "out", "/data"], "--on: -o out is a relative path: on box it would name a folder in another "
                             "folder; give an absolute path there"),
    (["--remote-dir", "my folder", "/data"], "--remote-dir my folder: letters, digits and . _ + - / only"),
    (["--ssh-key", "no/such.pem", "/data"], "--ssh-key no/such.pem: no such file"),
])
def test_what_would_name_something_else_there_is_refused(args, message):
    assert remote.refusal(parse_options(["--on", "box"] + args)) == message


def test_what_can_be_read_there_is_not_refused():
    for args in (["s3://b/2017/02/"], ["/mnt/data", "-o", "/mnt/out"], ["--hadoop", "-o", "s3://b/out", "s3://b/in"],
                 ["--hadoop", "-o", "hdfs:///user/hadoop/out", "hdfs:///user/hadoop/in"]):
        assert remote.refusal(parse_options(["--on", "box"] + args)) is None, args


def test_help_shows_the_options_of_on_and_they_need_it():
    shown = subprocess.run([str(RUN_LOCAL), "--help"], capture_output=True, env=clean_env(), check=True)
    for option in ["--on TARGET", "--ssh-key FILE", "--ssh-option OPT", "--remote-dir DIR", "--end-with-stdin",
                   "./run_local.sh --on j-XXXX"]:
        assert option.encode() in shown.stdout, option
    for args in (["--ssh-key", "k.pem"], ["--ssh-option=Port=22"], ["--remote-dir", "x"]):
        alone = subprocess.run([str(RUN_LOCAL)] + args, capture_output=True, env=clean_env())
        assert alone.returncode == 2 and alone.stderr.decode() == "run_local.sh: %s needs --on\n" % (
            args[0].partition("=")[0])


def test_without_ssh_on_path_on_says_so_in_one_line(tmp_path):
    """A PATH with what run_local.sh itself needs (bash, dirname, python3), but no ssh."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("bash", "dirname", "python3"):
        found = shutil.which(program)
        assert found, program
        (bin_dir / program).symlink_to(found)
    result = subprocess.run([str(bin_dir / "bash"), str(RUN_LOCAL), "--on", "box", "/data"], capture_output=True,
                            env=clean_env(PATH=str(bin_dir)))
    assert result.returncode == 2 and result.stderr.decode().startswith("run_local.sh: --on needs ssh on PATH: ")
    assert len(result.stderr.splitlines()) == 1


def test_the_python_there_is_checked_against_the_pairs_floor():
    assert remote.python_refusal("Python 3.6.8\n", "hadoop@m") == \
        "needs Python 3.7 or newer; python3 on hadoop@m is 3.6.8"
    assert remote.python_refusal("Python 2.7.18\n", "m") == "needs Python 3.7 or newer; python3 on m is 2.7.18"
    assert remote.python_refusal("Python 3.7.0\ncopied\n", "m") is None
    assert remote.python_refusal("Python 3.12.1rc1\n", "m") is None
    assert remote.python_refusal("Welcome to the master node\nPython 3.6.8\n", "m") == \
        "needs Python 3.7 or newer; python3 on m is 3.6.8"
    assert remote.python_refusal("bash: line 1: python3: command not found\n", "m") == \
        "no python3 runs on m: bash: line 1: python3: command not found"


# -- end to end, over a real sshd -------------------------------------------------------------------

class Remote:
    """A folder of the test's own that plays the master node's: the copies of the project
    (--remote-dir) and TMPDIR."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.copies = root / "copies"
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True)

    def env(self, base: Dict[str, str]) -> Dict[str, str]:
        env = dict(base)
        env.update(TMPDIR=str(self.tmp), LC_ALL="C.UTF-8")
        return env

    def options(self, sshd: SshServer, key: Optional[Path] = None) -> List[str]:  # noqa: F811
        return sshd.options(key) + ["--remote-dir", str(self.copies)]


@pytest.fixture
def there(tmp_path: Path) -> Iterator[Remote]:
    """The master node's folder; whatever a failed test left running there is stopped."""
    remote_folder = Remote(tmp_path / "there")
    yield remote_folder
    for pid in processes_mentioning(str(remote_folder.root)):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def run_local(args: List[str], env: Dict[str, str], cwd: Path = REPO) -> subprocess.CompletedProcess:
    result = subprocess.run([str(RUN_LOCAL)] + args, cwd=str(cwd), env=env, capture_output=True, timeout=180)
    assert b"Traceback" not in result.stderr, result.stderr.decode()
    return result


def counter_lines(stderr: bytes) -> List[bytes]:
    lines = stderr.splitlines()
    return lines[lines.index(b"Counters: 6"):]


def upload_sample_data(aws: AwsServer) -> None:  # noqa: F811
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="events")
    for path in SAMPLE_FILES:
        s3.put_object(Bucket="events", Key="firehose/" + path.relative_to(SAMPLE_DATA).as_posix(),
                      Body=path.read_bytes())


def start_cluster(aws: AwsServer) -> str:  # noqa: F811
    return aws.client("emr").run_job_flow(
        Name="analytics", ReleaseLabel="emr-7.1.0", Applications=[{"Name": "Hadoop"}],
        Instances={"MasterInstanceType": "m5.xlarge", "SlaveInstanceType": "m5.xlarge", "InstanceCount": 3,
                   "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole")["JobFlowId"]


@pytest.mark.aws
def test_on_a_destination_and_on_a_cluster_the_result_is_the_local_one(
        aws: AwsServer, sshd: SshServer, there: Remote, tmp_path: Path):  # noqa: F811
    upload_sample_data(aws)
    env = there.env(aws.env())
    local = run_local(["-r", "2", str(SAMPLE_DATA)] + FLAGS, env)
    assert local.returncode == 0 and local.stdout.count(b"\n") > 4

    first = run_local(["--on", sshd.destination] + there.options(sshd) + ["-r", "2", "s3://events/firehose"]
                      + FLAGS, env)
    assert first.returncode == 0, first.stderr.decode()
    assert first.stdout == local.stdout
    assert counter_lines(first.stderr) == counter_lines(local.stderr)
    copied = COPYING.findall(first.stderr.decode())
    assert len(copied) == 1 and Path(copied[0]).parent == there.copies, first.stderr.decode()
    folder = Path(copied[0])
    assert sorted(p.name for p in there.copies.iterdir()) == [folder.name]  # no temporary copy left
    assert (folder / "firehose_mr" / "local" / "remote.py").read_bytes() == \
        (REPO / "firehose_mr" / "local" / "remote.py").read_bytes()
    assert not (folder / "tests").exists() and not (folder / "sample_data").exists()
    inode = folder.stat().st_ino
    (folder / "marker").write_text("left by the test")  # a new copy would not have it

    cluster = start_cluster(aws)
    master = aws.client("emr").describe_cluster(ClusterId=cluster)["Cluster"]["MasterPublicDnsName"]
    reached = tmp_path / "reached"  # the host name each ssh was given, before HostName replaces it
    noted = ["--ssh-option", "PermitLocalCommand=yes", "--ssh-option", "LocalCommand=echo %%n >>%s" % reached]
    aws.clear_requests()
    second = run_local(["--on", cluster, "--ssh-option", "User=" + sshd.user] + noted + there.options(sshd)
                       + ["-r", "2", "s3://events/firehose"] + FLAGS, env)
    assert reached.read_text() == (master + "\n") * 2  # the probe, the run
    assert second.returncode == 0, second.stderr.decode()
    assert second.stdout == local.stdout and counter_lines(second.stderr) == counter_lines(local.stderr)
    assert not COPYING.search(second.stderr.decode())  # nothing copied, the same folder used
    assert folder.stat().st_ino == inode and (folder / "marker").exists()
    assert sorted(p.name for p in there.copies.iterdir()) == [folder.name]
    assert list(there.tmp.iterdir()) == []
    assert [r.operation for r in aws.requests if r.operation.startswith("Describe")] == ["DescribeCluster"]

    one_object = "s3://events/firehose/" + SAMPLE_FILES[0].relative_to(SAMPLE_DATA).as_posix()
    single = run_local(["--on", sshd.destination] + there.options(sshd) + ["-o", str(tmp_path / "out"),
                       one_object] + FLAGS, env)
    alone = run_local(["-o", str(tmp_path / "out-here"), str(SAMPLE_FILES[0])] + FLAGS, env)
    assert single.returncode == alone.returncode == 0 and single.stdout == b"", single.stderr.decode()
    assert (tmp_path / "out" / "part-00000").read_bytes() == (tmp_path / "out-here" / "part-00000").read_bytes()


def test_a_job_that_fails_there_fails_here_with_its_message_and_status(sshd: SshServer, there: Remote,
                                                                        tmp_path: Path):  # noqa: F811
    env = there.env(clean_env())
    failing = tmp_path / "failing.py"
    failing.write_text("#!/usr/bin/env python3\nimport sys\nsys.stderr.write('no way, said the mapper\\n')\n"
                       "sys.exit(3)\n")
    failing.chmod(0o755)
    on = ["--on", sshd.destination] + there.options(sshd)
    failed = run_local(on + ["--mapper", str(failing), str(SAMPLE_DATA)], env)
    here = run_local(["--mapper", str(failing), str(SAMPLE_DATA)], env)
    assert failed.returncode == here.returncode == 1
    assert failed.stdout == b"" and b"no way, said the mapper" in failed.stderr
    assert failed.stderr.endswith(b"run_local.sh: failed; no output written\n")
    assert failed.stderr.splitlines()[-3:] == here.stderr.splitlines()[-3:]
    refused = run_local(on + [str(SAMPLE_DATA), "--", "--per", "week"], env)
    assert refused.returncode == 2 and refused.stderr.decode().splitlines()[-1].startswith(
        "run_local.sh: mapper.py refuses the job flags: argument --per: invalid choice: 'week'")
    assert list(there.tmp.iterdir()) == []


def gone(pid: int) -> bool:
    """Whether a process has ended (a zombie that nobody reaped yet counts as ended)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_python3_there_below_the_floor_is_named_and_nothing_is_copied(there: Remote, tmp_path: Path):
    """A master node whose python3 is 3.6 (a stand-in that answers -V as 3.6.8 does)."""
    old_bin = tmp_path / "old-bin"
    old_bin.mkdir()
    (old_bin / "python3").write_text("#!/bin/sh\necho 'Python 3.6.8'\n")
    (old_bin / "python3").chmod(0o755)
    server = SshServer(tmp_path / "old-sshd", path_first=old_bin)
    (tmp_path / "old-sshd").mkdir()
    server.start()
    try:
        result = run_local(["--on", server.destination] + there.options(server) + ["s3://events/x"],
                           there.env(clean_env()))
    finally:
        server.stop()
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode() == "run_local.sh: needs Python 3.7 or newer; python3 on %s is 3.6.8\n" % (
        server.destination)
    assert not (there.copies.exists() and list(there.copies.iterdir()))


def processes_mentioning(text: str) -> Set[int]:
    """Processes whose command line holds text (zombies left out)."""
    found = set()  # type: Set[int]
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    cmdline = f.read()
                with open("/proc/%s/stat" % entry) as f:
                    zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                continue
            if text.encode() in cmdline and not zombie:
                found.add(int(entry))
    return found


def start_slow_job(sshd: SshServer, there: Remote,  # noqa: F811
                   tmp_path: Path) -> Tuple[subprocess.Popen, List[int], Path]:
    """run_local.sh --on with a mapper that notes its pid and sleeps; once two tasks run there."""
    started = tmp_path / "started"
    started.mkdir()
    slow = tmp_path / "slow.py"
    slow.write_text("#!/usr/bin/env python3\nimport os, time\nopen(os.path.join(%r, str(os.getpid())), 'w')"
                    ".close()\ntime.sleep(120)\n" % str(started))
    slow.chmod(0o755)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in "abc":
        (inputs / name).write_text(name + "\n")
    out = tmp_path / "out"
    proc = subprocess.Popen([str(RUN_LOCAL), "--on", sshd.destination] + there.options(sshd)
                            + ["--mapper", str(slow), "-j", "2", "-o", str(out), str(inputs)],
                            cwd=str(tmp_path), env=there.env(clean_env()), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=sigint_at_default)
    deadline = time.monotonic() + 60
    while len(list(started.iterdir())) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    running_there = processes_mentioning(str(there.copies))
    assert running_there, "the run there is not found by its folder"
    return proc, [int(p.name) for p in started.iterdir()], out


def nothing_left_there(there: Remote, tasks: List[int], out: Path) -> None:
    """No process of the run there (by its folder), none of its tasks, no temporary folder and
    no output."""
    deadline = time.monotonic() + 60
    while processes_mentioning(str(there.root)) or not all(gone(pid) for pid in tasks):
        assert time.monotonic() < deadline, (processes_mentioning(str(there.root)), tasks)
        time.sleep(0.1)
    assert list(there.tmp.iterdir()) == [] and not out.exists()


def test_a_ctrl_c_here_stops_the_job_there_and_leaves_nothing(sshd: SshServer, there: Remote,
                                                             tmp_path: Path):  # noqa: F811
    """^C at a terminal: SIGINT to the whole foreground process group, ssh included."""
    proc, tasks, out = start_slow_job(sshd, there, tmp_path)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.endswith(b"run_local.sh: interrupted; no output written\n"), err  # said there
    assert err.count(b"interrupted") == 1
    # the job there had cleaned up before it said so; its last processes end at once
    nothing_left_there(there, tasks, out)


def test_a_dropped_connection_stops_the_job_there_and_leaves_nothing(sshd: SshServer, there: Remote,
                                                                    tmp_path: Path):  # noqa: F811
    proc, tasks, out = start_slow_job(sshd, there, tmp_path)
    ssh = [pid for pid in processes_mentioning(str(there.copies))
           if Path("/proc/%d/comm" % pid).read_text() == "ssh\n"]
    assert len(ssh) == 1
    os.kill(ssh[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 255
    assert err.decode().splitlines()[-1].startswith("run_local.sh: ssh to %s was killed by signal 9; "
                                                     "the job there stops" % sshd.destination)
    nothing_left_there(there, tasks, out)


@pytest.mark.aws
def test_an_unknown_or_ended_cluster_a_refused_key_and_a_relative_input_each_get_one_line(
        aws: AwsServer, sshd: SshServer, there: Remote, tmp_path: Path):  # noqa: F811
    env = there.env(aws.env())
    unknown = run_local(["--on", "j-NOSUCHCLUSTER"] + there.options(sshd) + ["s3://events/x"], env)
    refused = run_local(["--on", sshd.destination] + there.options(sshd, sshd.other_key) + ["/data"], env)
    relative = run_local(["--on", sshd.destination] + there.options(sshd) + ["sample_data"], env)
    ended = start_cluster(aws)
    aws.client("emr").terminate_job_flows(JobFlowIds=[ended])
    terminated = run_local(["--on", ended] + there.options(sshd) + ["s3://events/x"], env)
    for result, start in [(unknown, "run_local.sh: cannot look up the cluster j-NOSUCHCLUSTER: An error occurred"),
                          (terminated, "run_local.sh: the cluster %s is TERMINATED: its master node is gone\n" % ended),
                          (refused, "run_local.sh: cannot reach %s over ssh: " % sshd.destination),
                          (relative, "run_local.sh: --on: the input sample_data is a relative path")]:
        said = result.stderr.decode()
        assert result.returncode == 2 and len(said.splitlines()) == 1 and said.startswith(start), said
        assert result.stdout == b""
    assert "Permission denied (publickey)" in refused.stderr.decode()
    assert not there.copies.exists()  # nothing was copied anywhere
