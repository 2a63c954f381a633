"""submit_step.sh's pre-flight checks made exact, against the moto server: each case here is one
that a check computed from the AWS CLI's text output got wrong (a glob that matches nothing,
scripts below a glob's depth, an output name that other keys start with, Hadoop's escapes, a
step EMR would refuse for its size, a missing code bucket, a printed --profile a shell reads as
a comment), and the dry run's commands replayed by bash with the real AWS CLI."""
import concurrent.futures
import subprocess
import sys
import uuid
from pathlib import Path
from typing import List

import pytest

from support.aws_server import AwsServer, aws  # noqa: F401  (aws: the module's moto server)
from conftest import REPO, shell
from test_submit_step import (EVENTS, WORK, World, dry_run_step, fresh, keys_under, start_cluster,
                              step_id_from, step_of, submit, world)  # noqa: F401  (world: a fixture)

pytestmark = pytest.mark.aws


def refused_before_any_change(aws: AwsServer, code: str, *args: str) -> subprocess.CompletedProcess:  # noqa: F811
    """submit_step.sh with these arguments: refused with one message, nothing written."""
    aws.clear_requests()
    result = submit(aws, *args)
    assert result.returncode in (1, 2), result.stderr
    assert aws.changing_requests() == [], result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("submit_step.sh: ")]
    assert "Traceback" not in result.stderr and len(said) == 1, result.stderr
    code_bucket, code_prefix = code[len("s3://"):].split("/", 1)
    if code_bucket == WORK:
        assert keys_under(aws, code_bucket, code_prefix) == []
    return result


def test_a_glob_that_matches_no_object_is_refused(world: World) -> None:
    """Keys start with the glob's literal part (2017/02/2...), but no hour 23 exists: Hadoop
    would fail the job with "matches 0 files"."""
    aws, cluster = world
    code, output = fresh()
    glob = "s3://%s/2017/02/2[78]/23/*" % EVENTS
    result = refused_before_any_change(aws, code, "--cluster-id", cluster, "--input", glob, "--output", output,
                                       "--code", code)
    assert result.returncode == 1
    assert "input %s: the glob matches no object" % glob in result.stderr


def test_code_below_a_globs_depth_is_in_its_reach(world: World) -> None:
    """TREE/2017/02/ becomes TREE/2017/02/*/*/*, which matches the folder TREE/2017/02/27/x: with
    input.dir.recursive, or as a "Not a file" failure without it, the scripts are in reach. (A
    tree of its own, which an upload there would not spoil for the other tests.)"""
    aws, cluster = world
    s3 = aws.client("s3")
    _, output = fresh()
    tree = "below-%s" % uuid.uuid4().hex[:8]
    s3.put_object(Bucket=WORK, Key=tree + "/2017/02/27/14/s-1-2017-02-27-14-00-00-a", Body=b'{"a":1}\n')
    code = "s3://%s/%s/2017/02/27/x/code/" % (WORK, tree)
    try:
        result = refused_before_any_change(aws, code, "--cluster-id", cluster, "--input",
                                           "s3://%s/%s/2017/02/" % (WORK, tree), "--output", output, "--code", code)
        assert result.returncode == 1
        assert "--code %s is inside the input s3://%s/%s/2017/02/" % (code, WORK, tree) in result.stderr
    finally:
        s3.delete_objects(Bucket=WORK, Delete={"Objects": [{"Key": key} for key in keys_under(aws, WORK, tree)]})


def test_an_output_that_other_keys_start_with_is_free(world: World) -> None:
    """More than a page (1000) of keys that start with the output's name, none at it or below
    it: the output does not exist."""
    aws, cluster = world
    s3 = aws.client("s3")
    code, output = fresh()
    name = output.split("/", 3)[3]
    keys = ["%s-%04d" % (name, n) for n in range(1001)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=WORK, Key=key, Body=b"x"), keys))
    try:
        result = submit(aws, "--dry-run", "--cluster-id", cluster, "--input", "s3://%s/2017/02/" % EVENTS,
                        "--output", output, "--code", code)
        assert result.returncode == 0, result.stderr
        args = dry_run_step(result.stdout)[1]["Args"]
        assert args[args.index("-output") + 1] == output
    finally:
        for start in range(0, len(keys), 1000):
            s3.delete_objects(Bucket=WORK, Delete={"Objects": [{"Key": key} for key in keys[start:start + 1000]]})


