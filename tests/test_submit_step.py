"""submit_step.sh against a real endpoint: moto's S3 and EMR in server mode on 127.0.0.1
(tests/support/aws_server.py), which the script reaches with boto3, and the tests with boto3 and the
real AWS CLI (for setup, checks, and the commands a dry run prints)."""
import concurrent.futures
import fnmatch
import gzip
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.aws_server import AwsServer, aws  # noqa: F401  (aws: the module's moto server)
from conftest import REPO, SAMPLE_DATA, clean_env, shell, sigint_at_default
from firehose_mr.errors import UsageError
from firehose_mr.submit import emr_logs, plan
from support.hadoop_splitargs import split_args
from support import snappy_files

pytestmark = pytest.mark.aws

SCRIPT = REPO / "submit_step.sh"
EVENTS = "firehose-events"  # the Firehose bucket: sample_data/ as its tree YYYY/MM/DD/HH/object
WORK = "firehose-work"  # code, output and logs
LOG_URI = "s3n://%s/emr-logs/" % WORK  # EMR reports log URIs with s3n://
SAMPLE_KEYS = sorted(p.relative_to(SAMPLE_DATA).as_posix() for p in SAMPLE_DATA.rglob("*") if p.is_file())


class World(NamedTuple):
    aws: AwsServer
    cluster: str


@pytest.fixture(scope="module")
def world(aws: AwsServer) -> World:  # noqa: F811
    """Two buckets (the sample Firehose tree, and one for work) and a waiting cluster."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=EVENTS)
    s3.create_bucket(Bucket=WORK)
    for key in SAMPLE_KEYS:
        s3.upload_file(str(SAMPLE_DATA / key), EVENTS, key)
    return World(aws, start_cluster(aws))


def start_cluster(aws: AwsServer, log_uri: Optional[str] = LOG_URI) -> str:  # noqa: F811
    """A waiting cluster; log_uri None: one made without a log URI."""
    logs = {"LogUri": log_uri} if log_uri is not None else {}
    return aws.client("emr").run_job_flow(
        Name="analytics", ReleaseLabel="emr-7.1.0", Applications=[{"Name": "Hadoop"}],
        Instances={"MasterInstanceType": "m5.xlarge", "SlaveInstanceType": "m5.xlarge", "InstanceCount": 3,
                   "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole", **logs)["JobFlowId"]


def fresh() -> Tuple[str, str]:
    """A code prefix and an output path nobody used."""
    tag = uuid.uuid4().hex[:10]
    return "s3://%s/code-%s/" % (WORK, tag), "s3://%s/out-%s" % (WORK, tag)


def submit(aws: AwsServer, *args: str, env: Optional[Dict[str, str]] = None,  # noqa: F811
           script: Path = SCRIPT) -> subprocess.CompletedProcess:
    return subprocess.run([str(script), *args], env=env or aws.env(), capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)


def cli(aws: AwsServer, *args: str) -> dict:  # noqa: F811
    """The real AWS CLI against the server, JSON output."""
    result = subprocess.run(["aws", *args, "--output", "json"], env=aws.env(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def step_of(aws: AwsServer, cluster: str, step_id: str) -> dict:  # noqa: F811
    return cli(aws, "emr", "describe-step", "--cluster-id", cluster, "--step-id", step_id)["Step"]


def step_id_from(stdout: str) -> str:
    first = stdout.splitlines()[0]
    assert first.startswith("Step s-"), stdout
    return first.split()[1]


def keys_under(aws: AwsServer, bucket: str, prefix: str) -> List[str]:  # noqa: F811
    listed = aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def s3_state(aws: AwsServer) -> dict:  # noqa: F811
    """Everything a request could change that these tests look at."""
    s3 = aws.client("s3")
    emr = aws.client("emr")
    objects = {}
    for bucket in s3.list_buckets()["Buckets"]:
        for item in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            objects[(bucket["Name"], item["Key"])] = item["ETag"]
    clusters = {c["Id"]: [s["Id"] for s in emr.list_steps(ClusterId=c["Id"])["Steps"]]
                for c in emr.list_clusters()["Clusters"]}
    return {"objects": objects, "clusters": clusters}


def hadoop_glob_matches(glob: str, keys: List[str]) -> List[str]:
    """The keys a Hadoop glob over s3://EVENTS/ matches: per path segment, * and ? stay in one."""
    assert glob.startswith("s3://%s/" % EVENTS)
    parts = glob[len("s3://%s/" % EVENTS):].split("/")
    return [key for key in keys if len(key.split("/")) == len(parts)
            and all(fnmatch.fnmatchcase(k, p) for k, p in zip(key.split("/"), parts))]


def mapper_flags(args: List[str]) -> List[str]:
    """What mapper.py receives on the cluster: the -mapper string as Hadoop splits it."""
    words = split_args(args[args.index("-mapper") + 1])
    assert words[:2] == ["python3", "mapper.py"]
    return words[2:]


def expected_args(code: str, output: str, inputs: List[str], mapper: str, extra: List[str] = (),
                  generic: List[str] = ()) -> List[str]:
    args = ["hadoop-streaming", "-files", "%smapper.py#mapper.py,%sreducer.py#reducer.py" % (code, code)]
    args += list(generic)
    for glob in inputs:
        args += ["-input", glob]
    return args + ["-output", output, "-mapper", mapper, "-reducer", "python3 reducer.py"] + list(extra)


# ----------------------------------------------------------------------------------------------
# The step's arguments, read back with `aws emr describe-step`

NASTY_FLAGS = ["--key", "group.group_city,venue.venue name", "--time", "it's", "--value", 'say "hi" \\ & more',
               "--per", "day"]


def test_step_has_the_arguments_for_prefix_glob_and_object_inputs(world: World) -> None:
    aws, cluster = world
    code, output = fresh()
    obj = "s3://%s/%s" % (EVENTS, SAMPLE_KEYS[2])  # 2017/02/28/09/...
    explicit_glob = "s3://%s/2017/02/28/1[0-9]/*" % EVENTS
    result = submit(aws, "--cluster-id", cluster, "--input", "s3://%s/2017/02/27/" % EVENTS,
                    "--input", explicit_glob, "--input", obj,
                    "--output", output + "/", "--code", code,
                    "-c", "-r", "3", "-D", "mapreduce.job.name=firehose mr, 'test'", "--name", 'nightly "rsvps" \\ &',
                    "--", *NASTY_FLAGS)
    assert result.returncode == 0, result.stderr
    step = step_of(aws, cluster, step_id_from(result.stdout))
    args = step["Config"]["Args"]
    globs = ["s3://%s/2017/02/27/*/*" % EVENTS, explicit_glob, obj]
    assert args == expected_args(code, output, globs, args[args.index("-mapper") + 1],
                                 ["-combiner", "python3 reducer.py --combine", "-numReduceTasks", "3"],
                                 ["-D", "mapreduce.job.name=firehose mr, 'test'"])
    assert mapper_flags(args) == NASTY_FLAGS
    assert step["Config"]["Jar"] == "command-runner.jar"
    assert step["ActionOnFailure"] == "CONTINUE"
    assert step["Name"] == 'nightly "rsvps" \\ &'
    assert hadoop_glob_matches(globs[0], SAMPLE_KEYS) == [k for k in SAMPLE_KEYS if k.startswith("2017/02/27/")]
    # each prefix becomes the glob at the depth of its objects, which reaches exactly them (no folder)
    for given, glob in [("", "*/*/*/*/*"), ("2017/02/", "2017/02/*/*/*"), ("2017/02/28", "2017/02/28/*/*")]:
        dry = submit(aws, "--dry-run", "--cluster-id", cluster, "--input", "s3://%s/%s" % (EVENTS, given),
                     "--output", fresh()[1], "--code", code)
        assert dry.returncode == 0, dry.stderr
        dry_args = dry_run_step(dry.stdout)[1]["Args"]
        assert dry_args[dry_args.index("-input") + 1] == "s3://%s/%s" % (EVENTS, glob)
        assert hadoop_glob_matches("s3://%s/%s" % (EVENTS, glob), SAMPLE_KEYS) == [
            k for k in SAMPLE_KEYS if k.startswith(given)]
    # and the scripts are in S3, byte for byte
    s3 = aws.client("s3")
    for name in ("mapper.py", "reducer.py"):
        body = s3.get_object(Bucket=WORK, Key=code.split("/", 3)[3] + name)["Body"].read()
        assert body == (REPO / name).read_bytes()


