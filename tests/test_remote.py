"""run_local.sh --on TARGET: the same job on another machine over ssh (issue 22).

Its plan is checked as data in tests/unit/test_remote_plan.py. Here run_local.sh runs as a
process, against a real sshd on 127.0.0.1 (ssh_server.py), whose logins run on this machine as
the "master node": reached by an ssh destination, or by an EMR cluster id that the moto
endpoint's DescribeCluster resolves, and reading the moto bucket through the AWS CLI."""
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest

from support.aws_server import AwsServer, aws  # noqa: F401  (`aws` is a pytest fixture)
from conftest import REPO, SAMPLE_DATA, clean_env, sigint_at_default
from support.ssh_server import SshServer, sshd  # noqa: F401  (`sshd` is a pytest fixture)

RUN_LOCAL = REPO / "run_local.sh"
SAMPLE_FILES = sorted(p for p in SAMPLE_DATA.rglob("*") if p.is_file())
FLAGS = ["--", "--time", "@arrival", "--key", "response"]
COPYING = re.compile(r"^run_local\.sh: copying \d+ files .* to \S+:(\S+)$", re.M)


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
    return lines[next(n for n, line in enumerate(lines) if line.startswith(b"Counters: ")):]


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