def test_a_glob_with_hadoops_escapes_reaches_its_objects(world: World) -> None:
    r"""\[ and \] are a literal [ and ] to Hadoop: the glob matches the object in odd[1]/."""
    aws, cluster = world
    s3 = aws.client("s3")
    code, output = fresh()
    folder = "esc-%s/odd[1]" % uuid.uuid4().hex[:8]
    s3.put_object(Bucket=WORK, Key=folder + "/s-1-2019-01-01-00-00-00-a", Body=b'{"a":1}\n')
    try:
        glob = "s3://%s/%s/*" % (WORK, folder.replace("[", "\\[").replace("]", "\\]"))
        result = submit(aws, "--dry-run", "--cluster-id", cluster, "--input", glob, "--output", output,
                        "--code", code)
        assert result.returncode == 0, result.stderr
        args = dry_run_step(result.stdout)[1]["Args"]
        assert args[args.index("-input") + 1] == glob
    finally:
        s3.delete_object(Bucket=WORK, Key=folder + "/s-1-2019-01-01-00-00-00-a")


def test_a_step_too_large_for_emr_is_refused_before_the_upload(world: World) -> None:
    """EMR refuses a step whose strings come to more than 10240 characters: refused here, before
    the scripts are uploaded (add-steps would fail after the upload)."""
    aws, cluster = world
    code, output = fresh()
    result = refused_before_any_change(aws, code, "--cluster-id", cluster, "--input", "s3://%s/2017/02/" % EVENTS,
                                       "--output", output, "--code", code, "-D", "mapreduce.job.name=" + "x" * 5100,
                                       "-D", "mapreduce.job.tags=" + "y" * 5100)
    assert result.returncode == 2
    assert "characters, and EMR takes at most 10240 in all" in result.stderr


def test_a_missing_code_bucket_is_refused_by_the_dry_run_too(world: World) -> None:
    aws, cluster = world
    _, output = fresh()
    code = "s3://no-such-code-bucket/code/"
    result = refused_before_any_change(aws, code, "--dry-run", "--cluster-id", cluster, "--input",
                                       "s3://%s/2017/02/" % EVENTS, "--output", output, "--code", code)
    assert result.returncode == 1
    assert "the bucket no-such-code-bucket does not exist" in result.stderr


