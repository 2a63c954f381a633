"""The one place that talks to AWS. The local runner uses the AWS CLI, which an EMR master node
has and which needs nothing installed beside this project."""
from __future__ import annotations

import subprocess
from typing import List

from .errors import UsageError


def cli(args: List[str]) -> "subprocess.CompletedProcess[bytes]":
    """`aws ARGS...`, its output captured."""
    try:
        return subprocess.run(["aws"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as err:
        raise UsageError("s3:// input needs the AWS CLI (aws) on PATH: %s" % err)


def list_objects(bucket: str, prefix: str) -> "subprocess.CompletedProcess[bytes]":
    """`aws s3api list-objects-v2` of every object whose key starts with prefix, as JSON (the
    CLI follows the pages): the keys exactly as they are, where `aws s3 ls` shows them in
    columns that a key beginning with a space cannot be told from."""
    args = ["s3api", "list-objects-v2", "--bucket", bucket, "--output", "json"]
    if prefix:
        args += ["--prefix", prefix]
    return cli(args)
