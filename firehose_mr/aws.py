"""The one place that talks to AWS. The local runner uses the AWS CLI, which an EMR master node
has and which needs nothing installed beside this project; submit_step.sh uses boto3, imported
here only when it is asked for, so that run_local.sh never needs it."""
from __future__ import annotations

import os
import shlex
import subprocess
from typing import Any, Iterator, List, NamedTuple, Optional

from .errors import NotInstalled, TaskFailed, UsageError

REQUIREMENTS = "requirements.txt"  # beside the package: boto3, pinned, for submit_step.sh
CREDENTIAL_CODES = ("InvalidClientTokenId", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
                    "ExpiredTokenException", "UnrecognizedClientException", "InvalidToken")
NOT_FOUND_CODES = ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


def cli(args: List[str], needed_for: str = "s3:// input") -> "subprocess.CompletedProcess[bytes]":
    """`aws ARGS...`, its output captured."""
    try:
        return subprocess.run(["aws"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as err:
        raise UsageError("%s needs the AWS CLI (aws) on PATH: %s" % (needed_for, err))


def last_line(said: bytes) -> str:
    """The last line the AWS CLI wrote (its error), or a note that it wrote none."""
    lines = said.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "(nothing said)"


# The states of a cluster whose master node is gone or going.
ENDED = ("TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS")


def master_node(cluster_id: str) -> str:
    """The public DNS name of an EMR cluster's master node, as `aws emr ssh` finds it (from
    DescribeCluster); a UsageError if there is no such cluster or no running master node."""
    found = cli(["emr", "describe-cluster", "--cluster-id", cluster_id, "--output", "text",
                 "--query", "Cluster.[Status.State,MasterPublicDnsName]"], "--on " + cluster_id)
    if found.returncode != 0:
        raise UsageError("cannot look up the cluster %s: %s" % (cluster_id, last_line(found.stderr)))
    fields = found.stdout.decode("utf-8", "replace").split()
    state, name = (fields + ["None", "None"])[:2]
    if state in ENDED:
        raise UsageError("the cluster %s is %s: its master node is gone" % (cluster_id, state))
    if name == "None":
        raise UsageError("the cluster %s (%s) has no master node address yet" % (cluster_id, state))
    return name


class Clients(NamedTuple):
    s3: Any
    emr: Any


def install_command(project: str) -> str:
    """The one command that installs what submit_step.sh needs."""
    return "python3 -m pip install -r %s" % shlex.quote(os.path.join(project, REQUIREMENTS))


def connect(project: str, profile: str = "", region: str = "") -> Clients:
    """S3 and EMR clients from the user's ordinary settings (profile, region, credentials,
    AWS_ENDPOINT_URL), --profile and --region on top."""
    try:
        import boto3
        import botocore.config
        import botocore.exceptions
    except ImportError:
        raise NotInstalled("needs boto3 (the AWS SDK for Python), which this python3 does not have: "
                           "install it with: %s" % install_command(project))
    doing = "reading the AWS settings"
    try:
        session = boto3.session.Session(profile_name=profile or None, region_name=region or None)
        config = botocore.config.Config(retries={"max_attempts": 4, "mode": "standard"})
        return Clients(session.client("s3", config=config), session.client("emr", config=config))
    except botocore.exceptions.BotoCoreError as error:
        raise TaskFailed(failure(doing, error))


def error_code(error: Exception) -> str:
    """The code of an error answer (NoSuchBucket, 404, ...), or "" for another failure."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_not_found(error: Exception) -> bool:
    return error_code(error) in NOT_FOUND_CODES


def failure(doing: str, error: Exception) -> str:
    """The message for a failed request, `doing` saying what it was for."""
    said = " ".join(str(error).split())
    kind = type(error).__name__
    if error_code(error) in CREDENTIAL_CODES or kind in (
            "NoCredentialsError", "PartialCredentialsError", "ProfileNotFound", "SSOTokenLoadError",
            "UnauthorizedSSOTokenError", "CredentialRetrievalError", "TokenRetrievalError"):
        return ("no usable AWS credentials while %s. Configure them (aws configure, aws sso login, --profile NAME "
                "or AWS_PROFILE) and try again. AWS said: %s" % (doing, said))
    if kind == "NoRegionError":
        return ("no AWS region while %s: pass --region REGION, set AWS_DEFAULT_REGION, or configure one "
                "(aws configure). AWS said: %s" % (doing, said))
    return "failed while %s. AWS said: %s" % (doing, said)


def is_aws_error(error: Exception) -> bool:
    """An error of boto3 or botocore (a request that failed, or settings that do not work)."""
    return type(error).__module__.startswith(("botocore", "boto3"))


def keys(s3: Any, bucket: str, prefix: str, start_after: str = "", stop_after: Optional[str] = None
         ) -> Iterator[str]:
    """The keys under s3://bucket/prefix, in S3's order, through every page of the listing; with
    stop_after, none that sorts after it (the listing stops there)."""
    request = {"Bucket": bucket, "Prefix": prefix}
    if start_after:
        request["StartAfter"] = start_after
    for page in s3.get_paginator("list_objects_v2").paginate(**request):
        for item in page.get("Contents", []):
            if stop_after is not None and item["Key"] > stop_after:
                return
            yield item["Key"]


def objects(s3: Any, bucket: str, prefix: str) -> Iterator[dict]:
    """The listing entries (Key, Size, ...) under s3://bucket/prefix, through every page."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item


def head_bytes(s3: Any, bucket: str, key: str, size: int) -> bytes:
    """The first `size` bytes of an object (fewer if it is shorter; none if it is empty)."""
    try:
        return s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-%d" % (size - 1))["Body"].read()
    except Exception as error:
        if error_code(error) == "InvalidRange":  # an empty object
            return b""
        raise


def list_objects(bucket: str, prefix: str) -> "subprocess.CompletedProcess[bytes]":
    """`aws s3api list-objects-v2` of every object whose key starts with prefix, as JSON (the
    CLI follows the pages): the keys exactly as they are, where `aws s3 ls` shows them in
    columns that a key beginning with a space cannot be told from."""
    args = ["s3api", "list-objects-v2", "--bucket", bucket, "--output", "json"]
    if prefix:
        args += ["--prefix", prefix]
    return cli(args)
