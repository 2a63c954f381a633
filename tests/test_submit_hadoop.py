"""The step that submit_step.sh builds, run by real Apache Hadoop Streaming: its arguments, taken
from a dry run against the local endpoint, with the S3 locations swapped for local ones. The
input globs must reach the objects of the Firehose tree (no "Not a file"), and mapper.py must get
exactly the job flags the user typed (Hadoop splits the -mapper string itself)."""
import json
import shlex
import subprocess
from pathlib import Path
from typing import List

import pytest

from support.aws_server import AwsServer, aws  # noqa: F401  (aws: the module's moto server)
from conftest import REDUCER, REPO, SAMPLE_DATA, clean_env
from firehose_mr.globs import glob_reaches
from firehose_mr.submit import emr_logs
from support.hadoop_support import Hadoop, hadoop, part_files  # noqa: F401

pytestmark = [pytest.mark.hadoop, pytest.mark.aws]

SCRIPT = REPO / "submit_step.sh"
EVENTS = "firehose-events"
WORK = "firehose-work"
# Flags with a comma, spaces, a single quote, double quotes, a backslash and an ampersand.
FLAGS = ["--key", "group.group_city,it's here", "--value", 'say "hi" \\ & more']


def dry_run_args(aws: AwsServer, code: str, output: str) -> List[str]:  # noqa: F811
    """The step's Args, as submit_step.sh --dry-run prints them in its add-steps command."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=EVENTS)
    s3.create_bucket(Bucket=WORK)
    for path in sorted(SAMPLE_DATA.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), EVENTS, path.relative_to(SAMPLE_DATA).as_posix())
    cluster = aws.client("emr").run_job_flow(
        Name="analytics", ReleaseLabel="emr-7.1.0", LogUri="s3://%s/logs/" % WORK,
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole")["JobFlowId"]
    result = subprocess.run([str(SCRIPT), "--dry-run", "--cluster-id", cluster, "--input",
                             "s3://%s/2017/02/" % EVENTS, "--output", output, "--code", code, "-c", "-r", "2",
                             "-D", "mapreduce.job.name=firehose mr, 'nightly'", "--", *FLAGS],
                            env=aws.env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()  # the step's JSON: in the here-document that --steps file:// reads
    add_steps = shlex.split([line for line in lines if " add-steps " in line][0])
    step_file = add_steps[add_steps.index("--steps") + 1][len("file://"):]
    return json.loads(lines[lines.index("cat > %s <<'JSON'" % step_file) + 1])[0]["Args"]


def local_pipeline(flags: List[str]) -> bytes:
    """The same job without Hadoop: one mapper per object, a byte sort, the reducer."""
    intermediate = b"".join(
        subprocess.run([str(REPO / "mapper.py"), *flags], stdin=path.open("rb"), capture_output=True,
                       check=True, env=clean_env()).stdout
        for path in sorted(SAMPLE_DATA.rglob("*")) if path.is_file())
    ordered = b"".join(sorted(intermediate.splitlines(keepends=True)))
    return subprocess.run([str(REDUCER)], input=ordered, capture_output=True, check=True,
                          env=clean_env()).stdout


def test_the_step_runs_on_hadoop_streaming_and_mapper_py_gets_the_flags(
        aws: AwsServer, hadoop: Hadoop, tmp_path: Path) -> None:  # noqa: F811
    code, output = "s3://%s/code/" % WORK, "s3://%s/out" % WORK
    args = dry_run_args(aws, code, output)
    assert args[0] == "hadoop-streaming"

    # mapper.py as shipped, wrapped to note the argv it gets before it runs the real one
    wrapper = tmp_path / "shipped" / "mapper.py"
    wrapper.parent.mkdir()
    argv_log = tmp_path / "argv.jsonl"
    wrapper.write_text("import json, os, sys\n"
                       "with open(%r, 'a') as log:\n    log.write(json.dumps(sys.argv[1:]) + '\\n')\n"
                       "os.execv(sys.executable, [sys.executable, %r] + sys.argv[1:])\n"
                       % (str(argv_log), str(REPO / "mapper.py")))
    local = {code + "mapper.py": "file://%s" % wrapper, code + "reducer.py": "file://%s" % REDUCER,
             "s3://%s/" % EVENTS: "file://%s/" % SAMPLE_DATA, output: "file://%s" % (tmp_path / "out")}

    def to_local(arg: str) -> str:
        for remote, here in local.items():
            arg = arg.replace(remote, here)
        return arg

    run = hadoop.streaming([to_local(arg) for arg in args[1:]], cwd=tmp_path)
    assert "Not a file" not in run.console
    calls = [json.loads(line) for line in argv_log.read_text().splitlines()]
    assert calls and all(call == FLAGS for call in calls), calls
    parts = part_files(tmp_path / "out")
    assert sorted(parts) == ["part-00000", "part-00001"]
    rows = b"".join(sorted(line for data in parts.values() for line in data.splitlines(keepends=True)))
    assert rows == local_pipeline(FLAGS) and rows.count(b"\n") >= 5


def probable_cause(log: Path) -> str:
    """submit_step.sh's own probable cause (firehose_mr.submit.emr_logs) of a log."""
    text = log.read_text()
    return emr_logs.probable_cause(text, text, "s3://b/out")


