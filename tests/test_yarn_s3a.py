"""The product end to end on what EMR 7.10+ runs: Hadoop 3.4.2 on a YARN cluster (HDFS, two
NodeManagers, each task in its own container) reading and writing s3:// through S3A, here on a
mini cluster (tests/support/minicluster.py) and moto's S3 (tests/support/aws_server.py).

Nothing of the product is swapped: submit_step.sh uploads the scripts and adds the step; the step's
arguments, as EMR received them, run on the cluster as EMR's command-runner runs them
(`hadoop-streaming ARGS` is `hadoop jar hadoop-streaming.jar ARGS`), with -files from s3:// and the
input globs over a Firehose tree in a bucket; its part files and counters are those that
`run_local.sh -r 3 -c -o` gives for the same input. Then `run_local.sh --hadoop` on the cluster,
and what Hadoop does with the inputs and outputs the project refuses."""
import subprocess
from pathlib import Path
from typing import Dict, List, NamedTuple

import pytest

from support.aws_server import AwsServer, aws  # noqa: F401  (aws: the module's moto server)
from conftest import MAPPER, REDUCER, REPO
from support.hadoop_support import COUNTER_GROUP, HadoopRun, job_counters, output_files
from support.minicluster import MiniCluster, minicluster  # noqa: F401  (the session's cluster)
from test_hadoop_conformance import JOBS, messy_tree, run_local

# One worker runs them all (pytest.ini: --dist loadgroup): one mini cluster per test session.
pytestmark = [pytest.mark.hadoop, pytest.mark.aws, pytest.mark.yarn, pytest.mark.xdist_group("minicluster")]

SUBMIT = REPO / "submit_step.sh"
EVENTS = "firehose-events"
WORK = "firehose-work"
CODE = "s3://%s/firehose-mr/" % WORK
INPUT = "s3://%s/2017/02/" % EVENTS
REDUCERS = 3
FLAGS = JOBS["key-time-value"]
JOB_TIMEOUT = 600


class Cluster(NamedTuple):
    """The mini cluster, its client configuration for this module's S3, and the S3 itself."""
    yarn: MiniCluster
    conf: Path
    aws: AwsServer

    def run(self, args: List[str], cwd: Path) -> HadoopRun:
        """`hadoop ARGS` on the cluster's client, as on an EMR primary node."""
        result = subprocess.run(["hadoop"] + args, cwd=str(cwd), env=self.yarn.env(self.conf),
                                capture_output=True, timeout=JOB_TIMEOUT)
        return HadoopRun(args, result)

    def streaming(self, args: List[str], cwd: Path) -> HadoopRun:
        """A step's `hadoop-streaming ARGS`: `hadoop jar hadoop-streaming.jar ARGS`."""
        return self.run(["jar", self.yarn.streaming_jar] + args, cwd)

    def objects(self, bucket: str, prefix: str) -> Dict[str, bytes]:
        """The objects under s3://bucket/prefix, by their names below it."""
        s3 = self.aws.client("s3")
        keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for item in page.get("Contents", [])]
        return {key[len(prefix):]: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


@pytest.fixture(scope="module")
def cluster(minicluster: MiniCluster, aws: AwsServer,  # noqa: F811
            tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    """The buckets: the messy Firehose tree (tests/test_hadoop_conformance.py) as s3://EVENTS/
    and an empty one for code and output."""
    tree = tmp_path_factory.mktemp("tree")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=EVENTS)
    s3.create_bucket(Bucket=WORK)
    for name, data in messy_tree(tree).items():
        s3.put_object(Bucket=EVENTS, Key=name, Body=data)
    return Cluster(minicluster, minicluster.client_conf(tmp_path_factory.mktemp("conf"), aws.endpoint), aws)


@pytest.fixture(scope="module")
def predicted(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, object]:
    """What run_local.sh predicts for the job, reading the same s3:// input with the AWS CLI."""
    work = tmp_path_factory.mktemp("local")
    local = run_local(["-r", str(REDUCERS), "-c", "-o", "out", INPUT, "--"] + FLAGS, cwd=work,
                      env=cluster.aws.env())
    return {"files": output_files(work / "out"), "counters": local.counters()}


def submit(cluster: Cluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SUBMIT)] + list(args), env=cluster.aws.env(), capture_output=True,
                          text=True, timeout=300)