@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
def test_a_long_step_name_is_cut_to_256_whole_characters(world: World, locale: str) -> None:
    """EMR takes 256 characters of a name, in any locale (a C locale must not make them bytes,
    nor cut a character in half: EMR would get a broken name)."""
    aws, cluster = world
    code, output = fresh()
    name = "Ärgers " + "€" * 300
    result = submit(aws, "--cluster-id", cluster, "--input", "s3://%s/2017/02/27/" % EVENTS,
                    "--output", output, "--code", code, "--name", name, env=aws.env(LC_ALL=locale))
    assert result.returncode == 0, result.stderr
    got = step_of(aws, cluster, step_id_from(result.stdout))["Name"]
    assert name.startswith(got)
    assert len(got) == 256  # characters, in every locale


def test_step_for_a_date_range_covers_the_hours_that_exist(world: World) -> None:
    aws, cluster = world
    code, output = fresh()
    flags = ["--key", "response", "--time", "@arrival", "--per", "hour"]
    result = submit(aws, "--cluster-id", cluster, "--input", "s3://%s/" % EVENTS, "--from", "2017-02-27T15",
                    "--to", "2017-02-28T09", "--output", output, "--code", code, "--", *flags)
    assert result.returncode == 0, result.stderr
    args = step_of(aws, cluster, step_id_from(result.stdout))["Config"]["Args"]
    globs = ["s3://%s/2017/02/27/15/*" % EVENTS, "s3://%s/2017/02/28/09/*" % EVENTS]
    assert args == expected_args(code, output, globs, "python3 mapper.py " + " ".join(flags))
    assert mapper_flags(args) == flags
    covered = [key for glob in globs for key in hadoop_glob_matches(glob, SAMPLE_KEYS)]
    assert covered == [k for k in SAMPLE_KEYS if "2017/02/27/15" <= k[:13] <= "2017/02/28/09"]


def dry_run_step(stdout: str) -> Tuple[List[List[str]], dict]:
    """The commands a dry run printed, and the step JSON of its add-steps or create-cluster (a
    --steps file://FILE, which the here-document before it writes)."""
    lines = stdout.splitlines()
    commands = [shlex.split(line) for line in lines if line.startswith("aws ")]
    last = commands[-1]
    step_file = last[last.index("--steps") + 1][len("file://"):]
    opening = lines.index("cat > %s <<'JSON'" % step_file)
    assert lines[opening + 2] == "JSON"
    return commands, json.loads(lines[opening + 1])[0]


@pytest.mark.parametrize("start, end, folders", [
    ("2017-02-27", "2017-02-28", ["2017/02/27/*/*", "2017/02/28/*/*"]),
    ("2017-02-01", "2017-02-28", ["2017/02/*/*/*"]),
    ("2017-01-01", "2017-12-31T23", ["2017/*/*/*/*"]),
    ("2016-12-31T23", "2017-02-27T14", ["2017/02/27/14/*"]),
])
def test_date_ranges_become_the_fewest_globs_over_existing_folders(world: World, start: str, end: str,
                                                                   folders: List[str]) -> None:
    aws, cluster = world
    code, output = fresh()
    result = submit(aws, "--dry-run", "--cluster-id", cluster, "--input", "s3://%s/" % EVENTS,
                    "--from", start, "--to", end, "--output", output, "--code", code)
    assert result.returncode == 0, result.stderr
    args = dry_run_step(result.stdout)[1]["Args"]
    globs = ["s3://%s/%s" % (EVENTS, folder) for folder in folders]
    assert args == expected_args(code, output, globs, "python3 mapper.py")


def test_a_date_range_without_data_is_refused(world: World) -> None:
    aws, cluster = world
    code, output = fresh()
    aws.clear_requests()
    result = submit(aws, "--cluster-id", cluster, "--input", "s3://%s/" % EVENTS, "--from", "2017-03-01",
                    "--to", "2017-03-31", "--output", output, "--code", code)
    assert result.returncode == 1
    assert "no Firehose folders" in result.stderr and "2017-03-01" in result.stderr
    assert aws.changing_requests() == [] and keys_under(aws, WORK, code.split("/", 3)[3]) == []


# A Firehose tree of hour folders around month ends: days 30 and 31, Feb 29 of a leap year
# (2020, 2000 by the 400 rule) and Feb 28 of years that are not (2019, 2100 by the 100 rule).
CALENDAR_HOURS = ["2000/02/29/00", "2019/02/28/23", "2019/03/01/00", "2020/01/30/22", "2020/01/30/23",
                  "2020/01/31/00", "2020/01/31/23", "2020/02/28/23", "2020/02/29/00", "2020/02/29/23",
                  "2020/03/01/00", "2020/03/01/01", "2020/04/29/12", "2020/04/30/00", "2020/04/30/23",
                  "2020/05/01/00", "2100/02/28/23", "2100/03/01/00"]


@pytest.fixture(scope="module")
def calendar_tree(world: World) -> str:
    """The root of that tree, in the work bucket: one object per hour folder."""
    root = "calendar-%s/" % uuid.uuid4().hex[:10]
    for hour in CALENDAR_HOURS:
        name = "s-1-%s-00-00-a" % hour.replace("/", "-")
        world.aws.client("s3").put_object(Bucket=WORK, Key=root + hour + "/" + name, Body=b'{"k": 1}\n')
    return root


@pytest.mark.parametrize("start, end, folders", [
    ("2020-01-30T23", "2020-03-01T00", ["2020/01/30/23/*", "2020/01/31/*/*", "2020/02/*/*/*", "2020/03/01/00/*"]),
    ("2019-02-01", "2100-02-28", ["2019/02/*/*/*", "2019/03/*/*/*", "2020/*/*/*/*", "2100/02/*/*/*"]),
    ("2000-02-29", "2020-04-30T23", ["2000/02/29/*/*", "2019/*/*/*/*", "2020/01/*/*/*", "2020/02/*/*/*",
                                     "2020/03/*/*/*", "2020/04/*/*/*"]),
])
def test_date_ranges_at_month_ends_read_the_right_day_folders(world: World, calendar_tree: str, start: str,
                                                              end: str, folders: List[str]) -> None:
    """The dry run's own -input globs, hand-worked, and the hours they reach: exactly those of
    the range (both ends included)."""
    aws, cluster = world
    code, output = fresh()
    result = submit(aws, "--dry-run", "--cluster-id", cluster, "--input", "s3://%s/%s" % (WORK, calendar_tree),
                    "--from", start, "--to", end, "--output", output, "--code", code)
    assert result.returncode == 0, result.stderr
    args = dry_run_step(result.stdout)[1]["Args"]
    globs = [args[i + 1] for i, arg in enumerate(args) if arg == "-input"]
    assert globs == ["s3://%s/%s%s" % (WORK, calendar_tree, folder) for folder in folders]
    hours = [hour for hour in CALENDAR_HOURS if any(
        all(fnmatch.fnmatchcase(name, part) for name, part in zip((hour + "/x").split("/"), folder.split("/")))
        for folder in folders)]
    low, high = (text.replace("-", "/").replace("T", "/") for text in (start, end))
    assert hours == [hour for hour in CALENDAR_HOURS if low <= hour[:len(low)] and hour[:len(high)] <= high]


