"""The step, as data: S3 URIs taken apart, the job flags quoted for Hadoop, where the code, the
output and a new cluster's logs may go, the step's arguments as EMR takes them, and the AWS CLI
commands that --dry-run prints. Pure functions: no request, no process."""
from __future__ import annotations

import json
import re
import shlex
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..errors import TaskFailed, UsageError
from ..globs import glob_reaches, has_wildcard
from ..hadoop import quote_arg
from . import PROG

JAR = "command-runner.jar"
STEP_FILE = "firehose-mr-steps.json"  # what the printed commands write the step's JSON into
# EMR's limits (API reference: StepConfig, HadoopJarStepConfig, AddJobFlowSteps).
NAME_LIMIT = 256  # characters of a step's Name
ARG_LIMIT = 10280  # characters of each of its Args
STEP_STRINGS_LIMIT = 10240  # characters of all the strings of its HadoopJarStep together
ACTIVE_STEPS_LIMIT = 256  # steps PENDING or RUNNING on a cluster
# The Hadoop of each EMR release (the release guide's application versions), for the cost prompt.
HADOOP_OF_RELEASE = {
    "emr-7.14.0": "3.4.2", "emr-7.13.0": "3.4.2", "emr-7.12.0": "3.4.1",
    "emr-7.1.0": "3.3.6", "emr-7.0.0": "3.3.6", "emr-6.15.0": "3.3.6",
}
DEFAULT_RELEASE = "emr-7.14.0"
# On-demand prices per instance-hour in us-east-1, in thousandths of a dollar: (EC2, EMR).
PRICES = {"m5.xlarge": (192, 48), "m5.2xlarge": (384, 96), "m5.4xlarge": (768, 192)}
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NOT_FOR_EMR = re.compile("[\ufffe\uffff]")  # beside the controls: outside the pattern of EMR's strings
URI_SAFE = re.compile(r"^s3://[A-Za-z0-9._~!$&()+;=:@/-]+$")


def has_control_chars(text: str) -> bool:
    """ASCII control characters (TAB, newline, ...)."""
    return CONTROL.search(text) is not None


def split_s3(uri: str, what: str) -> Tuple[str, str]:
    """(bucket, key) of s3://bucket/key; `what` names the option in messages."""
    if uri.startswith(("s3n://", "s3a://")):
        raise UsageError("%s %s: write it as s3://%s (EMR reads s3:// through EMRFS)"
                         % (what, uri, uri.split("://", 1)[1]))
    if not uri.startswith("s3://") or len(uri) == len("s3://"):
        raise UsageError("%s %s: not an S3 URI (s3://BUCKET/KEY)" % (what, uri))
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket:
        raise UsageError("%s %s: no bucket name" % (what, uri))
    if has_control_chars(uri):
        raise UsageError("%s: control characters in %s" % (what, shlex.quote(uri)))
    return bucket, key


def has_bare_comma(text: str) -> bool:
    """A comma outside {...}: Hadoop splits -input values there."""
    depth = 0
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif char == "," and depth == 0:
            return True
    return False


def from_hadoop_uri(uri: str) -> str:
    """EMR reports URIs as s3n://...; the rest of this program writes s3://."""
    for scheme in ("s3n://", "s3a://"):
        if uri.startswith(scheme):
            return "s3://" + uri[len(scheme):]
    return uri


# ---------------------------------------------------------------------------------------------
# The job flags, for Hadoop's PipeMapRed.splitArgs.

def hadoop_quoted(flag: str) -> str:
    """One job flag, quoted so that splitArgs gives it back; UsageError if it cannot."""
    if not flag:
        raise UsageError("an empty job flag cannot reach mapper.py: Hadoop drops empty words")
    if has_control_chars(flag):
        raise UsageError("job flag %s holds a control character (TAB, newline, ...): not supported"
                         % shlex.quote(flag))
    if "'" in flag and '"' in flag:
        raise UsageError("job flag %s holds both kinds of quote: Hadoop splits the mapper command itself, "
                         "without escapes, so it cannot carry it" % shlex.quote(flag))
    return quote_arg(flag)