def emr_cluster(cluster: Cluster) -> str:
    """A waiting EMR cluster on today's release (moto keeps the steps it is given)."""
    return cluster.aws.client("emr").run_job_flow(
        Name="analytics", ReleaseLabel="emr-7.13.0", Applications=[{"Name": "Hadoop"}],
        LogUri="s3://%s/logs/" % WORK,
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole")["JobFlowId"]


def assert_predicted(cluster: Cluster, run: HadoopRun, output: str, predicted: Dict[str, object]) -> None:
    """The part files in the bucket and the job's counters are run_local.sh's."""
    assert run.returncode == 0, run.describe()
    files = cluster.objects(WORK, output + "/")
    assert files.get("_SUCCESS") == b"", sorted(files)
    assert files == predicted["files"], run.describe()
    assert sorted(name for name in files if name.startswith("part-")) == ["part-%05d" % n for n in range(REDUCERS)]
    assert job_counters(run.console).get(COUNTER_GROUP) == predicted["counters"], run.describe()


def test_the_submitted_step_runs_on_yarn_over_s3_as_run_local_predicts(cluster: Cluster, predicted, tmp_path):
    emr = emr_cluster(cluster)
    submitted = submit(cluster, "--cluster-id", emr, "--input", INPUT, "--output", "s3://%s/step" % WORK,
                       "--code", CODE, "-c", "-r", str(REDUCERS), "--", *FLAGS)
    assert submitted.returncode == 0, submitted.stderr
    [step] = cluster.aws.client("emr").list_steps(ClusterId=emr)["Steps"]
    assert step["Config"]["Jar"] == "command-runner.jar"
    args = step["Config"]["Args"]
    assert args[0] == "hadoop-streaming" and "-files" in args
    assert args[args.index("-input") + 1] == "s3://%s/2017/02/*/*/*" % EVENTS
    assert cluster.objects(WORK, "firehose-mr/") == {"mapper.py": MAPPER.read_bytes(),
                                                     "reducer.py": REDUCER.read_bytes()}

    run = cluster.streaming(args[1:], tmp_path)
    assert_predicted(cluster, run, "step", predicted)
    assert "job_local" not in run.console and "Running job: job_" in run.console  # on YARN
    framework = run.counters("Job Counters")
    assert framework["Launched map tasks"] == 7  # one per object, the empty one too, no _ or . names
    assert framework["Launched reduce tasks"] == REDUCERS
    assert predicted["counters"]["records"] > 300


def test_run_local_hadoop_runs_the_job_on_the_cluster_with_s3_input_and_output(cluster: Cluster, predicted,
                                                                               tmp_path):
    output = "s3://%s/run-local" % WORK
    result = subprocess.run([str(REPO / "run_local.sh"), "--hadoop", "-r", str(REDUCERS), "-c", "-o", output,
                             INPUT, "--"] + FLAGS, cwd=str(tmp_path), env=cluster.yarn.env(cluster.conf),
                            capture_output=True, timeout=JOB_TIMEOUT)
    assert_predicted(cluster, HadoopRun(["run_local.sh --hadoop"], result), "run-local", predicted)
    assert b"Running job: job_" in result.stderr and b"job_local" not in result.stderr


# -- the inputs and outputs the project refuses, on this Hadoop ----------------------------------

def streaming_job(input_glob: str, output: str, files: str = "%s,%s" % (MAPPER, REDUCER)) -> List[str]:
    """A step's arguments, as submit_step.sh builds them, for one input and an output."""
    return ["-files", files, "-input", input_glob, "-output", output,
            "-mapper", "python3 mapper.py", "-reducer", "python3 reducer.py"]


def test_a_glob_that_matches_a_folder_of_folders_fails_the_job_before_any_task(cluster: Cluster, tmp_path):
    """`-input s3://bucket/2017/*` on a Firehose tree: the glob matches the folder 2017/02; Hadoop
    reads one level down (it does not recurse), meets the day folders, and S3A lists them as
    folders: the job fails with "Not a file" at its submission, reading nothing."""
    run = cluster.streaming(streaming_job("s3://%s/2017/*" % EVENTS, "s3://%s/folder-glob" % WORK), tmp_path)
    assert run.returncode == 5, run.describe()
    assert "Not a file: s3://%s/2017/02/27\n" % EVENTS in run.console, run.describe()
    assert "Running job" not in run.console  # no task ran
    assert cluster.objects(WORK, "folder-glob") == {}
    refused = submit(cluster, "--dry-run", "--cluster-id", emr_cluster(cluster), "--input", "s3://%s/2017/*" % EVENTS,
                     "--output", "s3://%s/folder-glob" % WORK, "--code", CODE)
    assert refused.returncode == 1, refused.stderr
    assert "(Not a file: s3://%s/2017/02/27)" % EVENTS in refused.stderr  # what Hadoop said, above


def test_an_existing_output_fails_the_job_before_any_task(cluster: Cluster, tmp_path):
    s3 = cluster.aws.client("s3")
    s3.put_object(Bucket=WORK, Key="existing/part-00000", Body=b"precious\n")
    run = cluster.streaming(streaming_job("s3://%s/2017/02/*/*/*" % EVENTS, "s3://%s/existing" % WORK), tmp_path)
    assert run.returncode == 5, run.describe()
    assert "Output directory s3://%s/existing already exists" % WORK in run.console, run.describe()
    assert "Running job" not in run.console
    assert cluster.objects(WORK, "existing/") == {"part-00000": b"precious\n"}
    refused = submit(cluster, "--dry-run", "--cluster-id", emr_cluster(cluster), "--input", INPUT,
                     "--output", "s3://%s/existing" % WORK, "--code", CODE)
    assert refused.returncode == 1 and "already exists" in refused.stderr, refused.stderr


def test_scripts_under_the_input_glob_are_read_as_input_and_the_job_succeeds(cluster: Cluster, tmp_path):
    """The code in an hour folder of the input: Hadoop ships the scripts with -files and reads
    them as input too, each line a record for mapper.py; nothing fails, the counts are wrong."""
    trap, code = "firehose-trap", "2017/02/27/15/"
    s3 = cluster.aws.client("s3")
    s3.create_bucket(Bucket=trap)
    records = b'{"k": "a"}\n{"k": "b"}\n{"k": "a"}\n'
    s3.put_object(Bucket=trap, Key="2017/02/27/14/rsvps-1-2017-02-27-14-00-00-ab", Body=records)
    for script in (MAPPER, REDUCER):
        s3.put_object(Bucket=trap, Key=code + script.name, Body=script.read_bytes())
    shipped = ",".join("s3://%s/%s%s#%s" % (trap, code, name, name) for name in ("mapper.py", "reducer.py"))
    glob = "s3://%s/2017/02/*/*/*" % trap
    run = cluster.streaming(streaming_job(glob, "s3://%s/scripts-read" % WORK, shipped) + ["-numReduceTasks", "1"],
                            tmp_path)
    assert run.returncode == 0, run.describe()
    script_lines = MAPPER.read_bytes().count(b"\n") + REDUCER.read_bytes().count(b"\n")
    assert run.counters("Map-Reduce Framework")["Map input records"] == 3 + script_lines
    # Four map tasks for three objects: on YARN a job asks for two maps (mapreduce.job.maps; the
    # LocalJobRunner sets one), so the goal split size is half the input's size, and mapper.py,
    # more than 1.1 times that, is read in two splits.
    sizes = [len(records), len(MAPPER.read_bytes()), len(REDUCER.read_bytes())]
    assert sizes[1] > 1.1 * sum(sizes) / 2 > max(sizes[0], sizes[2])
    assert run.counters("Job Counters")["Launched map tasks"] == 4
    # Lines of Python as records: mostly malformed, some taken (the counts run_local.sh gives for
    # the same input, scripts and all).
    assert run.counters()["records"] > 3 and run.counters()["malformed"] > 0
    local = run_local(["-o", "local", glob], cwd=tmp_path, env=cluster.aws.env())
    assert local.counters() == run.counters()
    assert output_files(tmp_path / "local") == cluster.objects(WORK, "scripts-read/")
    refused = submit(cluster, "--dry-run", "--cluster-id", emr_cluster(cluster), "--input", glob,
                     "--output", "s3://%s/scripts" % WORK, "--code", "s3://%s/%s" % (trap, code))
    assert refused.returncode == 1 and "would read its own scripts as data" in refused.stderr, refused.stderr