def test_prefixes_of_days_30_31_and_feb_29_become_the_globs_of_their_hours(world: World, calendar_tree: str) -> None:
    aws, cluster = world
    code, output = fresh()
    given = ["2020/01/31/", "2020/04/30/23/", "2020/02/29/", "2020/01/30/"]
    inputs = [word for folder in given for word in ("--input", "s3://%s/%s%s" % (WORK, calendar_tree, folder))]
    result = submit(aws, "--dry-run", "--cluster-id", cluster, *inputs, "--output", output, "--code", code)
    assert result.returncode == 0, result.stderr
    args = dry_run_step(result.stdout)[1]["Args"]
    assert [args[i + 1] for i, arg in enumerate(args) if arg == "-input"] == [
        "s3://%s/%s%s" % (WORK, calendar_tree, glob) for glob in
        ["2020/01/31/*/*", "2020/04/30/23/*", "2020/02/29/*/*", "2020/01/30/*/*"]]


@pytest.mark.parametrize("date", ["1900-02-29", "2019-02-29", "2100-02-29", "2020-02-30", "2020-04-31",
                                  "2020-06-31T00", "2020-01-32", "2020-01-31T24"])
def test_dates_that_do_not_exist_are_refused_before_any_request(world: World, date: str) -> None:
    aws, cluster = world
    code, output = fresh()
    aws.clear_requests()
    result = submit(aws, "--cluster-id", cluster, "--input", "s3://%s/" % EVENTS, "--from", "2017-02-27",
                    "--to", date, "--output", output, "--code", code)
    assert result.returncode == 2 and "--to %s: no such date or hour" % date in result.stderr, result.stderr
    assert aws.requests == [] and result.stdout == ""


# ----------------------------------------------------------------------------------------------
# Quoting the job flags for Hadoop's splitArgs

def test_the_splitargs_port_keeps_hadoops_rules() -> None:
    assert split_args("python3 mapper.py --key a,b") == ["python3", "mapper.py", "--key", "a,b"]
    assert split_args("a  b ") == ["a", "b"]
    assert split_args("x 'a b' \"it's\"") == ["x", "a b", "it's"]
    assert split_args("a'b c'd") == ["a", "b c", "d"]  # a quote ends the word before it
    assert split_args("x '' \"\" y") == ["x", "y"]  # empty words vanish
    assert split_args("a\\ b") == ["a\\", "b"]  # no escapes
    assert split_args("a\tb 'open end") == ["a\tb", "open end"]  # only spaces separate


def mapper_command(*flags: str) -> subprocess.CompletedProcess:
    """The package's own mapper_command, its answer or its refusal as a process's would be."""
    try:
        return subprocess.CompletedProcess([], 0, plan.mapper_command(flags), "")
    except UsageError as refusal:
        return subprocess.CompletedProcess([], 2, "", str(refusal))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8),
                max_size=5))  # argv cannot hold NUL
def test_any_carriable_flags_reach_mapper_py_exactly(flags: List[str]) -> None:
    result = mapper_command(*flags)
    carriable = all(flag and not ("'" in flag and '"' in flag)
                    and not any(ord(c) < 32 or ord(c) == 127 for c in flag) for flag in flags)  # ASCII controls
    if carriable:
        assert result.returncode == 0, result.stderr
        assert split_args(result.stdout) == ["python3", "mapper.py", *flags]
    else:
        assert result.returncode != 0 and result.stdout == ""
        assert "job flag" in result.stderr


@pytest.mark.parametrize("flag, message", [
    ("""it's "quoted\"""", "both kinds of quote"),
    ("", "empty job flag"),
    ("a\tb", "control character"),
])
def test_flags_hadoop_cannot_carry_are_refused_before_any_request(world: World, flag: str, message: str) -> None:
    aws, cluster = world
    code, output = fresh()
    aws.clear_requests()
    result = submit(aws, "--cluster-id", cluster, "--input", "s3://%s/" % EVENTS, "--output", output,
                    "--code", code, "--", "--key", flag)
    assert result.returncode == 2
    assert message in result.stderr
    assert aws.requests == []


# ----------------------------------------------------------------------------------------------
# --dry-run

def test_dry_run_changes_nothing_and_prints_the_commands_that_do_it(world: World, tmp_path: Path) -> None:
    aws, cluster = world
    code, output = fresh()
    before = s3_state(aws)
    aws.clear_requests()
    result = submit(aws, "--dry-run", "--region", "us-east-1", "--cluster-id", cluster, "--input",
                    "s3://%s/2017/02/" % EVENTS, "--output", output, "--code", code, "-c", "--", *NASTY_FLAGS)
    assert result.returncode == 0, result.stderr
    assert aws.requests, "the checks read from the endpoint"
    assert aws.changing_requests() == []
    assert s3_state(aws) == before
    commands, step = dry_run_step(result.stdout)
    assert [c[:5] for c in commands] == [["aws", "--region", "us-east-1", "s3", "cp"]] * 2 + [
        ["aws", "--region", "us-east-1", "emr", "add-steps"]]
    assert mapper_flags(step["Args"]) == NASTY_FLAGS

    # the printed commands are exact: run them, and they make that very step
    done = shell(result.stdout, cwd=tmp_path, env=aws.env())
    step_id = done.stdout.decode().split()[-1]
    made = step_of(aws, cluster, step_id)
    assert made["Config"]["Args"] == step["Args"]
    assert made["Name"] == step["Name"] and made["ActionOnFailure"] == "CONTINUE"
    for name in ("mapper.py", "reducer.py"):
        assert aws.client("s3").get_object(Bucket=WORK, Key=code.split("/", 3)[3] + name)["Body"].read() \
            == (REPO / name).read_bytes()


# ----------------------------------------------------------------------------------------------
# Pre-flight: every check fails before anything is uploaded or submitted