def mapper_command(flags: Sequence[str]) -> str:
    """python3 mapper.py FLAGS, as one -mapper string."""
    return " ".join(["python3 mapper.py"] + [hadoop_quoted(flag) for flag in flags])


def step_name(given: str, mapper: str) -> str:
    """The step's name: --name, or firehose-mr and the mapper command; EMR keeps 256 characters."""
    return (given or "firehose-mr: " + mapper)[:NAME_LIMIT]


# ---------------------------------------------------------------------------------------------
# Placement: what may be where.

def input_static(uri: str) -> str:
    """Where an input's data can be: its URI up to the first glob character; a folder for a
    prefix (or an object name, which may turn out to be one)."""
    if has_wildcard(uri):
        return re.split(r"[*?\[{]", uri, 1)[0]
    return uri if uri.endswith("/") else uri + "/"


class Layout(NamedTuple):
    """The places a step uses (URIs as given, --code and --log-uri ending in /)."""
    inputs: List[str]
    output: str
    code: str
    log_uri: str  # a new cluster's; "" without --create-cluster


def placement_notes(layout: Layout) -> List[str]:
    """Refuses what cannot work, before any request: the code or a new cluster's logs inside
    the output, a new cluster's logs in an input's reach, inputs inside one another. Gives the
    warnings to print."""
    notes = []  # type: List[str]
    outdir = layout.output.rstrip("/") + "/"
    for given in layout.inputs:
        static = input_static(given)
        if layout.log_uri and layout.log_uri.startswith(static):
            raise TaskFailed("--log-uri %s is inside the input %s: the job would read the cluster's logs as "
                             "data. Give a --log-uri outside every input" % (layout.log_uri, given))
        if outdir.startswith(static):
            notes.append("warning: --output %s is inside the input %s: a later run over the same input "
                         "would read it" % (layout.output, given))
        for other in layout.inputs:
            if other == given or not input_static(other).startswith(static):
                continue
            if has_wildcard(given) or has_wildcard(other):
                notes.append("warning: the inputs %s and %s may overlap: Hadoop reads an object that both "
                             "match twice" % (given, other))
            else:
                raise UsageError("--input %s is inside --input %s: Hadoop would read its objects twice, and "
                                 "count them twice" % (other, given))
    if len(set(layout.inputs)) < len(layout.inputs):
        raise UsageError("an --input is given twice: Hadoop would read its objects twice, and count them twice")
    if layout.code.startswith(outdir):
        raise TaskFailed("--code %s is inside --output %s: uploading the scripts would create the output, "
                         "and Hadoop refuses an existing output" % (layout.code, layout.output))
    if layout.log_uri.startswith(outdir):
        raise TaskFailed("--log-uri %s is inside --output %s: the cluster's logs would create the output "
                         "before the step runs, and Hadoop refuses an existing output"
                         % (layout.log_uri, layout.output))
    return notes


def code_in_reach(code: str, inputs: Dict[str, List[str]]) -> Optional[str]:
    """The input (as given) one of whose globs would read the scripts under --code as data, at
    any depth below what it matches, or None. `inputs` maps each input to its globs."""
    bucket, prefix = split_s3(code, "--code")
    for given, globs in inputs.items():
        for glob in globs:
            glob_bucket, pattern = split_s3(glob, "--input")
            if glob_bucket == bucket and any(glob_reaches(pattern, prefix + name)
                                             for name in ("mapper.py", "reducer.py")):
                return given
    return None


# ---------------------------------------------------------------------------------------------
# The step.

class Job(NamedTuple):
    code: str  # ending in /
    output: str  # without a trailing /
    globs: List[str]
    mapper: str
    properties: List[str]
    combiner: bool
    reducers: str  # "" for Hadoop's default


