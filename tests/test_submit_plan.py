"""submit_step.sh's plan and log diagnosis as data, without an endpoint or a process: the
Firehose layout, the step, the placement rules, the printed commands, and the probable cause
of a failure from log text. Expected values are worked out by hand here, or come from the
tests' own splitArgs port (hadoop_splitargs.py) and bash itself."""
import ast
import json
import shlex
import subprocess
from pathlib import Path
from typing import List

import pytest

from conftest import REPO
from firehose_mr import firehose
from firehose_mr.errors import TaskFailed, UsageError
from firehose_mr.submit import checks, emr_logs, plan
from support.hadoop_splitargs import split_args

# ----------------------------------------------------------------------------------------------
# The Firehose layout


@pytest.mark.parametrize("text, hour, expected", [
    ("2017-02-28", 0, 2017022800), ("2017-02-28", 23, 2017022823), ("2016-02-29T07", 23, 2016022907),
    ("2000-02-29", 0, 2000022900), ("2017-12-31T23", 0, 2017123123),
])
def test_dates_become_hours(text: str, hour: int, expected: int) -> None:
    assert firehose.parse_date(text, hour) == expected


@pytest.mark.parametrize("text, why", [
    ("2017-02-29", "no such date"), ("1900-02-29", "no such date"), ("2017-13-01", "no such date"),
    ("2017-04-31", "no such date"), ("2017-02-28T24", "no such date"), ("2017-2-28", "expected YYYY-MM-DD"),
    ("2017-02-28 10", "expected YYYY-MM-DD"),
])
def test_impossible_dates_are_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        firehose.parse_date(text, 0)


@pytest.mark.parametrize("prefix, glob", [
    ("", "*/*/*/*/*"), ("stream/", "stream/*/*/*/*/*"), ("2017/", "2017/*/*/*/*"), ("2017/02/", "2017/02/*/*/*"),
    ("a/2017/02/28/", "a/2017/02/28/*/*"), ("2017/02/28/09/", "2017/02/28/09/*"),
    ("2017/13/", "2017/13/*/*/*/*/*"),  # no month 13: the prefix ends in no date folder
    ("02/28/", "02/28/*/*/*/*/*"),
])
def test_a_prefix_becomes_the_glob_at_the_depth_of_its_objects(prefix: str, glob: str) -> None:
    assert firehose.objects_glob(prefix) == glob


TREE = [
    "2017/02/27/14/a", "2017/02/27/15/b.gz", "2017/02/28/09/c", "2017/02/28/10/d",
    "2017/03/01/00/", "2017/03/01/01/e",  # an hour folder with nothing in it (a console-made folder)
    "2017/03/02/00/sub/deeper", "processing-failed/2017/02/27/14/x",
]


def range_of(first: str, last: str) -> firehose.RangePlan:
    return firehose.range_plan(TREE, firehose.parse_date(first, 0), firehose.parse_date(last, 23))


def test_a_range_takes_whole_folders_where_it_covers_them() -> None:
    feb = range_of("2017-02-01", "2017-02-28")
    assert feb.globs == ["2017/02/*/*/*"] and feb.empty == [] and feb.deeper is None
    assert feb.objects == TREE[:4]
    days = range_of("2017-02-27T15", "2017-03-01")
    assert days.globs == ["2017/02/27/15/*", "2017/02/28/*/*", "2017/03/01/*/*"]
    assert days.objects == ["2017/02/27/15/b.gz", "2017/02/28/09/c", "2017/02/28/10/d", "2017/03/01/01/e"]


def test_a_range_names_empty_folders_and_deeper_objects() -> None:
    hours = firehose.range_plan(TREE, 2017030100, 2017030100)
    assert hours.folders == ["2017/03/01/00/"] and hours.empty == ["2017/03/01/00/"]
    assert range_of("2017-03-02", "2017-03-02").deeper == "2017/03/02/00/sub/deeper"
    assert range_of("2018-01-01", "2018-12-31").folders == []


# ----------------------------------------------------------------------------------------------
# The step


@pytest.mark.parametrize("flags", [
    [], ["--key", "group.group_city,venue.venue name"], ["it's"], ['say "hi" \\ & more'], ["a b", "é €"],
])
def test_job_flags_reach_mapper_py_through_splitargs(flags: List[str]) -> None:
    assert split_args(plan.mapper_command(flags)) == ["python3", "mapper.py"] + flags