def copy_without(tmp_path: Path, missing: str) -> Path:
    """submit_step.sh in a folder of its own, beside the pair but for the `missing` script."""
    folder = tmp_path / ("without-" + missing)
    folder.mkdir()
    shutil.copy2(str(SCRIPT), str(folder / SCRIPT.name))
    shutil.copytree(str(REPO / "firehose_mr"), str(folder / "firehose_mr"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in {"mapper.py", "reducer.py"} - {missing}:
        shutil.copy2(str(REPO / name), str(folder / name))
    return folder / SCRIPT.name


def test_preflight_failures(world: World, tmp_path: Path) -> None:
    aws, cluster = world
    s3 = aws.client("s3")
    code, output = fresh()
    taken = "s3://%s/taken" % WORK
    s3.put_object(Bucket=WORK, Key="taken/part-00000", Body=b"old\n")
    terminated = start_cluster(aws)
    aws.client("emr").terminate_job_flows(JobFlowIds=[terminated])
    good = {"--cluster-id": cluster, "--input": "s3://%s/2017/02/" % EVENTS, "--output": output, "--code": code}

    def attempt(env: Optional[Dict[str, str]] = None, script: Path = SCRIPT, flags: List[str] = (),
                **changes: str) -> subprocess.CompletedProcess:
        options = dict(good, **{"--" + k.replace("_", "-"): v for k, v in changes.items()})
        argv = [word for pair in options.items() for word in pair] + ["--", *flags]
        aws.clear_requests()
        result = submit(aws, *argv, env=env, script=script)
        assert aws.changing_requests() == [], result.stderr
        code_bucket, code_prefix = options["--code"][len("s3://"):].split("/", 1)
        assert keys_under(aws, code_bucket, code_prefix) == []
        assert result.returncode in (1, 2), result.stderr
        assert "Traceback" not in result.stderr
        return result

    exists = attempt(output=taken + "/").stderr
    assert "already exists" in exists and "aws s3 rm --recursive s3://%s/taken/" % WORK in exists
    assert "bucket no-such-bucket does not exist" in attempt(output="s3://no-such-bucket/out").stderr
    inside = attempt(input="s3://%s/2017/02/" % EVENTS, code="s3://%s/2017/02/27/code/" % EVENTS).stderr
    assert "inside the input s3://%s/2017/02/" % EVENTS in inside and "own scripts as data" in inside
    assert "inside --output" in attempt(code=output + "/code/").stderr
    for script in ("mapper.py", "reducer.py"):
        missing = attempt(script=copy_without(tmp_path, script))
        assert "%s is missing" % script in missing.stderr and missing.returncode == 1
    assert "no such cluster" in attempt(cluster_id="j-3MISSINGCLUSTER").stderr
    malformed = attempt(cluster_id="my-cluster")
    assert "not an EMR cluster id" in malformed.stderr and malformed.returncode == 2
    assert "is TERMINATED" in attempt(cluster_id=terminated).stderr
    no_credentials = attempt(env=aws.env(credentials=False))
    assert "no usable AWS credentials" in no_credentials.stderr and "aws configure" in no_credentials.stderr
    assert "matches nothing" in attempt(input="s3://%s/2019/" % EVENTS).stderr
    assert "refuses these job flags" in attempt(flags=["--per", "week"]).stderr


@pytest.mark.parametrize("name", ["out\\", "Jänner `it's` \"so\" \\"])
def test_an_existing_output_is_found_whatever_its_name(world: World, name: str) -> None:
    """Taken as an object, a folder marker or a folder of objects, an --output is refused before
    any change; a free one is not. (The check is a JMESPath query over the listing.)"""
    aws, cluster = world
    s3 = aws.client("s3")
    code = fresh()[0]
    output = "s3://%s/%s-%s" % (WORK, uuid.uuid4().hex[:10], name)
    key = output.split("/", 3)[3]

    def attempt() -> subprocess.CompletedProcess:
        return submit(aws, "--dry-run", "--cluster-id", cluster, "--input", "s3://%s/2017/02/" % EVENTS,
                      "--output", output, "--code", code)

    free = attempt()
    assert free.returncode == 0, free.stderr
    for taken_as in [key, key + "_$folder$", key + "/", key + "/part-00000"]:
        s3.put_object(Bucket=WORK, Key=taken_as, Body=b"old\n")
        taken = attempt()
        assert taken.returncode == 1 and "already exists" in taken.stderr, (taken_as, taken.stderr)
        s3.delete_object(Bucket=WORK, Key=taken_as)


def test_a_waiting_step_keeps_its_scripts_and_its_output(world: World, tmp_path: Path) -> None:
    """EMR fetches a step's -files when it starts: new scripts under the same --code would change
    what a waiting step runs, and two jobs cannot write one output."""
    aws = world.aws
    s3 = aws.client("s3")
    cluster = start_cluster(aws)  # of its own: its steps stay PENDING until moved
    code, output = fresh()
    common = ["--cluster-id", cluster, "--input", "s3://%s/2017/02/" % EVENTS]
    first = submit(aws, *common, "--output", output, "--code", code)
    assert first.returncode == 0, first.stderr
    edited = copy_without(tmp_path, "mapper.py")
    (edited.parent / "mapper.py").write_bytes((REPO / "mapper.py").read_bytes() + b"# edited\n")

    aws.clear_requests()
    refused = submit(aws, *common, "--output", fresh()[1], "--code", code, script=edited)
    assert refused.returncode == 1 and "is to run the mapper.py there, and this mapper.py differs" \
        in refused.stderr, refused.stderr
    assert aws.changing_requests() == []
    same_output = submit(aws, *common, "--output", output, "--code", fresh()[0])
    assert same_output.returncode == 1 and "writes there already" in same_output.stderr
    assert aws.changing_requests() == []
    unchanged = submit(aws, *common, "--output", fresh()[1], "--code", code)
    assert unchanged.returncode == 0, unchanged.stderr
    for step in aws.step_ids(cluster):
        aws.set_step_state(cluster, step, "COMPLETED")
    assert submit(aws, *common, "--output", fresh()[1], "--code", code, script=edited).returncode == 0
    assert s3.get_object(Bucket=WORK, Key=code.split("/", 3)[3] + "mapper.py")["Body"].read().endswith(b"# edited\n")


def test_help_lists_every_option_a_user_needs() -> None:
    result = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30, env=clean_env())
    assert result.returncode == 0 and result.stderr == "", result.stderr
    text = result.stdout
    assert text.startswith("Usage: submit_step.sh --cluster-id j-XXXX --input S3URI... --output S3URI --code S3PREFIX")
    options = ["--cluster-id ID", "--create-cluster", "--input S3URI", "--from DATE --to DATE", "--output S3URI",
               "--code S3PREFIX", "-r, --reducers N", "-c, --combiner", "-D KEY=VALUE", "--name NAME", "--wait",
               "--dry-run", "--profile NAME, --region REGION", "--yes", "--release-label L", "--instance-type T",
               "--instance-count N", "--log-uri S3PREFIX", "--poll SECONDS", "--log-wait SECONDS"]
    described = [line for line in (line.strip() for line in text.splitlines()) if line.startswith("-")]
    assert [option for option in options if not any(option in line for line in described)] == []
    assert "Everything after -- goes to mapper.py as job flags" in text
    assert "Exit status: 0 done, 1 a check or the step failed, 2 bad usage." in text


@pytest.mark.parametrize("args, message", [
    (["--name", "--dry-run"], "--name needs a value (got --dry-run)"),
    (["--dryrun"], "unknown option --dryrun"),
    (["s3://stray/"], "unknown option s3://stray/"),
    (["--poll", "0"], "--poll 0: give at least a second"),
    (["--code", "s3://%s/c%%41de/" % WORK], "Hadoop reads -files entries as URIs"),
    (["--code", "s3://%s/code//" % WORK], "Hadoop reads -files entries as URIs"),
    (["--input", "s3://%s/2017/02/27/" % EVENTS], "is inside --input s3://%s/2017/02/" % EVENTS),
    (["--input", "s3://%s/2017/02/" % EVENTS], "an --input is given twice"),
    (["--", "--bogus"], "mapper.py refuses these job flags"),
    (["--input", "s3://%s/2016/01/01/14/,15/" % EVENTS], "Hadoop splits input paths at commas"),
    (["--output", "s3://%s/" % WORK], "--output s3://%s/: give a folder inside the bucket" % WORK),
    (["--code", "s3://%s/" % WORK], "--code s3://%s/: give a folder inside the bucket" % WORK),
])
def test_bad_usage_is_refused_with_one_line_before_any_change(world: World, args: List[str], message: str) -> None:
    aws, cluster = world
    code, output = fresh()
    base = {"--cluster-id": cluster, "--input": "s3://%s/2017/02/" % EVENTS, "--output": output, "--code": code}
    if args[0] in ("--code", "--output"):
        del base[args[0]]
    argv = [word for pair in base.items() for word in pair]
    if args[0] in ("--code", "--output"):
        argv += args
    elif args[0] == "--":
        argv += args
    else:
        argv = args + argv if args[0] == "--name" else argv + args
    aws.clear_requests()
    result = submit(aws, *argv)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert aws.changing_requests() == [] and "Traceback" not in result.stderr


def test_code_beside_the_firehose_tree_in_its_bucket_is_out_of_the_globs_reach(world: World) -> None:
    aws, cluster = world
    _, output = fresh()
    result = submit(aws, "--dry-run", "--cluster-id", cluster, "--input", "s3://%s/" % EVENTS, "--output", output,
                    "--code", "s3://%s/firehose-mr/" % EVENTS)
    assert result.returncode == 0, result.stderr
    args = dry_run_step(result.stdout)[1]["Args"]
    globs = [args[i + 1] for i, arg in enumerate(args) if arg == "-input"]
    assert len(globs) == 1  # the step's own input: it reaches every object of the tree, and no script
    assert hadoop_glob_matches(globs[0], SAMPLE_KEYS + ["firehose-mr/mapper.py", "firehose-mr/reducer.py"]) \
        == SAMPLE_KEYS


def test_inputs_that_may_overlap_through_a_glob_are_warned_about(world: World) -> None:
    aws, cluster = world
    code, output = fresh()
    result = submit(aws, "--dry-run", "--cluster-id", cluster, "--input", "s3://%s/2017/02/" % EVENTS,
                    "--input", "s3://%s/2017/02/2[78]/1*/*" % EVENTS, "--output", output, "--code", code)
    assert result.returncode == 0, result.stderr
    assert "warning: the inputs s3://%s/2017/02/ and s3://%s/2017/02/2[78]/1*/* may overlap" % (EVENTS, EVENTS) \
        in result.stderr


def test_a_new_clusters_log_uri_must_not_be_in_the_output_or_an_input(world: World) -> None:
    aws, _ = world
    code, output = fresh()
    for log_uri, message in [(output + "/logs/", "is inside --output"), ("s3://%s/logs/" % EVENTS, "is inside the input")]:
        aws.clear_requests()
        result = submit(aws, "--create-cluster", "--yes", "--input", "s3://%s/" % EVENTS, "--output", output,
                        "--code", code, "--log-uri", log_uri)
        assert result.returncode == 1 and "--log-uri %s %s" % (log_uri, message) in result.stderr, result.stderr
        assert aws.changing_requests() == []


def test_a_date_range_refuses_deeper_objects_and_leaves_out_empty_hours(world: World) -> None:
    aws, cluster = world
    s3 = aws.client("s3")
    keys = {"range/2019/05/01/10/s-1-2019-05-01-10-00-00-a": b'{"k":1}\n',
            "range/2019/05/01/11/": b"",  # an hour folder with nothing in it (a console-made folder)
            "range/2019/05/01/12/s-1-2019-05-01-12-00-00-b": b'{"k":2}\n',
            "range/2019/05/02/00/sub/deeper": b'{"k":3}\n'}

    def attempt(start: str, end: str) -> subprocess.CompletedProcess:
        code, output = fresh()
        return submit(aws, "--dry-run", "--cluster-id", cluster, "--input", "s3://%s/range/" % WORK,
                      "--from", start, "--to", end, "--output", output, "--code", code)
    try:
        for key, body in keys.items():
            s3.put_object(Bucket=WORK, Key=key, Body=body)
        day = attempt("2019-05-01T10", "2019-05-01T12")
        assert day.returncode == 0, day.stderr
        args = dry_run_step(day.stdout)[1]["Args"]
        assert [args[i + 1] for i, a in enumerate(args) if a == "-input"] == [
            "s3://%s/range/2019/05/01/10/*" % WORK, "s3://%s/range/2019/05/01/12/*" % WORK]
        assert "no objects in s3://%s/range/2019/05/01/11/ (an empty folder): left out" % WORK in day.stderr
        deeper = attempt("2019-05-01", "2019-05-02")
        assert deeper.returncode == 1 and "range/2019/05/02/00/sub/deeper is deeper than the Firehose layout" \
            in deeper.stderr
    finally:
        s3.delete_objects(Bucket=WORK, Delete={"Objects": [{"Key": key} for key in keys]})


def test_a_prefix_with_objects_deeper_than_firehose_is_refused(world: World) -> None:
    aws, cluster = world
    code, output = fresh()
    aws.client("s3").put_object(Bucket=WORK, Key="tree/2018/01/01/00/extra/part", Body=b"{}\n")
    aws.client("s3").put_object(Bucket=WORK, Key="tree/2018/01/01/00/fine", Body=b"{}\n")
    aws.clear_requests()
    result = submit(aws, "--cluster-id", cluster, "--input", "s3://%s/tree/2018/" % WORK, "--output", output,
                    "--code", code)
    assert result.returncode == 1
    assert "Not a file" in result.stderr and "tree/2018/01/01/00/extra/part" in result.stderr
    assert aws.changing_requests() == [] and keys_under(aws, WORK, code.split("/", 3)[3]) == []


def test_a_deeper_object_listed_after_the_first_thousand_keys_is_found(world: World) -> None:
    """Firehose's error output (processing-failed/YYYY/MM/DD/HH/object, at the bucket's root
    without an error prefix) sits beside the dated folders there and is listed after them: behind
    a thousand objects, on the second page of the listing."""
    aws, cluster = world
    code, output = fresh()
    s3 = aws.client("s3")
    keys = ["wide/2019/01/01/%02d/stream-1-2019-01-01-%02d-%04d" % (n % 24, n % 24, n) for n in range(1000)]
    keys.append("wide/processing-failed/2019/01/01/00/stream-1-failed")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=WORK, Key=key, Body=b"{}\n"), keys))
    try:
        assert sorted(keys)[-1] == keys[-1]  # listed last, as S3 lists keys in UTF-8 order
        aws.clear_requests()
        result = submit(aws, "--cluster-id", cluster, "--input", "s3://%s/wide/" % WORK, "--output", output,
                        "--code", code)
        assert result.returncode == 1, result.stderr
        assert "Not a file" in result.stderr and "wide/processing-failed/2019/01/01/00/stream-1-failed" in result.stderr
        assert aws.changing_requests() == [] and keys_under(aws, WORK, code.split("/", 3)[3]) == []
        s3.delete_object(Bucket=WORK, Key=keys[-1])
        accepted = submit(aws, "--cluster-id", cluster, "--input", "s3://%s/wide/" % WORK, "--output", output,
                          "--code", code)
        assert accepted.returncode == 0, accepted.stderr
        args = step_of(aws, cluster, step_id_from(accepted.stdout))["Config"]["Args"]
        assert args[args.index("-input") + 1] == "s3://%s/wide/*/*/*/*/*" % WORK
    finally:  # the other tests share the bucket, and some list it (a page of 1000)
        for start in range(0, len(keys), 1000):
            s3.delete_objects(Bucket=WORK, Delete={"Objects": [{"Key": key} for key in keys[start:start + 1000]]})


