"""submit_step.sh's command line: its options, the order of its checks (everything that can be
known without a request first, then read-only requests, then the writes), the dry run, and the
exit status (0 done, 1 a check or the step failed, 2 bad usage)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import List, Optional

from .. import aws, firehose
from ..errors import NotInstalled, TaskFailed, UsageError
from . import PROG, checks, plan
from .checks import note
from .wait import Waiting, wait_for_step

USAGE = """\
Usage: submit_step.sh --cluster-id j-XXXX --input S3URI... --output S3URI --code S3PREFIX
                      [-r N] [-c] [--wait] [--dry-run] [--name NAME] [-- JOB FLAGS]
       submit_step.sh --create-cluster [--yes] --input ... --output ... --code ... [-- JOB FLAGS]

Uploads mapper.py and reducer.py (from this script's folder, byte for byte) to --code and adds a
Hadoop Streaming step that runs them. Everything is checked before anything is uploaded.

  --cluster-id ID      the EMR cluster to run on (the step gets ActionOnFailure=CONTINUE)
  --create-cluster     instead: create a small cluster for this one step, with logging to S3, that
                       terminates itself afterwards; says what it costs and asks first (unless --yes)
  --input S3URI        Firehose data, repeatable:
                         a prefix (s3://b/2017/02/ or s3://b/): turned into the glob at the depth
                           of the objects (s3://b/2017/02/*/*/*), since Hadoop does not recurse;
                         a glob or an object: passed through unchanged
  --from DATE --to DATE   with --input at the root of the Firehose tree: only the delivery hours
                       in this range (inclusive); DATE is YYYY-MM-DD or YYYY-MM-DDTHH (UTC)
  --output S3URI       where Hadoop writes the result; must not exist yet
  --code S3PREFIX      where the scripts go; must not be inside an input
  -r, --reducers N     number of reduce tasks (-numReduceTasks N)
  -c, --combiner       run reducer.py --combine as a combiner
  -D KEY=VALUE         a Hadoop property for the job, repeatable (e.g. -D mapreduce.map.memory.mb=2048)
  --name NAME          the step's name (default: firehose-mr and the job flags)
  --wait               wait for the step; show the first output rows, or the cause of a failure
  --dry-run            check, then print the AWS CLI commands instead of running them
  --profile NAME, --region REGION   passed to every aws command (the CLI's own settings,
                       AWS_PROFILE, AWS_DEFAULT_REGION and AWS_ENDPOINT_URL work as usual)

  With --create-cluster:
  --yes                do not ask before creating the cluster
  --release-label L    EMR release (default emr-7.14.0)
  --instance-type T    (default m5.xlarge)    --instance-count N   (default 3: 1 primary, 2 core)
  --log-uri S3PREFIX   the cluster's log URI (default: CODE/logs/)

  With --wait:
  --poll SECONDS       seconds between status checks (default 30)
  --log-wait SECONDS   how long to wait for EMR to push the logs of a failed step (default 600)

Everything after -- goes to mapper.py as job flags, exactly as typed (see mapper.py --help).

Exit status: 0 done, 1 a check or the step failed, 2 bad usage.
"""

FLAGS = ("-c", "--combiner", "--wait", "--dry-run", "--create-cluster", "--yes")
VALUED = ("--cluster-id", "--input", "--output", "--code", "-r", "--reducers", "-D", "--name", "--from", "--to",
          "--profile", "--region", "--release-label", "--instance-type", "--instance-count", "--log-uri",
          "--poll", "--log-wait")
# As in a map task: --time @arrival reads the input file's path from the environment.
SAMPLE_INPUT_FILE = "s3://bucket/2017/01/01/00/stream-1-2017-01-01-00-00-00-check"


class Options:
    """The command line, as given (validate() checks it and fills in what follows from it)."""

    def __init__(self) -> None:
        self.cluster_id = ""
        self.create_cluster = self.assume_yes = self.combiner = self.wait = self.dry_run = False
        self.inputs = []  # type: List[str]
        self.output = self.code = self.reducers = self.name = self.from_text = self.to_text = ""
        self.profile = self.region = ""
        self.aws_options = []  # type: List[str]  # --profile and --region, in their order, for printed commands
        self.properties = []  # type: List[str]
        self.job_flags = []  # type: List[str]
        self.release = plan.DEFAULT_RELEASE
        self.instance_type = "m5.xlarge"
        self.instance_count = "3"
        self.log_uri = ""
        self.poll = "30"
        self.log_wait = "600"
        self.hours = None  # type: Optional[firehose.HourRange]


def parse_args(argv: List[str]) -> Options:
    options = Options()
    at = 0
    while at < len(argv):
        option = argv[at]
        if option in ("-h", "--help"):
            sys.stdout.write(USAGE)
            sys.exit(0)
        if option == "--":
            options.job_flags = argv[at + 1:]
            return options
        if option in FLAGS:
            name = {"-c": "combiner", "--combiner": "combiner", "--wait": "wait", "--dry-run": "dry_run",
                    "--create-cluster": "create_cluster", "--yes": "assume_yes"}[option]
            setattr(options, name, True)
            at += 1
            continue
        if option not in VALUED:
            raise UsageError("unknown option %s (each input goes after --input; job flags for mapper.py after --)"
                             % option)
        if at + 1 >= len(argv):
            raise UsageError("%s needs a value" % option)
        value = argv[at + 1]
        if value.startswith("--"):
            raise UsageError("%s needs a value (got %s)" % (option, value))
        take_value(options, option, value)
        at += 2
    return options


def take_value(options: Options, option: str, value: str) -> None:
    if option == "--input":
        options.inputs.append(value)
    elif option == "-D":
        options.properties.append(value)
    elif option in ("--profile", "--region"):
        setattr(options, option[2:], value)
        options.aws_options += [option, value]
    else:
        attribute = {"-r": "reducers", "--reducers": "reducers", "--release-label": "release",
                     "--from": "from_text", "--to": "to_text"}.get(option, option[2:].replace("-", "_"))
        setattr(options, attribute, value)


def validate(options: Options) -> None:
    """Everything about the options that needs no request; fills in code (ending in /),
    output (without a trailing /), log_uri and hours."""
    if options.create_cluster:
        if options.cluster_id:
            raise UsageError("give --cluster-id or --create-cluster, not both")
    else:
        if not options.cluster_id:
            raise UsageError("--cluster-id is required (or --create-cluster)")
        if not re.match(r"^j-[A-Z0-9]+$", options.cluster_id):
            raise UsageError("--cluster-id %s: not an EMR cluster id (j-XXXXXXXXXXXXX; see aws emr list-clusters "
                             "--active)" % options.cluster_id)
    for option, value in (("--input", options.inputs), ("--output", options.output), ("--code", options.code)):
        if not value:
            raise UsageError("%s is required" % option)
    validate_numbers(options)
    if options.from_text or options.to_text:
        validate_range(options)
    for item in options.properties:
        if not re.match(r"^.+=", item, re.DOTALL):
            raise UsageError("-D %s: expected KEY=VALUE" % item)
        if plan.has_control_chars(item):
            raise UsageError("-D: control characters in %s" % plan.shell_line([item]))
    if plan.has_control_chars(options.name):
        raise UsageError("--name: control characters")
    validate_places(options)


def validate_numbers(options: Options) -> None:
    if options.reducers and not re.match(r"^[0-9]+$", options.reducers):
        raise UsageError("-r %s: not a number" % options.reducers)
    if options.reducers == "0":
        note("warning: -r 0 makes a map-only job: the output is mapper.py's intermediate lines, not rows")
    if not re.match(r"^[1-9][0-9]*$", options.instance_count):
        raise UsageError("--instance-count %s: not a number" % options.instance_count)
    if not re.match(r"^[0-9]+([.][0-9]+)?$", options.poll):
        raise UsageError("--poll %s: not a number of seconds" % options.poll)
    if re.match(r"^0*([.]0*)?$", options.poll):
        raise UsageError("--poll %s: give at least a second or so (EMR throttles a constant stream of requests)"
                         % options.poll)
    if not re.match(r"^[0-9]+$", options.log_wait):
        raise UsageError("--log-wait %s: not a whole number of seconds" % options.log_wait)


def validate_range(options: Options) -> None:
    if not (options.from_text and options.to_text):
        raise UsageError("--from and --to go together")
    hours = []  # type: List[int]
    for option, text, default_hour in (("--from", options.from_text, 0), ("--to", options.to_text, 23)):
        try:
            hours.append(firehose.parse_date(text, default_hour))
        except ValueError as error:
            raise UsageError("%s %s: %s" % (option, text, error))
    if hours[0] > hours[1]:
        raise UsageError("--from %s is after --to %s" % (options.from_text, options.to_text))
    options.hours = firehose.HourRange(hours[0], hours[1], options.from_text, options.to_text)


def validate_places(options: Options) -> None:
    output = options.output
    _, key = plan.split_s3(output, "--output")
    if any(char in output for char in "*?[{"):
        raise UsageError("--output %s: no glob characters in an output" % output)
    if plan.has_bare_comma(output):
        raise UsageError("--output %s: Hadoop cannot take a comma here" % output)
    if key in ("", "/"):
        raise UsageError("--output %s: give a folder inside the bucket" % output)
    code = options.code
    bucket, _ = plan.split_s3(code, "--code")
    if any(char in code for char in ",#*?[{ "):
        raise UsageError("--code %s: no commas, #, spaces or glob characters here (-files cannot carry them)" % code)
    # -files reads each entry as a java.net.URI: %XX would be decoded, and | ^ " < > \ ` } or a
    # space are refused; // in the path is made /, so the scripts would not be found where they went.
    if not plan.valid_code_uri(code):
        raise UsageError("--code %s: use letters, digits and . _ - / (Hadoop reads -files entries as URIs: %%, "
                         "quotes, | ^ < > \\ ` } and // do not survive)" % code)
    options.code = (code[:-1] if code.endswith("/") else code) + "/"
    if options.code == "s3://%s/" % bucket:
        raise UsageError("--code %s: give a folder inside the bucket" % options.code)
    if options.create_cluster:
        log_uri = options.log_uri or options.code + "logs/"
        plan.split_s3(log_uri, "--log-uri")
        options.log_uri = (log_uri[:-1] if log_uri.endswith("/") else log_uri) + "/"
    for given in options.inputs:
        plan.split_s3(given, "--input")
        if plan.has_bare_comma(given):
            raise UsageError("--input %s: Hadoop splits input paths at commas (outside {...}): give each path its "
                             "own --input" % given)


def check_scripts(project: str) -> None:
    """mapper.py and reducer.py beside the package: there, readable, with LF line endings."""
    for name in ("mapper.py", "reducer.py"):
        path = os.path.join(project, name)
        try:
            with open(path, "rb") as script:
                text = script.read()
        except OSError:
            raise TaskFailed("%s is missing: %s uploads mapper.py and reducer.py from its own folder (restore it, "
                             "e.g. git checkout -- %s)" % (path, PROG, name))
        if b"\r" in text:
            raise TaskFailed("%s has CRLF line endings: convert it to LF first (e.g. sed -i 's/\\r$//' %s)"
                             % (path, name))


def check_flags_locally(project: str, flags: List[str]) -> None:
    """Would mapper.py refuse the job flags? It says so with exit status 2."""
    env = dict(os.environ, mapreduce_map_input_file=SAMPLE_INPUT_FILE)
    result = subprocess.run([sys.executable, os.path.join(project, "mapper.py")] + flags, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if result.returncode == 2:
        said = [line for line in result.stderr.decode("utf-8", "replace").splitlines()
                if not line.startswith("reporter:")]
        raise UsageError("mapper.py refuses these job flags: %s" % (said[-1] if said else ""))


def confirm_cost(options: Options, cluster: plan.Cluster) -> None:
    for line in plan.cost_lines(cluster):
        note(line)
    if options.assume_yes or options.dry_run:
        return
    if sys.stdin.isatty():
        try:
            answer = input("Create it? [y/N] ")
        except EOFError:
            answer = ""
        if answer in ("y", "Y", "yes", "YES"):
            return
        raise TaskFailed("not creating the cluster; nothing was uploaded or changed")
    raise TaskFailed("not creating the cluster without confirmation: run again with --yes (nothing was uploaded or "
                     "changed)")


def run(project: str, argv: List[str]) -> None:
    options = parse_args(argv)
    validate(options)
    check_scripts(project)
    mapper = plan.mapper_command(options.job_flags)
    layout = plan.Layout(options.inputs, options.output, options.code, options.log_uri)
    for warning in plan.placement_notes(layout):
        note(warning)
    check_flags_locally(project, options.job_flags)  # before any AWS setting is needed
    clients = aws.connect(project, options.profile, options.region)

    # Pre-flight: read-only requests only, before anything is uploaded or started.
    log_uri = options.log_uri
    if not options.create_cluster:
        facts = checks.check_cluster(clients.emr, options.cluster_id)
        log_uri = facts.log_uri
        if not log_uri:
            note("warning: cluster %s has no log URI: a failed step's task logs will not be in S3" % options.cluster_id)
        steps = checks.active_steps(clients.emr, options.cluster_id)
        checks.check_active_steps(clients.s3, steps, options.cluster_id, options.output, options.code, project)
    checks.check_output_free(clients.s3, options.output)
    recursive = any(prop.partition("=")[0].strip() == checks.RECURSIVE
                    and prop.partition("=")[2].strip().lower() == "true" for prop in options.properties)
    resolved = checks.resolve_inputs(clients.s3, options.inputs, options.hours, recursive)
    reader = plan.code_in_reach(options.code, resolved)
    if reader is not None:
        raise TaskFailed("--code %s is inside the input %s: the job would read its own scripts as data. Put the code "
                         "under a prefix outside every input (another folder or bucket)" % (options.code, reader))
    checks.check_code_bucket(clients.s3, options.code)

    output = options.output.rstrip("/")
    job = plan.Job(options.code, output, [glob for globs in resolved.values() for glob in globs], mapper,
                   options.properties, options.combiner, options.reducers)
    on_failure = "TERMINATE_CLUSTER" if options.create_cluster else "CONTINUE"
    step = plan.step_config(plan.step_name(options.name, mapper), plan.step_args(job), on_failure)
    refusal = plan.emr_would_refuse(step)
    if refusal:
        raise UsageError(refusal)
    cluster = None  # type: Optional[plan.Cluster]
    if options.create_cluster:
        cluster = plan.Cluster(options.release, options.instance_type, int(options.instance_count), log_uri)
        confirm_cost(options, cluster)
    uploads = [(os.path.join(project, name), options.code + name) for name in ("mapper.py", "reducer.py")]
    if options.dry_run:
        note("Dry run: all checks passed; these are the commands it would run (nothing was changed):")
        sys.stdout.write(plan.dry_run_script(options.aws_options, uploads, step, options.cluster_id, cluster))
        return

    for path, uri in uploads:
        upload(clients, path, uri)
    if cluster is not None:
        with checks.asking("creating the cluster"):
            cluster_id = clients.emr.run_job_flow(**plan.run_job_flow_request(cluster, step))["JobFlowId"]
        with checks.asking("finding the step on cluster %s" % cluster_id):
            step_id = clients.emr.list_steps(ClusterId=cluster_id)["Steps"][0]["Id"]
    else:
        cluster_id = options.cluster_id
        with checks.asking("adding the step"):
            step_id = clients.emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[step])["StepIds"][0]
    sys.stdout.write(plan.watch_hints(options.aws_options, cluster_id, step_id, log_uri, output))
    sys.stdout.flush()
    if options.wait:
        wait_for_step(Waiting(clients, cluster_id, step_id, output, log_uri, float(options.poll),
                              float(options.log_wait)))


def upload(clients: aws.Clients, path: str, uri: str) -> None:
    bucket, key = plan.split_s3(uri, "--code")
    with open(path, "rb") as script:
        body = script.read()
    with checks.asking("uploading %s" % os.path.basename(path)):
        clients.s3.put_object(Bucket=bucket, Key=key, Body=body)


def command_line(project: str, argv: List[str]) -> None:
    """`submit_step.sh ARGS...`: exits with its status."""
    try:
        run(project, argv)
    except NotInstalled as error:
        sys.stderr.write("%s: %s\n" % (PROG, error))
        sys.exit(2)
    except UsageError as error:
        sys.stderr.write("%s: %s\n(see %s --help)\n" % (PROG, error, PROG))
        sys.exit(2)
    except TaskFailed as error:
        sys.stderr.write("%s: %s\n" % (PROG, error))
        sys.exit(1)
    sys.exit(0)
