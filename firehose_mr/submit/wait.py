"""--wait: the step's state polled until it ends, then its output's first rows, or the logs of
its failure and their probable cause."""
from __future__ import annotations

import gzip
import sys
import time
import zlib
from typing import Any, Dict, List

from .. import aws
from ..errors import TaskFailed
from . import emr_logs
from .checks import asking, note
from .plan import split_s3

ENDED = ("COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED")
COMPRESSED_OUTPUT = (".gz", ".bz2", ".deflate", ".snappy", ".zst", ".lz4")
LOG_BUCKET_FAILURES = ("NoSuchBucket", "AccessDenied", "Forbidden", "403", "InvalidAccessKeyId", "ExpiredToken")


class Waiting:
    """What --wait needs: the clients, the step, and the options that shape the waiting."""

    def __init__(self, clients: aws.Clients, cluster_id: str, step_id: str, output: str, log_uri: str,
                 poll: float, log_wait: float) -> None:
        self.s3, self.emr = clients.s3, clients.emr
        self.cluster_id, self.step_id = cluster_id, step_id
        self.output, self.log_uri = output.rstrip("/"), log_uri
        self.poll, self.log_wait = poll, log_wait


def wait_for_step(w: Waiting) -> None:
    """Poll the step (DescribeStep) every --poll seconds, saying each new state with the time;
    a ^C stops the waiting, not the step (exit status 130)."""
    last = ""
    try:
        while True:
            with asking("watching the step %s" % w.step_id):
                status = w.emr.describe_step(ClusterId=w.cluster_id, StepId=w.step_id)["Step"]["Status"]
            state = status.get("State", "")
            if state != last:
                note("%s step %s: %s" % (time.strftime("%H:%M:%S", time.gmtime()), w.step_id, state))
                last = state
            if state == "COMPLETED":
                report_success(w)
                return
            if state in ENDED:
                report_failure(w, state, status)
            time.sleep(w.poll)
    except KeyboardInterrupt:
        note("stopped waiting: step %s keeps running on cluster %s (to stop it: aws emr cancel-steps --cluster-id %s "
             "--step-ids %s)" % (w.step_id, w.cluster_id, w.cluster_id, w.step_id))
        sys.exit(130)


def report_success(w: Waiting) -> None:
    """Where the output is, how many part files hold something, and the first rows."""
    bucket, key = split_s3(w.output + "/", "--output")
    out = sys.stdout
    out.write("Step %s COMPLETED.\nOutput: %s/\n" % (w.step_id, w.output))
    with asking("listing the output"):
        parts = [item["Key"] for item in aws.objects(w.s3, bucket, key)
                 if item.get("Size", 0) > 0 and "/_" not in item["Key"]]
    out.write("%d non-empty part file(s).\n" % len(parts))
    if not parts:
        return
    first = parts[0]
    if first.endswith(COMPRESSED_OUTPUT):
        out.write("The output is compressed (%s): aws s3 cp s3://%s/%s - | ...\n"
                  % (first.rsplit(".", 1)[1], bucket, first))
        return
    with asking("reading s3://%s/%s" % (bucket, first)):
        head = aws.head_bytes(w.s3, bucket, first, 65536)
    out.write("First rows of s3://%s/%s:\n" % (bucket, first))
    out.flush()
    sys.stdout.buffer.write(b"".join(head.splitlines(keepends=True)[:10]))
    sys.stdout.buffer.flush()


def cluster_said(w: Waiting) -> str:
    """What became of the cluster (its state and the reason EMR gives), or ""."""
    try:
        status = w.emr.describe_cluster(ClusterId=w.cluster_id)["Cluster"]["Status"]
    except Exception as error:
        if aws.is_aws_error(error):
            return ""
        raise
    reason = status.get("StateChangeReason", {})
    words = [status.get("State"), reason.get("Code"), reason.get("Message")]
    return " The cluster: " + " ".join(word for word in words if word)