def check_formats(aws: AwsServer, objects: Dict[str, bytes], *args: str) -> subprocess.CompletedProcess:
    """submit_step.sh's pre-flight with `args`, over `objects` put in the work bucket for this
    run: a dry run for a new cluster, which asks no cluster anything and changes nothing. Inputs
    are given as paths in the work bucket. Exit status 1 for a refusal, 0 for a pass."""
    s3 = aws.client("s3")
    code, output = fresh()
    args = tuple("s3://%s/%s" % (WORK, arg) if before == "--input" else arg
                 for before, arg in zip(("",) + args, args))
    try:
        for key, body in objects.items():
            s3.put_object(Bucket=WORK, Key=key, Body=body)
        aws.clear_requests()
        result = submit(aws, "--create-cluster", "--dry-run", "--output", output, "--code", code, *args)
        changed = aws.changing_requests()
    finally:  # the other tests share the bucket
        s3.delete_objects(Bucket=WORK, Delete={"Objects": [{"Key": key} for key in objects]})
    assert result.returncode in (0, 1) and changed == [], result.stderr
    return result


EVENTS_BODY = b'{"type":"a"}\n'
A_ZIP_IN_HOUR_01 = {
    "formats/zip/2019/03/01/00/s-1-2019-03-01-00-10-00-a": EVENTS_BODY,
    "formats/zip/2019/03/01/01/s-2-2019-03-01-01-10-00-b.zip": b"PK\x03\x04",
    "formats/one/2019/03/01/01/s-1-2019-03-01-00-10-00-c": EVENTS_BODY,
}