@pytest.mark.parametrize("flag, message", [
    ("", "empty job flag"), ("a\tb", "control character"), ("it's \"so\"", "both kinds of quote"),
])
def test_flags_splitargs_cannot_carry_are_refused(flag: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        plan.mapper_command(["--key", flag])


JOB = plan.Job("s3://w/code/", "s3://w/out", ["s3://e/2017/02/*/*/*", "s3://e/x"], "python3 mapper.py --per day",
               ["mapreduce.job.name=a, b"], True, "3")


def test_the_step_as_emr_takes_it_and_as_the_cli_takes_it() -> None:
    args = ["hadoop-streaming", "-files", "s3://w/code/mapper.py#mapper.py,s3://w/code/reducer.py#reducer.py",
            "-D", "mapreduce.job.name=a, b", "-input", "s3://e/2017/02/*/*/*", "-input", "s3://e/x",
            "-output", "s3://w/out", "-mapper", "python3 mapper.py --per day", "-reducer", "python3 reducer.py",
            "-combiner", "python3 reducer.py --combine", "-numReduceTasks", "3"]
    step = plan.step_config("nightly", plan.step_args(JOB), "CONTINUE")
    assert step == {"Name": "nightly", "ActionOnFailure": "CONTINUE",
                    "HadoopJarStep": {"Jar": "command-runner.jar", "Args": args}}
    assert plan.cli_steps(step) == [{"Type": "CUSTOM_JAR", "Name": "nightly", "ActionOnFailure": "CONTINUE",
                                     "Jar": "command-runner.jar", "Args": args}]


def test_a_step_name_is_cut_to_256_characters() -> None:
    assert plan.step_name("", "python3 mapper.py") == "firehose-mr: python3 mapper.py"
    assert plan.step_name("€" * 300, "x") == "€" * 256


def test_emrs_size_limits_are_checked_to_the_character() -> None:
    def step_with(extra: int) -> dict:
        args = ["a" * 10000, "b" * extra]
        return plan.step_config("n", args, "CONTINUE")
    # 18 characters of command-runner.jar + 10000 + extra: at most 10240 in all
    assert plan.emr_would_refuse(step_with(222)) is None
    assert "10241 characters" in plan.emr_would_refuse(step_with(223))
    assert "at most 10280 in one" in plan.emr_would_refuse(plan.step_config("n", ["c" * 10281], "CONTINUE"))


# ----------------------------------------------------------------------------------------------
# Placement


@pytest.mark.parametrize("code, reader", [
    ("s3://e/2017/02/27/code/", "s3://e/2017/02/"),  # at the glob's depth
    ("s3://e/2017/02/27/x/code/", "s3://e/2017/02/"),  # below it: the glob matches the folder x
    ("s3://e/2017/02/code/", None),  # above it
    ("s3://e/firehose-mr/", None),
    ("s3://other/2017/02/27/code/", None),  # another bucket
    ("s3://e/odd[1]/code/", "s3://e/odd\\[1\\]/*"),  # an escaped glob
    ("s3://e/a/b/code/", "s3://e/{z,a/b}/*"),  # a {...} across /
])
def test_code_in_reach_of_an_input_at_any_depth(code: str, reader: str) -> None:
    inputs = {"s3://e/2017/02/": ["s3://e/2017/02/*/*/*"], "s3://e/odd\\[1\\]/*": ["s3://e/odd\\[1\\]/*"],
              "s3://e/{z,a/b}/*": ["s3://e/{z,a/b}/*"]}
    assert plan.code_in_reach(code, inputs) == reader


def test_placement_refuses_and_warns() -> None:
    def layout(inputs: List[str], output: str = "s3://w/out", code: str = "s3://w/code/", log_uri: str = ""
               ) -> plan.Layout:
        return plan.Layout(inputs, output, code, log_uri)
    assert plan.placement_notes(layout(["s3://e/2017/"])) == []
    with pytest.raises(UsageError, match="is inside --input s3://e/2017/"):
        plan.placement_notes(layout(["s3://e/2017/", "s3://e/2017/02/"]))
    with pytest.raises(UsageError, match="given twice"):
        plan.placement_notes(layout(["s3://e/2017/*/*/*/*", "s3://e/2017/*/*/*/*"]))
    assert plan.placement_notes(layout(["s3://e/2017/", "s3://e/2017/0[12]/*/*/*"])) == [
        "warning: the inputs s3://e/2017/ and s3://e/2017/0[12]/*/*/* may overlap: Hadoop reads an object that "
        "both match twice"]
    with pytest.raises(TaskFailed, match="inside --output"):
        plan.placement_notes(layout(["s3://e/"], code="s3://w/out/code/"))
    with pytest.raises(TaskFailed, match="--log-uri s3://e/logs/ is inside the input s3://e/"):
        plan.placement_notes(layout(["s3://e/"], log_uri="s3://e/logs/"))


# ----------------------------------------------------------------------------------------------
# What --dry-run prints, and what --create-cluster says


def test_the_printed_commands_are_what_bash_reads(tmp_path: Path) -> None:
    step = plan.step_config("it's $HOME `x`", plan.step_args(JOB), "CONTINUE")
    script = plan.dry_run_script(["--profile", "#x", "--region", "eu west"], [("/my dir/mapper.py", "s3://w/c/m")],
                                 step, "j-1", None)
    # bash itself runs them, with a function in place of aws that prints each word it gets
    ran = subprocess.run(["bash", "-c", "aws() { printf '%s\\n' \"$@\" ==; }\n" + script + "cat " + plan.STEP_FILE],
                         capture_output=True, text=True, check=True, cwd=str(tmp_path))
    upload, add_steps, steps_file = ran.stdout.split("==\n")
    assert upload.splitlines() == ["--profile", "#x", "--region", "eu west", "s3", "cp", "/my dir/mapper.py",
                                   "s3://w/c/m", "--only-show-errors"]
    assert add_steps.splitlines() == ["--profile", "#x", "--region", "eu west", "emr", "add-steps", "--cluster-id",
                                      "j-1", "--steps", "file://" + plan.STEP_FILE, "--query", "StepIds[0]",
                                      "--output", "text"]
    assert json.loads(steps_file) == plan.cli_steps(step)


def test_the_cost_says_which_hadoop() -> None:
    cluster = plan.Cluster(plan.DEFAULT_RELEASE, "m5.xlarge", 3, "s3://w/logs/")
    lines = plan.cost_lines(cluster)
    assert lines[0] == "This creates an EMR cluster (emr-7.14.0, Hadoop 3.4.2): 3 x m5.xlarge (1 primary, 2 core),"
    assert "about $0.720 per hour" in lines[2] and "(EC2 $0.192 + EMR $0.048)" in lines[2]
    unknown = plan.cost_lines(cluster._replace(release="emr-9.9.9", instance_type="x9.huge"))
    assert "a Hadoop version unknown to submit_step.sh" in unknown[0] and "unknown to" in unknown[2]


def test_watch_hints_quote_what_they_print() -> None:
    hints = plan.watch_hints(["--profile", "#x"], "j-1", "s-2", "s3://w/logs", "s3://w/out")
    assert "Watch it:     aws --profile '#x' emr describe-step --cluster-id j-1 --step-id s-2" in hints
    assert shlex.split(hints.splitlines()[1].split(":", 1)[1])[:3] == ["aws", "--profile", "#x"]


# ----------------------------------------------------------------------------------------------
# Formats: what is read of the objects


def test_format_samples_and_refusals_by_name() -> None:
    keys = ["a/1", "a/2.snappy", "a/3", "a/4.snappy", "a/5"]
    assert checks.format_samples(keys) == ["a/1", "a/5", "a/2.snappy", "a/4.snappy"]
    assert checks.format_samples(["a/1"]) == ["a/1"] and checks.format_samples([]) == []
    assert checks.refused_by_name(keys + ["a/6.ZIP", "a/7.orc"]) == "a/6.ZIP"
    assert checks.refused_by_name(keys) is None


# ----------------------------------------------------------------------------------------------
# The logs of a failed step


STEP_LOG = ("2026-11-25 00:00:03,500 INFO impl.YarnClientImpl: Submitted application application_1764028800000_0042\n"
            "2026-11-25 00:00:20,000 INFO mapreduce.Job: Task Id : attempt_1764028800000_0042_m_000001_0, Status : "
            "FAILED\nError: java.lang.RuntimeException: PipeMapRed.waitOutputThreads(): subprocess failed with code 1\n")
TRACEBACK = ("reporter:counter:firehose-mr,records,12\nTraceback (most recent call last):\n  File \"mapper.py\", "
             "line 3, in <module>\n    print(record['group'])\n              ~~~~~~^^^^^^^^^\nKeyError: 'group'\n")


def test_the_application_and_the_failed_tasks_log() -> None:
    assert emr_logs.application_id(STEP_LOG) == "application_1764028800000_0042"
    assert emr_logs.application_id("Running job: job_17_0003\n") == "application_17_0003"
    assert emr_logs.application_id("nothing") is None
    logs = {"container_1_01_000001/stderr": TRACEBACK,  # the application master: never it
            "container_1_01_000002/stderr": "log4j:WARN No appenders\n",
            "container_1_01_000003/stderr": "reporter:counter:firehose-mr,records,3\n",
            "container_1_01_000004/stderr": TRACEBACK}
    assert emr_logs.pick_task_log(logs) == "container_1_01_000004/stderr"
    del logs["container_1_01_000004/stderr"]
    assert emr_logs.pick_task_log(logs) == "container_1_01_000002/stderr"
    logs["container_1_01_000005/stderr"] = "/usr/bin/env: 'python3\\r': No such file or directory\n"
    assert emr_logs.pick_task_log(logs) == "container_1_01_000005/stderr"
    assert emr_logs.pick_task_log({"c_000003/stderr": "reporter:counter:g,n,1\n"}) is None


@pytest.mark.parametrize("step_log, task_log, cause", [
    (STEP_LOG, TRACEBACK, "a Python error in the task: KeyError: 'group'"),
    ("Output directory s3://b/out already exists\n", "", "the output already exists"),
    ("Not a file: s3://b/2017/02/27\n", "", "an input matched a folder"),
    ("Input Pattern s3://b/x/* matches 0 files\n", "", "an input matches nothing"),
    (STEP_LOG.replace("code 1", "code 127"), "", "exit code 127"),
    (STEP_LOG.replace("code 1", "code 2"), "", "the script exited with code 2: mapper.py or reducer.py refused"),
    (STEP_LOG.replace("code 1", "code 137"), "", "a task ran out of memory"),
    ("Timed out after 600 secs\nContainer killed\n", "", "a task was stopped after reporting no progress"),
    ('Cannot run program "python3": error=2\n', "", 'the task could not start "python3"'),
    ("", "", "unknown: read the logs above"),
])
def test_the_probable_cause(step_log: str, task_log: str, cause: str) -> None:
    assert emr_logs.probable_cause(step_log, task_log, "s3://b/out").startswith(cause)


def test_the_last_lines_of_a_log() -> None:
    assert emr_logs.last_lines("t", "a\nb\nc\n", 2) == ["", "--- t (last 2 lines) ---", "b", "c", "---"]


def test_the_submit_path_parses_as_python_3_7() -> None:
    """It runs on EMR nodes too, whose python3 is 3.7 on EMR 6 (vermin checks the same, slower)."""
    package = REPO / "firehose_mr"
    for path in [package / "aws.py", package / "firehose.py", *sorted((package / "submit").glob("*.py"))]:
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 7))


