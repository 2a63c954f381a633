"""The dry run that docs/submit_step.md shows, command and output, run against the moto server
with the page's own bucket names: what it prints must be what the page shows, but for what only
a real account can give (the cluster's id) and where the project lies on the reader's machine."""
import re
import shlex
import subprocess

import pytest

from conftest import REPO, SAMPLE_DATA
from support.aws_server import AwsServer, aws  # noqa: F401  (aws: the module's moto server)
from test_submit_step import SAMPLE_KEYS, start_cluster

pytestmark = pytest.mark.aws
PAGE = REPO / "docs" / "submit_step.md"
SHOWN_CLUSTER = "j-85PZY4BGEYD5E"
SHOWN_PROJECT = "/home/me/firehose-mr/"


def shown_runs():
    """The page's dry-run command (as words), the text it says the command prints, and the text
    it says the same command prints without --dry-run."""
    section = PAGE.read_text(encoding="utf-8").split("## A dry run", 1)[1].split("\n## ", 1)[0]
    command, printed, submitted = re.findall(r"^```(?:sh)?\n(.*?)^```$", section, re.M | re.S)[:3]
    return shlex.split(command.replace("\\\n", " ")), printed, submitted


def test_the_dry_run_on_the_page_prints_what_the_page_shows(aws: AwsServer) -> None:  # noqa: F811
    words, printed, submitted = shown_runs()
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="my-firehose-bucket")
    s3.create_bucket(Bucket="my-emr-bucket")
    for key in SAMPLE_KEYS:
        s3.upload_file(str(SAMPLE_DATA / key), "my-firehose-bucket", key)
    cluster = start_cluster(aws, "s3://my-emr-bucket/logs/")
    assert words[0] == "./submit_step.sh" and SHOWN_CLUSTER in words
    words = [cluster if word == SHOWN_CLUSTER else word for word in words]
    run = subprocess.run([str(REPO / "submit_step.sh")] + words[1:], cwd=str(REPO), env=aws.env(),
                         capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    said = (run.stderr + run.stdout).replace(cluster, SHOWN_CLUSTER).replace(str(REPO) + "/", SHOWN_PROJECT)
    assert said == printed

    words.remove("--dry-run")  # and now for real, on moto
    run = subprocess.run([str(REPO / "submit_step.sh")] + words[1:], cwd=str(REPO), env=aws.env(),
                         capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    step = re.search(r"Step (s-\w+) added", run.stdout + run.stderr)
    assert step is not None, run.stdout + run.stderr
    shown_step = re.search(r"Step (s-\w+) added", submitted).group(1)  # type: ignore[union-attr]
    said = (run.stderr + run.stdout).replace(cluster, SHOWN_CLUSTER).replace(step.group(1), shown_step)
    assert said.endswith(submitted), said