@pytest.mark.parametrize("args, refused", [
    (["--input", "formats/zip/"], True),
    (["--input", "formats/zip/", "--from", "2019-03-01T00", "--to", "2019-03-01T01"], True),
    (["--input", "formats/zip/", "--from", "2019-03-01T00", "--to", "2019-03-01T00"], False),
    (["--input", "formats/zip/2019/03/01/*/*"], True),
    (["--input", "formats/zip/2019/03/01/*"], True),
    (["--input", "formats/{one,zip}/2019/*/*/01/*"], True),
    (["--input", "formats/zip/2019/03/01/0[!1]/*"], False),
])
def test_a_zip_archive_is_refused_wherever_an_input_reaches_it(world: World, args: List[str],
                                                               refused: bool) -> None:
    """Hadoop would read a ZIP archive as lines of text: an input that reaches one (by prefix,
    date range or glob) is refused, naming it, before any changing request; one that does not
    reach it passes."""
    result = check_formats(world.aws, A_ZIP_IN_HOUR_01, *args)
    named = "s3://%s/formats/zip/2019/03/01/01/s-2-2019-03-01-01-10-00-b.zip is a ZIP archive" % WORK
    assert (result.returncode, named in result.stderr) == ((1, True) if refused else (0, False)), result.stderr


def test_parquet_and_orc_are_refused(world: World) -> None:
    """Firehose's record format conversion writes Parquet or ORC, which Hadoop Streaming would
    read as lines of text."""
    objects = {"formats/one/s-1-2019-03-01-00-10-00-c.parquet": b"PAR1",
               "formats/one/s-1-2019-03-01-00-10-00-d.orc": b"ORC"}
    for key, kind in zip(objects, ("a Parquet file", "an ORC file")):
        result = check_formats(world.aws, objects, "--input", key)
        assert result.returncode == 1, result.stderr
        assert "s3://%s/%s is %s (Firehose's record format conversion)" % (WORK, key, kind) in result.stderr


def test_hadoop_snappy_passes_and_snappys_framing_format_is_refused(world: World) -> None:
    """From Snappy's framing format (Firehose's SNAPPY) Hadoop reads no records at all
    (test_hadoop_behaviour.py); HADOOP_SNAPPY objects are read, and accepted."""
    hadoop_snappy = {
        "formats/snappy/2019/03/01/00/s-1-2019-03-01-00-10-00-a.snappy": snappy_files.hadoop_snappy(EVENTS_BODY),
        "formats/snappy/2019/03/01/01/s-1-2019-03-01-01-10-00-b.snappy": snappy_files.hadoop_snappy(EVENTS_BODY),
    }
    assert check_formats(world.aws, hadoop_snappy, "--input", "formats/snappy/").returncode == 0
    switched = "formats/snappy/2019/03/01/02/s-2-2019-03-01-02-10-00-c.snappy"  # SNAPPY from then on
    framed = check_formats(world.aws, {**hadoop_snappy, switched: snappy_files.framed_snappy(EVENTS_BODY)},
                           "--input", "formats/snappy/")
    assert framed.returncode == 1
    assert "s3://%s/%s is Snappy in its framing format" % (WORK, switched) in framed.stderr
    assert "OutOfMemoryError" in framed.stderr


@pytest.mark.parametrize("given", ["formats/json/", "formats/json/2019/03/01/00/s-1-2019-03-01-00-10-00-a.json",
                                   "formats/json/2019/*/*/*/*"])
def test_gzip_under_a_name_hadoop_does_not_decompress_is_refused(world: World, given: str) -> None:
    """Firehose's GZIP with a custom file extension: Hadoop decompresses only a `.gz` name."""
    gzipped = "formats/json/2019/03/01/00/s-1-2019-03-01-00-10-00-a.json"
    result = check_formats(world.aws, {gzipped: gzip.compress(EVENTS_BODY)}, "--input", given)
    assert result.returncode == 1
    assert "s3://%s/%s is gzip data under a name Hadoop does not decompress" % (WORK, gzipped) in result.stderr


# ----------------------------------------------------------------------------------------------
# --wait

def sigint_as_at_a_terminal() -> None:
    """In the child: a process group of its own, for a ^C to go to, and SIGINT at its default."""
    os.setpgid(0, 0)
    sigint_at_default()


def start_waiting(aws: AwsServer, cluster: str, *args: str) -> Tuple[subprocess.Popen, str]:  # noqa: F811
    """Start submit_step.sh --wait and return it with the id of the step it added."""
    before = set(aws.step_ids(cluster))
    process = subprocess.Popen([str(SCRIPT), "--wait", "--poll", "0.2", "--log-wait", "0", *args],
                               env=aws.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True, preexec_fn=sigint_as_at_a_terminal)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        added = [step for step in aws.step_ids(cluster) if step not in before]
        if added:
            return process, added[0]
        if process.poll() is not None:
            raise AssertionError("submit_step.sh ended early:\n" + process.stderr.read())
        time.sleep(0.1)
    process.kill()
    raise AssertionError("no step was added")


def finish(process: subprocess.Popen) -> Tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout, stderr