def test_submit_step_sh_is_only_a_door() -> None:
    """No JSON, dates, globs or AWS calls in bash: the script hands over to the package."""
    lines = [line for line in (REPO / "submit_step.sh").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert len(lines) <= 15 and lines[-1].startswith('exec python3 "$here/firehose_mr/__main__.py" submit_step ')
    assert not [line for line in lines if any(word in line for word in ("aws ", "awk", "sed", "date", "json"))]


def test_aws_failures_say_what_to_do() -> None:
    """The one-line messages for botocore's own errors (as boto3 raises them)."""
    import botocore.exceptions
    from firehose_mr import aws
    no_credentials = aws.failure("looking up the cluster j-1", botocore.exceptions.NoCredentialsError())
    assert no_credentials.startswith("no usable AWS credentials while looking up the cluster j-1. Configure them "
                                     "(aws configure, aws sso login, --profile NAME or AWS_PROFILE)")
    assert aws.failure("x", botocore.exceptions.NoRegionError()).startswith("no AWS region while x: pass --region")
    denied = botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}},
                                             "ListObjectsV2")
    assert aws.failure("listing the input s3://b/", denied) == (
        "failed while listing the input s3://b/. AWS said: An error occurred (AccessDenied) when calling the "
        "ListObjectsV2 operation: Access Denied")
    assert aws.error_code(denied) == "AccessDenied" and aws.is_aws_error(denied)
