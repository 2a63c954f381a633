"""The one place that talks to AWS. The local runner uses the AWS CLI, which an EMR master node
has and which needs nothing installed beside this project."""
from __future__ import annotations

import subprocess
from typing import List

from .errors import UsageError


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