def test_wait_on_success_shows_where_the_output_is_and_its_first_rows(world: World) -> None:
    aws, cluster = world
    code, output = fresh()
    flags = ["--time", "mtime", "--per", "minute", "--key", "response"]
    process, step = start_waiting(aws, cluster, "--cluster-id", cluster, "--input", "s3://%s/" % EVENTS,
                                  "--output", output, "--code", code, "--", *flags)
    # what Hadoop would write: the real pair's rows for the plain sample objects, then _SUCCESS
    plain = " ".join(shlex.quote(str(SAMPLE_DATA / k)) for k in SAMPLE_KEYS if not k.endswith(".gz"))
    rows = shell("cat %s | ./mapper.py %s | LC_ALL=C sort | ./reducer.py" % (plain, " ".join(flags))).stdout
    assert len(rows.splitlines()) > 10
    prefix = output.split("/", 3)[3]
    s3 = aws.client("s3")
    s3.put_object(Bucket=WORK, Key=prefix + "/_SUCCESS", Body=b"")
    s3.put_object(Bucket=WORK, Key=prefix + "/part-00000", Body=rows)
    s3.put_object(Bucket=WORK, Key=prefix + "/part-00001", Body=b"")
    aws.set_step_state(cluster, step, "COMPLETED")
    status, stdout, stderr = finish(process)
    assert status == 0, stderr
    assert "Step %s COMPLETED." % step in stdout
    assert "Output: %s/" % output in stdout
    assert "1 non-empty part file(s)." in stdout
    shown = stdout.split("First rows of s3://%s/%s/part-00000:\n" % (WORK, prefix), 1)[1]
    assert shown.splitlines() == rows.decode().splitlines()[:10]


def gz(text: str) -> bytes:
    return gzip.compress(text.encode())


def step_head(job: str) -> str:
    """How the step's log starts on EMR: the streaming client submits the job to YARN."""
    return ("packageJobJar: [] [/usr/lib/hadoop/hadoop-streaming-3.3.6-amzn-3.jar] /tmp/streamjob3906.jar tmpDir=null\n"
            "2026-11-25 00:00:01,000 INFO client.DefaultNoHARMFailoverProxyProvider: Connecting to ResourceManager"
            " at ip-10-0-0-1.ec2.internal/10.0.0.1:8032\n"
            "2026-11-25 00:00:03,000 INFO mapred.FileInputFormat: Total input files to process : 4\n"
            "2026-11-25 00:00:03,500 INFO impl.YarnClientImpl: Submitted application application_%s\n"
            "2026-11-25 00:00:03,600 INFO mapreduce.Job: Running job: job_%s\n" % (job, job))


def task_failure(job: str, code: int) -> str:
    return (step_head(job) + "2026-11-25 00:00:20,000 INFO mapreduce.Job: Task Id : attempt_%s_m_000001_0,"
            " Status : FAILED\nError: java.lang.RuntimeException: PipeMapRed.waitOutputThreads(): subprocess failed"
            " with code %d\n\tat org.apache.hadoop.streaming.PipeMapRed.waitOutputThreads(PipeMapRed.java:326)\n"
            "2026-11-25 00:01:00,000 ERROR streaming.StreamJob: Job not successful!\nStreaming Command Failed!\n"
            % (job, code))


def python_traceback(tmp_path: Path) -> str:
    """The stderr of a real Python error, as a map task's container would keep it."""
    script = tmp_path / "mapper.py"
    script.write_text("import json\nrecord = json.loads('{\"a\": 1}')\nprint(record['group'])\n")
    result = subprocess.run(["python3", str(script)], capture_output=True, text=True)
    assert result.returncode == 1
    return "reporter:counter:firehose-mr,records,12\n" + result.stderr


@pytest.mark.parametrize("case", ["python error", "no logs yet"])  # each cause: test_the_probable_cause_...
def test_wait_on_failure_reads_the_logs_and_names_the_cause(world: World, tmp_path: Path, case: str) -> None:
    aws, cluster = world
    code, output = fresh()
    process, step = start_waiting(aws, cluster, "--cluster-id", cluster, "--input", "s3://%s/2017/" % EVENTS,
                                  "--output", output, "--code", code)
    logs = LOG_URI.split("/", 3)[3] + cluster
    job = "1764028800000_%04d" % (uuid.uuid4().int % 10000)  # each test its own YARN application
    container = "containers/application_%s/container_%s_01_00000%%d/stderr.gz" % (job, job)
    traceback = python_traceback(tmp_path)
    files = {
        "python error": {"steps/%s/stderr.gz" % step: task_failure(job, 1),
                         "steps/%s/controller.gz" % step: "INFO startExec 'hadoop-streaming ...'\n",
                         container % 1: "log4j:WARN No appenders could be found\n",
                         container % 2: "reporter:counter:firehose-mr,records,3\n",
                         container % 3: traceback},
        "no logs yet": {},
    }[case]
    for name, text in files.items():
        aws.client("s3").put_object(Bucket=WORK, Key="%s/%s" % (logs, name), Body=gz(text))
    aws.set_step_state(cluster, step, "FAILED", "Step failed")
    status, stdout, stderr = finish(process)
    assert status == 1, stderr
    assert "Step %s FAILED." % step in stderr and "EMR says: Step failed" in stderr
    cause = {
        "python error": "Probable cause: a Python error in the task: " + traceback.strip().splitlines()[-1],
        "no logs yet": "no logs under s3://%s/%s/steps/%s/ yet" % (WORK, logs, step),
    }[case]
    assert cause in stderr
    if case == "python error":  # the failed task's own stderr is shown, not the others'
        shown = stderr.split("the failed task's stderr, s3://%s/%s/%s" % (WORK, logs, container % 3), 1)[1]
        assert traceback.strip() in shown and "log4j" not in shown
    if case == "python error":  # the last lines of the step's stderr
        assert "the step's stderr, s3://%s/%s/steps/%s/stderr.gz" % (WORK, logs, step) in stderr
        assert "Streaming Command Failed!" in stderr


def test_wait_waits_for_task_logs_that_come_after_the_steps(world: World, tmp_path: Path) -> None:
    aws, cluster = world
    code, output = fresh()
    process, step = start_waiting(aws, cluster, "--cluster-id", cluster, "--input", "s3://%s/2017/" % EVENTS,
                                  "--output", output, "--code", code, "--log-wait", "60")
    logs = LOG_URI.split("/", 3)[3] + cluster
    job = "1764028800000_%04d" % (uuid.uuid4().int % 10000)
    s3 = aws.client("s3")
    s3.put_object(Bucket=WORK, Key="%s/steps/%s/stderr.gz" % (logs, step), Body=gz(task_failure(job, 1)))
    aws.set_step_state(cluster, step, "FAILED", "Step failed")
    said = []  # type: List[str]
    while not said or "waiting for EMR to push the task logs" not in said[-1]:  # the step's logs only, so far
        said.append(process.stderr.readline())
        assert said[-1], "".join(said)
    s3.put_object(Bucket=WORK, Key="%s/containers/application_%s/container_%s_01_000002/stderr.gz" % (logs, job, job),
                  Body=gz(python_traceback(tmp_path)))  # the task's, later, as EMR may push them
    status, _, stderr = finish(process)
    assert status == 1, "".join(said) + stderr
    assert "Probable cause: a Python error in the task: KeyError: 'group'" in stderr