def step_args(job: Job) -> List[str]:
    """hadoop-streaming's arguments, for command-runner.jar."""
    args = ["hadoop-streaming", "-files", "%smapper.py#mapper.py,%sreducer.py#reducer.py" % (job.code, job.code)]
    for prop in job.properties:
        args += ["-D", prop]
    for glob in job.globs:
        args += ["-input", glob]
    args += ["-output", job.output, "-mapper", job.mapper, "-reducer", "python3 reducer.py"]
    if job.combiner:
        args += ["-combiner", "python3 reducer.py --combine"]
    if job.reducers:
        args += ["-numReduceTasks", job.reducers]
    return args


def step_config(name: str, args: List[str], on_failure: str) -> Dict[str, object]:
    """The step as EMR's API takes it (StepConfig)."""
    return {"Name": name, "ActionOnFailure": on_failure, "HadoopJarStep": {"Jar": JAR, "Args": args}}


def cli_steps(step: Dict[str, object]) -> List[Dict[str, object]]:
    """The same step in the AWS CLI's --steps form (add-steps, create-cluster)."""
    jar_step = step["HadoopJarStep"]
    assert isinstance(jar_step, dict)
    return [{"Type": "CUSTOM_JAR", "Name": step["Name"], "ActionOnFailure": step["ActionOnFailure"],
             "Jar": jar_step["Jar"], "Args": jar_step["Args"]}]


def emr_would_refuse(step: Dict[str, object]) -> Optional[str]:
    """Why EMR would refuse the step (its strings: AddJobFlowSteps, HadoopJarStepConfig), or None."""
    jar_step = step["HadoopJarStep"]
    assert isinstance(jar_step, dict)
    args = jar_step["Args"]
    odd = next((arg for arg in args + [step["Name"]] if NOT_FOR_EMR.search(arg)), None)
    if odd is not None:
        return "the step's argument %s holds U+FFFE or U+FFFF, which EMR refuses" % shlex.quote(odd)
    longest = max(args, key=len)
    if len(longest) > ARG_LIMIT:
        return ("the step's argument %s... is %d characters long, and EMR takes at most %d in one"
                % (longest[:40], len(longest), ARG_LIMIT))
    total = len(jar_step["Jar"]) + sum(len(arg) for arg in args)
    if total > STEP_STRINGS_LIMIT:
        return ("the step's arguments come to %d characters, and EMR takes at most %d in all: give fewer or "
                "shorter -D, --input and job flags (a date range or a glob instead of many inputs)"
                % (total, STEP_STRINGS_LIMIT))
    return None


# ---------------------------------------------------------------------------------------------
# --create-cluster

class Cluster(NamedTuple):
    release: str
    instance_type: str
    instance_count: int
    log_uri: str


def run_job_flow_request(cluster: Cluster, step: Dict[str, object]) -> Dict[str, object]:
    """The RunJobFlow request of `aws emr create-cluster` with the options printed below."""
    return {
        "Name": "firehose-mr", "ReleaseLabel": cluster.release, "Applications": [{"Name": "Hadoop"}],
        "LogUri": cluster.log_uri, "Steps": [step],
        "Instances": {"MasterInstanceType": cluster.instance_type, "SlaveInstanceType": cluster.instance_type,
                      "InstanceCount": cluster.instance_count, "KeepJobFlowAliveWhenNoSteps": False},
        "JobFlowRole": "EMR_EC2_DefaultRole", "ServiceRole": "EMR_DefaultRole",
    }


def mills(amount: int) -> str:
    """Thousandths of a dollar as dollars with three decimals."""
    return "%d.%03d" % divmod(amount, 1000)


