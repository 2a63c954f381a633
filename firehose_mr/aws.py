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