def test_a_wait_stopped_with_ctrl_c_says_the_step_keeps_running(world: World) -> None:
    aws, cluster = world
    code, output = fresh()
    process, step = start_waiting(aws, cluster, "--cluster-id", cluster, "--input", "s3://%s/2017/" % EVENTS,
                                  "--output", output, "--code", code)
    said = [process.stderr.readline()]  # polling the step, once it says its state
    while said[-1] and "step %s: " % step not in said[-1]:
        said.append(process.stderr.readline())
    os.killpg(process.pid, signal.SIGINT)  # ^C at a terminal: the whole foreground group
    try:
        status, _, stderr = finish(process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert said[-1].endswith("step %s: PENDING\n" % step), "".join(said) + stderr
    assert status == 130, "".join(said) + stderr
    assert "stopped waiting: step %s keeps running on cluster %s" % (step, cluster) in stderr
    assert "aws emr cancel-steps --cluster-id %s --step-ids %s" % (cluster, step) in stderr


@pytest.mark.parametrize("state", ["CANCELLED", "INTERRUPTED"])
def test_wait_on_a_cancelled_step_says_what_became_of_the_cluster(world: World, state: str) -> None:
    aws, _ = world
    cluster = start_cluster(aws)
    code, output = fresh()
    process, step = start_waiting(aws, cluster, "--cluster-id", cluster, "--input", "s3://%s/2017/" % EVENTS,
                                  "--output", output, "--code", code)
    aws.client("emr").terminate_job_flows(JobFlowIds=[cluster])
    aws.set_step_state(cluster, step, state)
    status, _, stderr = finish(process)
    assert status == 1 and "Step %s %s." % (step, state) in stderr, stderr  # not a wait for ever
    said = {"CANCELLED": "nothing of its own went wrong.", "INTERRUPTED": "Run it again on a running cluster."}
    assert "%s The cluster: TERMINATED\n" % said[state] in stderr, stderr  # moto gives no reason: no "None"


def test_a_cluster_without_a_log_uri_is_warned_about_and_a_failure_said_at_once(world: World) -> None:
    aws, _ = world
    cluster = start_cluster(aws, log_uri=None)
    code, output = fresh()
    process, step = start_waiting(aws, cluster, "--cluster-id", cluster, "--input", "s3://%s/2017/" % EVENTS,
                                  "--output", output, "--code", code, "--log-wait", "600")
    aws.set_step_state(cluster, step, "FAILED", "Step failed")
    status, _, stderr = finish(process)  # at once, not after --log-wait
    assert status == 1 and "warning: cluster %s has no log URI" % cluster in stderr, stderr
    assert "the cluster has no log URI, so there are no task logs to read" in stderr


def test_wait_says_when_the_log_bucket_cannot_be_read(world: World) -> None:
    aws, _ = world
    cluster = start_cluster(aws, log_uri="s3n://no-such-log-bucket/logs/")
    code, output = fresh()
    process, step = start_waiting(aws, cluster, "--cluster-id", cluster, "--input", "s3://%s/2017/" % EVENTS,
                                  "--output", output, "--code", code, "--log-wait", "600")
    aws.set_step_state(cluster, step, "FAILED", "Step failed")
    status, _, stderr = finish(process)  # at once, not after --log-wait
    assert status == 1 and "reading the logs under s3://no-such-log-bucket/logs/" in stderr, stderr
    assert "NoSuchBucket" in stderr


def probable_cause(tmp_path: Path, step_log: str, task_log: str = "") -> str:
    """The package's own probable_cause on these logs."""
    return emr_logs.probable_cause(step_log, task_log, "s3://b/out") + "\n"


def test_the_probable_cause_of_each_failure(tmp_path: Path) -> None:
    job = "1764028800000_0042"
    assert probable_cause(tmp_path, task_failure(job, 1), python_traceback(tmp_path)).startswith(
        "a Python error in the task: KeyError: 'group'")
    assert probable_cause(tmp_path, task_failure(job, 127), "/usr/bin/env: 'python3\\r': No such file or "
                          "directory\n").startswith("exit code 127: the command was not found")
    assert "CRLF" in probable_cause(tmp_path, task_failure(job, 127))
    assert probable_cause(tmp_path, step_head(job) + "Caused by: java.io.IOException: Cannot run program "
                          '"python3": error=2, No such file or directory\n').startswith(
        'the task could not start "python3"')
    assert probable_cause(tmp_path, task_failure(job, 2)).startswith(
        "the script exited with code 2: mapper.py or reducer.py refused its flags")
    assert probable_cause(tmp_path, task_failure(job, 3)).startswith("the script exited with code 3")
    assert probable_cause(tmp_path, "Error Launching job : Output directory s3://b/out already exists\n") \
        .startswith("the output already exists")
    assert probable_cause(tmp_path, "Error Launching job : Not a file: s3://b/2017/02/27\n").startswith(
        "an input matched a folder, not files")
    assert probable_cause(tmp_path, "Error Launching job : Input Pattern s3://b/2019/*/*/*/* matches 0 files\n") \
        .startswith("an input matches nothing")
    assert probable_cause(tmp_path, "Container killed ... running beyond physical memory limits\n").startswith(
        "a task ran out of memory")
    assert probable_cause(tmp_path, "Container [pid=7] is running 1500MB beyond the 'PHYSICAL' memory limit.\n"
                          + task_failure(job, 137)).startswith("a task ran out of memory")
    assert probable_cause(tmp_path, task_failure(job, 137)).startswith("a task ran out of memory")
    assert probable_cause(tmp_path, "AttemptID:attempt_1_m_000000_0 Timed out after 600 secs\n"
                          "Container killed by the ApplicationMaster.\n").startswith(
        "a task was stopped after reporting no progress for mapreduce.task.timeout")
    assert probable_cause(tmp_path, step_head(job)).startswith("unknown")


# ----------------------------------------------------------------------------------------------
# --create-cluster

def test_create_cluster_says_what_it_costs_and_needs_a_yes(world: World) -> None:
    aws, _ = world
    code, output = fresh()
    before = s3_state(aws)
    aws.clear_requests()
    result = submit(aws, "--create-cluster", "--input", "s3://%s/2017/02/" % EVENTS, "--output", output,
                    "--code", code)
    assert result.returncode == 1
    assert "3 x m5.xlarge" in result.stderr and "about $0.720 per hour" in result.stderr
    assert "--yes" in result.stderr
    assert aws.changing_requests() == [] and s3_state(aws) == before


def test_create_cluster_with_yes_runs_the_step_on_a_self_terminating_logged_cluster(world: World) -> None:
    aws, _ = world
    code, output = fresh()
    clusters = {c["Id"] for c in aws.client("emr").list_clusters()["Clusters"]}
    result = submit(aws, "--create-cluster", "--yes", "--instance-count", "2", "--input",
                    "s3://%s/2017/02/27/" % EVENTS, "--output", output, "--code", code, "--", *NASTY_FLAGS)
    assert result.returncode == 0, result.stderr
    assert "about $0.480 per hour" in result.stderr
    new = [c["Id"] for c in aws.client("emr").list_clusters()["Clusters"] if c["Id"] not in clusters]
    assert len(new) == 1
    described = cli(aws, "emr", "describe-cluster", "--cluster-id", new[0])["Cluster"]
    assert described["AutoTerminate"] is True
    assert described["LogUri"] == code + "logs/"
    assert {a["Name"] for a in described["Applications"]} == {"Hadoop"}
    assert described["ReleaseLabel"] == "emr-7.14.0"
    step = step_of(aws, new[0], step_id_from(result.stdout))
    assert step["ActionOnFailure"] == "TERMINATE_CLUSTER"
    assert step["Config"]["Args"] == expected_args(code, output, ["s3://%s/2017/02/27/*/*" % EVENTS],
                                                   step["Config"]["Args"][step["Config"]["Args"].index("-mapper") + 1])
    assert mapper_flags(step["Config"]["Args"]) == NASTY_FLAGS