@pytest.mark.parametrize("case, mapper, input_glob, cause", [
    ("folder as input", "cat", "2017/02/", "an input matched a folder, not files"),
    ("python error", "python3 -c 'import sys; sys.stdin.read(); print({}[\"group\"])'", "2017/02/*/*/*",
     "a Python error in the task: KeyError: 'group'"),
    ("no interpreter", "python9 mapper.py", "2017/02/*/*/*", 'the task could not start "python9"'),
])
def test_the_probable_cause_of_real_hadoop_failures(hadoop: Hadoop, tmp_path: Path, case: str,  # noqa: F811
                                                    mapper: str, input_glob: str, cause: str) -> None:
    run = hadoop.streaming(["-input", "file://%s/%s" % (SAMPLE_DATA, input_glob), "-output", str(tmp_path / "out"),
                            "-mapper", mapper, "-reducer", "cat"], cwd=tmp_path, check=False)
    assert run.returncode != 0, run.describe()
    log = tmp_path / "console.log"
    log.write_text(run.console)
    assert probable_cause(log).startswith(cause), run.describe()


# Keys with the characters a Hadoop glob or a regular expression gives a meaning to.
GLOB_TREE = ["2017/02/27/10/a.gz", "2017/02/27/10/b.zip", "2017/02/28/10/c", "2017/03/01/00/d",
             "2017/02/27/1/e", "x.y/z", "xay/z", "a{b}/c", "q[1]/r", "p+q/s", "(r)/t", "$d/u", "^h/v",
             "Jänner/w", "sp ace/x", "top"]
GLOBS = ["2017/02/*/10/*", "2017/02/2[78]/*/*", "2017/{02/27,03/01}/*/*", "2017/02/27/1?/*", "2017/02/27/*",
         "2017/*", "x.y/*", "a\\{b\\}/*", "q\\[1\\]/*", "2017/02/2[!7]/*/*", "2017/02/2[^7]/*/*", "*",
         "{x.y,p+q}/*", "(r)/*", "$d/*", "^h/*", "J?nner/*", "[!K]?nner/*", "Jä[!m]ner/*", "sp ace/*", "t{o,x}p",
         "2017/0{2,3}/*/*/[a-c]*"]


def keys_in_reach(glob: str) -> List[str]:
    """The keys of GLOB_TREE that submit_step.sh takes the glob to reach (firehose_mr.globs)."""
    return sorted(key for key in GLOB_TREE if glob_reaches(glob, key))


def test_the_keys_a_glob_reaches_are_those_hadoop_reads(hadoop: Hadoop, tmp_path: Path) -> None:  # noqa: F811
    """An input glob is checked for formats Hadoop cannot read over the keys it reaches: the
    files Hadoop's own globbing finds, and those in a folder it finds, for each of GLOBS."""
    root = tmp_path / "tree"
    for key in GLOB_TREE:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text("{}\n")
    # One `hadoop fs -ls -R` for all the globs, each followed by a file that lists as itself.
    marker = tmp_path / "end-of-glob"
    marker.write_text("")
    args = ["fs", "-ls", "-R"]
    for glob in GLOBS:
        args += ["file://%s/%s" % (root, glob), "file://%s" % marker]
    listing = hadoop.run(args, cwd=tmp_path, check=False).stdout
    found = [[]]  # type: List[List[str]]
    for line in listing.splitlines():
        if not line.startswith("-"):
            continue  # a folder
        path = line.split(None, 7)[7]
        if path.endswith(str(marker)):
            found.append([])
        else:
            found[-1].append(path.split(str(root) + "/", 1)[1])
    assert len(found) == len(GLOBS) + 1, listing
    for glob, files in zip(GLOBS, found):
        assert files, glob  # each glob reaches something here
        assert keys_in_reach(glob) == sorted(files), glob