def cost_lines(cluster: Cluster) -> List[str]:
    """What a new cluster is and costs, said before it is made."""
    hadoop = HADOOP_OF_RELEASE.get(cluster.release)
    which = "Hadoop %s" % hadoop if hadoop else "a Hadoop version unknown to %s" % PROG
    count, kind = cluster.instance_count, cluster.instance_type
    lines = ["This creates an EMR cluster (%s, %s): %d x %s (1 primary, %d core),"
             % (cluster.release, which, count, kind, count - 1),
             "logging to %s, that terminates itself after this step (and if the step fails)." % cluster.log_uri]
    if kind in PRICES:
        ec2, emr = PRICES[kind]
        lines += ["Estimated cost: about $%s per hour while it exists: %d x (EC2 $%s + EMR $%s)"
                  % (mills((ec2 + emr) * count), count, mills(ec2), mills(emr)),
                  "per %s-hour on demand in us-east-1, billed per second with a one-minute minimum, from "
                  "start-up" % kind,
                  "(about 5-10 minutes) until it terminates; other regions differ, EBS volumes and S3 requests "
                  "add a little."]
    else:
        lines += ["Estimated cost: unknown to %s for %s: see https://aws.amazon.com/emr/pricing/ (EC2 + EMR per"
                  % (PROG, kind),
                  "instance-hour, x %d instances, billed per second from start-up until it terminates)." % count]
    return lines


# ---------------------------------------------------------------------------------------------
# --dry-run: the AWS CLI commands, as bash runs them.

def shell_line(words: Sequence[str]) -> str:
    return " ".join(shlex.quote(word) for word in words)


def dry_run_script(aws_options: List[str], uploads: List[Tuple[str, str]], step: Dict[str, object],
                   cluster_id: str, cluster: Optional[Cluster]) -> str:
    """The commands that do what a real run does: upload the scripts (local path, S3 URI),
    write the step's JSON into STEP_FILE (a quoted here-document: bash takes it as it is), and
    add the step, or create the cluster with it."""
    aws = ["aws"] + aws_options
    lines = [shell_line(aws + ["s3", "cp", path, uri, "--only-show-errors"]) for path, uri in uploads]
    lines += ["cat > %s <<'JSON'" % STEP_FILE, json.dumps(cli_steps(step), ensure_ascii=True), "JSON"]
    if cluster is None:
        lines.append(shell_line(aws + ["emr", "add-steps", "--cluster-id", cluster_id,
                                       "--steps", "file://" + STEP_FILE, "--query", "StepIds[0]",
                                       "--output", "text"]))
    else:
        lines.append(shell_line(aws + [
            "emr", "create-cluster", "--name", "firehose-mr", "--release-label", cluster.release,
            "--applications", "Name=Hadoop", "--instance-type", cluster.instance_type,
            "--instance-count", str(cluster.instance_count), "--use-default-roles", "--log-uri",
            cluster.log_uri, "--auto-terminate", "--steps", "file://" + STEP_FILE, "--query", "ClusterId",
            "--output", "text"]))
    return "\n".join(lines) + "\n"


def watch_hints(aws_options: List[str], cluster_id: str, step_id: str, log_uri: str, output: str) -> str:
    """What to run to follow a step that was added."""
    aws = shell_line(["aws"] + aws_options)
    ids = shell_line(["--cluster-id", cluster_id, "--step-id", step_id])
    lines = ["Step %s added to cluster %s." % (step_id, cluster_id),
             "Watch it:     %s emr describe-step %s --query Step.Status" % (aws, ids),
             "Wait for it:  %s emr wait step-complete %s" % (aws, ids)]
    if log_uri:
        lines.append("Its logs:     %s/%s/steps/%s/ (EMR pushes them about every 5 minutes)"
                     % (log_uri.rstrip("/"), cluster_id, step_id))
    lines.append("Output:       %s/" % output.rstrip("/"))
    return "\n".join(lines) + "\n"


def valid_code_uri(code: str) -> bool:
    """Whether -files can carry --code: a java.net.URI that decodes nothing and keeps every /."""
    return URI_SAFE.match(code) is not None and "//" not in code[len("s3://"):]