def report_failure(w: Waiting, state: str, status: Dict[str, Any]) -> None:
    """EMR's reason, the end of the step's logs and of the failed task's stderr, the probable
    cause. Always a TaskFailed."""
    note("Step %s %s." % (w.step_id, state))
    details = status.get("FailureDetails", {})
    for line in (status.get("StateChangeReason", {}).get("Message"), details.get("Reason"),
                 details.get("Message"), details.get("LogFile")):
        if line:
            note("EMR says: %s" % line)
    if state == "CANCELLED":
        raise TaskFailed("the step was cancelled (by someone, or because an earlier step failed or the cluster is "
                         "terminating): nothing of its own went wrong.%s" % cluster_said(w))
    if state == "INTERRUPTED":
        raise TaskFailed("the step was interrupted while it ran: the cluster stopped running it (it is terminating, "
                         "or lost the node the step ran on), not the step's own error. Run it again on a running "
                         "cluster.%s" % cluster_said(w))
    if not w.log_uri:
        raise TaskFailed("the cluster has no log URI, so there are no task logs to read: look at the step in the EMR "
                         "console, and create clusters with --log-uri")
    logs = "%s/%s/" % (w.log_uri.rstrip("/"), w.cluster_id)
    step_dir = "%ssteps/%s/" % (logs, w.step_id)
    deadline = time.monotonic() + w.log_wait
    while True:
        step_logs = fetch_logs(w, step_dir, lambda name: name in ("stderr", "syslog"))
        if step_logs:
            break
        if time.monotonic() >= deadline:
            raise TaskFailed("no logs under %s yet (EMR pushes them about every 5 minutes): look later with: aws s3 "
                             "ls --recursive %s" % (step_dir, step_dir))
        note("waiting for EMR to push the step's logs to %s ..." % step_dir)
        time.sleep(w.poll)
    step_log = "".join(step_logs.get(name, "") for name in ("stderr", "syslog"))
    for name in ("stderr", "syslog"):
        if name in step_logs:
            show(emr_logs.last_lines("the step's %s, %s%s.gz" % (name, step_dir, name), step_logs[name], 20))
    task_log = ""
    application = emr_logs.application_id(step_log)
    if application:
        app_dir = "%scontainers/%s/" % (logs, application)
        while True:  # EMR may push the containers' logs later than the step's
            stderrs = fetch_logs(w, app_dir, lambda name: name.endswith("/stderr"))
            task = emr_logs.pick_task_log(stderrs)
            if task is not None or time.monotonic() >= deadline:
                break
            note("waiting for EMR to push the task logs to %s ..." % app_dir)
            time.sleep(w.poll)
        if task is not None:
            task_log = stderrs[task]
            show(emr_logs.last_lines("the failed task's stderr, %s%s.gz" % (app_dir, task), task_log, 30))
        else:
            note("(no task stderr under %s yet)" % app_dir)
    note("")
    note("Probable cause: %s" % emr_logs.probable_cause(step_log, task_log, w.output))
    note("All logs: aws s3 ls --recursive %s" % logs)
    sys.exit(1)


def show(lines: List[str]) -> None:
    for line in lines:
        note(line)


def fetch_logs(w: Waiting, prefix_uri: str, wanted: Any) -> Dict[str, str]:
    """The text of the logs under an S3 prefix (every page of the listing) whose path below
    it, without .gz, is wanted; gzipped ones decompressed. Logs not there yet are no error; a
    log bucket that cannot be read is."""
    bucket, prefix = split_s3(prefix_uri, "the log URI")
    found = {}  # type: Dict[str, str]
    try:
        for key in aws.keys(w.s3, bucket, prefix):
            name = key[len(prefix):]
            plain = name[:-3] if name.endswith(".gz") else name
            if not wanted(plain) or (plain in found and not name.endswith(".gz")):
                continue
            data = w.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            if name.endswith(".gz"):
                try:
                    data = gzip.decompress(data)
                except (OSError, EOFError, zlib.error):
                    pass
            found[plain] = data.decode("utf-8", "replace")
    except Exception as error:
        if not aws.is_aws_error(error):
            raise
        if aws.error_code(error) in LOG_BUCKET_FAILURES or not aws.error_code(error):
            raise TaskFailed(aws.failure("reading the logs under %s" % prefix_uri, error))
    return found