def test_a_cluster_with_256_waiting_steps_takes_no_more(world: World) -> None:
    aws = world.aws
    cluster = start_cluster(aws)
    steps = [{"Name": "wait %d" % n, "ActionOnFailure": "CONTINUE",
              "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["true"]}} for n in range(256)]
    aws.client("emr").add_job_flow_steps(JobFlowId=cluster, Steps=steps)
    code, output = fresh()
    result = refused_before_any_change(aws, code, "--cluster-id", cluster, "--input", "s3://%s/2017/02/" % EVENTS,
                                       "--output", output, "--code", code)
    assert result.returncode == 1
    assert "256 steps are waiting or running there, the most EMR takes" in result.stderr


# ----------------------------------------------------------------------------------------------
# Replay: what --dry-run prints, run by bash with the real AWS CLI

def the_step(aws: AwsServer, cluster: str, step_id: str) -> dict:  # noqa: F811
    step = step_of(aws, cluster, step_id)
    return {"Name": step["Name"], "ActionOnFailure": step["ActionOnFailure"], "Config": step["Config"]}


def test_the_printed_commands_add_the_very_step_a_real_run_adds(world: World, tmp_path: Path) -> None:
    aws = world.aws
    real_cluster, replay_cluster = start_cluster(aws), start_cluster(aws)
    code, output = fresh()
    args = ["--input", "s3://%s/2017/02/27/" % EVENTS, "--input", "s3://%s/2017/02/28/1[0-9]/*" % EVENTS,
            "--output", output, "--code", code, "-c", "-r", "2", "-D", "mapreduce.job.name=it's $HOME, `a` \\ \"b\"",
            "--name", "nightly $(date) 'rsvps'", "--", "--key", "group.group_city,venue.venue name", "--value",
            'say "hi" $HOME']
    real = submit(aws, "--cluster-id", real_cluster, *args)
    assert real.returncode == 0, real.stderr
    dry = submit(aws, "--dry-run", "--cluster-id", replay_cluster, *args)
    assert dry.returncode == 0, dry.stderr
    replayed = shell(dry.stdout, cwd=tmp_path, env=aws.env())
    replay_step = replayed.stdout.decode().split()[-1]
    assert the_step(aws, replay_cluster, replay_step) == the_step(aws, real_cluster, step_id_from(real.stdout))


def test_a_profile_a_shell_would_take_for_a_comment_is_printed_quoted(world: World, tmp_path: Path) -> None:
    aws, cluster = world
    config = tmp_path / "config"
    config.write_text("[profile #x]\nregion = us-east-1\naws_access_key_id = testing\n"
                      "aws_secret_access_key = testing\n")
    env = aws.env(credentials=False, AWS_CONFIG_FILE=str(config))
    code, output = fresh()
    dry = submit(aws, "--dry-run", "--profile", "#x", "--cluster-id", cluster, "--input",
                 "s3://%s/2017/02/27/" % EVENTS, "--output", output, "--code", code, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "aws --profile '#x' emr add-steps" in dry.stdout
    replayed = shell(dry.stdout, cwd=tmp_path, env=env)
    step = step_of(aws, cluster, replayed.stdout.decode().split()[-1])
    assert step["Config"]["Args"] == dry_run_step(dry.stdout)[1]["Args"]


def test_the_printed_create_cluster_makes_the_cluster_and_step_a_real_run_makes(world: World,
                                                                                tmp_path: Path) -> None:
    aws = world.aws
    emr = aws.client("emr")
    code, output = fresh()
    args = ["--create-cluster", "--yes", "--instance-count", "2", "--input", "s3://%s/2017/02/27/" % EVENTS,
            "--output", output, "--code", code, "--", "--time", "mtime", "--per", "day"]

    def new_cluster(before: set) -> dict:
        made = [c["Id"] for c in emr.list_clusters()["Clusters"] if c["Id"] not in before]
        assert len(made) == 1
        cluster = emr.describe_cluster(ClusterId=made[0])["Cluster"]
        step = emr.list_steps(ClusterId=made[0])["Steps"][0]
        return {"release": cluster["ReleaseLabel"], "log": cluster["LogUri"], "ends": cluster["AutoTerminate"],
                "apps": [a["Name"] for a in cluster["Applications"]], "step": {k: step[k] for k in
                                                                            ("Name", "ActionOnFailure", "Config")}}
    before = {c["Id"] for c in emr.list_clusters()["Clusters"]}
    real = submit(aws, *args)
    assert real.returncode == 0, real.stderr
    made = new_cluster(before)
    assert made["release"] == "emr-7.14.0" and made["ends"] is True
    assert "(emr-7.14.0, Hadoop 3.4.2)" in real.stderr
    before = {c["Id"] for c in emr.list_clusters()["Clusters"]}
    dry = submit(aws, "--dry-run", *args)
    assert dry.returncode == 0, dry.stderr
    shell(dry.stdout, cwd=tmp_path, env=aws.env())
    assert new_cluster(before) == made


# ----------------------------------------------------------------------------------------------
# boto3, the one dependency

def test_without_boto3_one_line_says_how_to_install_it(world: World, tmp_path: Path) -> None:
    """A python3 without boto3 first on PATH (a bare virtual environment)."""
    aws, cluster = world
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    code, output = fresh()
    env = aws.env()
    env["PATH"] = str(bare / "bin") + ":" + env["PATH"]
    aws.clear_requests()
    result = submit(aws, "--cluster-id", cluster, "--input", "s3://%s/2017/02/" % EVENTS, "--output", output,
                    "--code", code, env=env)
    assert result.returncode == 2
    assert result.stderr == "submit_step.sh: needs boto3 (the AWS SDK for Python), which this python3 does not " \
                            "have: install it with: python3 -m pip install -r %s\n" % (REPO / "requirements.txt")
    assert aws.requests == []


def test_boto3_is_pinned_once_and_the_tests_take_it_from_there() -> None:
    def pins(name: str) -> List[str]:
        lines = (REPO / name).read_text().splitlines()
        return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]
    assert pins("requirements.txt") == ["boto3==1.43.11"]
    assert "-r ../requirements.txt" in pins("tests/requirements.txt")
    assert not [pin for pin in pins("tests/requirements.txt") if pin.startswith("boto3")]


def test_a_glob_that_matches_a_folder_of_folders_is_refused_unless_read_recursively(world: World) -> None:
    """-input TREE/2017/* matches the folder TREE/2017/02, which holds the folder 27: Hadoop reads
    a matched folder one level down and fails the step with "Not a file" on a folder there
    (tests/test_yarn_s3a.py shows it through S3A). With input.dir.recursive it reads them all."""
    aws, cluster = world
    code, output = fresh()
    glob = "s3://%s/2017/*" % EVENTS
    result = refused_before_any_change(aws, code, "--cluster-id", cluster, "--input", glob, "--output", output,
                                       "--code", code)
    assert result.returncode == 1
    assert ("input %s: the glob matches the folder s3://%s/2017/02/, which holds the folder s3://%s/2017/02/27/: "
            "Hadoop reads a folder that a glob matches one level down, and fails the step on a folder there "
            "(Not a file: s3://%s/2017/02/27)" % (glob, EVENTS, EVENTS, EVENTS)) in result.stderr
    recursive = submit(aws, "--dry-run", "--cluster-id", cluster, "--input", glob, "--output", output, "--code", code,
                       "-D", "mapreduce.input.fileinputformat.input.dir.recursive=true")
    assert recursive.returncode == 0, recursive.stderr
    assert "\"%s\"" % glob in recursive.stdout  # the step's -input, in its JSON
