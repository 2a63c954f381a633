"""run_local.sh --on's plan, as data (remote.py): the ssh and scp command lines, the folder
there named after the runnable files' content, the command lines for the shell there, what
stays here and what is passed on, and the refusals. Nothing is run over ssh (see
tests/test_remote.py for that)."""
import ast
import re
import shlex
import shutil
import subprocess

import pytest

from conftest import REPO, tool
from firehose_mr.errors import UsageError
from firehose_mr.local import remote
from firehose_mr.local.cli import parse_options


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


def test_a_run_that_ends_with_its_stdin_cannot_also_read_it():
    with pytest.raises(UsageError, match=r"^--end-with-stdin: standard input \(-\) cannot also be an input$"):
        parse_options(["--end-with-stdin", "/data", "-"])
    assert parse_options(["--end-with-stdin", "/data"]).end_with_stdin
