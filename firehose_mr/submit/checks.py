"""The pre-flight checks that ask AWS: read-only requests over S3 listings (every page) and EMR's
answers, made before anything is uploaded or started. Each refusal is a TaskFailed (exit 1)
or a UsageError (exit 2) with the message to print; what is fine comes back as data."""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Set

from .. import aws, firehose
from ..errors import TaskFailed, UsageError
from ..formats import HEAD_SIZE, read_as_text_by_hadoop, refusal_by_content, refusal_by_name
from ..globs import GlobError, expand_slashed_braces, glob_reaches, has_wildcard, literal_folders, unescaped
from .plan import ACTIVE_STEPS_LIMIT, from_hadoop_uri, split_s3

# The Hadoop property that has FileInputFormat read a folder's whole subtree.
RECURSIVE = "mapreduce.input.fileinputformat.input.dir.recursive"

NOTE = sys.stderr
DELIVER_AS_TEXT = ("Deliver the stream as JSON with GZIP or Hadoop-compatible Snappy compression, or leave these "
                   "objects out with a glob.")


def note(text: str) -> None:
    NOTE.write(text + "\n")
    NOTE.flush()


@contextlib.contextmanager
def asking(doing: str) -> Iterator[None]:
    """Requests to AWS: a failure becomes one line that says what was being done."""
    try:
        yield
    except TaskFailed:
        raise
    except Exception as error:
        if not aws.is_aws_error(error):
            raise
        raise TaskFailed(aws.failure(doing, error))


# ---------------------------------------------------------------------------------------------
# The cluster

class ClusterFacts(NamedTuple):
    state: str
    log_uri: str  # s3://..., or ""
    release: str


def check_cluster(emr: Any, cluster_id: str) -> ClusterFacts:
    """The cluster exists for these credentials here, and can run steps."""
    with asking("looking up the cluster %s" % cluster_id):
        try:
            found = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
        except Exception as error:
            if aws.error_code(error) in ("InvalidRequestException", "ClusterNotFound", "ResourceNotFoundException"):
                raise TaskFailed("--cluster-id %s: no such cluster for these credentials in this region: check "
                                 "the id and the region (aws emr list-clusters --active; --region REGION)"
                                 % cluster_id)
            raise
    facts = ClusterFacts(found["Status"]["State"], from_hadoop_uri(found.get("LogUri") or ""),
                         found.get("ReleaseLabel") or "")
    if facts.state not in ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"):
        raise TaskFailed("--cluster-id %s: the cluster is %s and cannot run steps: use a running cluster or "
                         "--create-cluster" % (cluster_id, facts.state))
    if facts.release.startswith(("emr-4.", "emr-5.")):
        note("warning: cluster %s runs %s: mapper.py needs python3 >= 3.7 on every node (EMR 6 and 7 have it)"
             % (cluster_id, facts.release))
    return facts


def active_steps(emr: Any, cluster_id: str) -> List[dict]:
    """The cluster's steps that are waiting or running, through every page."""
    steps = []  # type: List[dict]
    with asking("listing the steps of cluster %s" % cluster_id):
        for page in emr.get_paginator("list_steps").paginate(ClusterId=cluster_id, StepStates=["PENDING", "RUNNING"]):
            steps.extend(page.get("Steps", []))
    return steps


def check_active_steps(s3: Any, steps: List[dict], cluster_id: str, output: str, code: str,
                       project: str) -> None:
    """Room for one more step; no waiting or running step writes --output; none is to run other
    scripts from --code than these (EMR fetches -files when a step starts)."""
    if len(steps) >= ACTIVE_STEPS_LIMIT:
        raise TaskFailed("--cluster-id %s: %d steps are waiting or running there, the most EMR takes: wait for "
                         "some of them to end" % (cluster_id, len(steps)))
    code_user = ""
    for step in steps:
        args = step.get("Config", {}).get("Args", [])
        who = "%s (%s)" % (step["Id"], step["Status"]["State"])
        for word, following in zip(args, args[1:]):
            if word == "-output" and from_hadoop_uri(following.rstrip("/")) == output.rstrip("/"):
                raise TaskFailed("--output %s: step %s on cluster %s writes there already, and the second job to "
                                 "write an output fails: choose another --output" % (output, who, cluster_id))
            if word == "-files" and ("%smapper.py#" % code in following or "%sreducer.py#" % code in following):
                code_user = code_user or who
    if code_user:
        check_code_unchanged(s3, code, code_user, project)


def check_code_unchanged(s3: Any, code: str, step: str, project: str) -> None:
    """A step ("ID (STATE)") is to run the scripts under --code: the same bytes may go there
    again, other ones may not."""
    bucket, prefix = split_s3(code, "--code")
    for name in ("mapper.py", "reducer.py"):
        with asking("reading %s%s" % (code, name)):
            try:
                there = s3.get_object(Bucket=bucket, Key=prefix + name)["Body"].read()
            except Exception as error:
                if aws.is_not_found(error):
                    continue  # gone: nothing to keep
                raise
        with open(os.path.join(project, name), "rb") as mine:
            if mine.read() != there:
                raise TaskFailed("--code %s: step %s is to run the %s there, and this %s differs from it: uploading "
                                 "it would change what that step runs. Give another --code (such as %sv2/), or "
                                 "wait for the step to end" % (code, step, name, name, code))


# ---------------------------------------------------------------------------------------------
# The output and the code's bucket

def check_output_free(s3: Any, output: str) -> None:
    """Nothing that Hadoop would take for an existing output: an object at the key, one below
    it (a folder, or its marker key/), or a key_$folder$ marker. Other keys that merely start
    with the same name do not count."""
    bucket, key = split_s3(output, "--output")
    key = key.rstrip("/")
    with asking("checking that the output %s does not exist" % output):
        try:
            below = s3.list_objects_v2(Bucket=bucket, Prefix=key + "/", MaxKeys=1).get("KeyCount", 0)
        except Exception as error:
            if aws.error_code(error) == "NoSuchBucket":
                raise TaskFailed("--output %s: the bucket %s does not exist (Hadoop writes into an existing "
                                 "bucket): create it first (aws s3 mb s3://%s)" % (output, bucket, bucket))
            raise
        taken = below > 0 or any(object_exists(s3, bucket, name) for name in (key, key + "_$folder$"))
    if taken:
        raise TaskFailed("--output %s already exists, and Hadoop aborts a job whose output exists. Choose a new "
                         "--output, or delete the old one first: aws s3 rm --recursive s3://%s/%s/"
                         % (output, bucket, key))


def object_exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except Exception as error:
        if aws.is_not_found(error):
            return False
        raise


def check_code_bucket(s3: Any, code: str) -> None:
    """The bucket of --code exists and these credentials may use it (HeadBucket: a read)."""
    bucket, _ = split_s3(code, "--code")
    with asking("looking up the bucket of --code %s" % code):
        try:
            s3.head_bucket(Bucket=bucket)
        except Exception as error:
            if aws.error_code(error) in ("404", "NoSuchBucket", "NotFound"):
                raise TaskFailed("--code %s: the bucket %s does not exist: create it first (aws s3 mb s3://%s), or "
                                 "give a --code in a bucket of yours" % (code, bucket, bucket))
            if aws.error_code(error) in ("403", "AccessDenied", "Forbidden"):
                raise TaskFailed("--code %s: these credentials may not use the bucket %s: give a --code in a "
                                 "bucket you can write to" % (code, bucket))
            raise


# ---------------------------------------------------------------------------------------------
# Inputs

class Resolved(NamedTuple):
    globs: List[str]  # what goes to -input
    objects: List[str]  # the keys those read (for the format checks)


def resolve_input(s3: Any, uri: str, recursive: bool = False) -> Resolved:
    """An --input as Hadoop globs: a glob or an object as it is; a prefix as the glob at the
    depth of its Firehose objects. Each must match at least one object."""
    bucket, key = split_s3(uri, "--input")
    if has_wildcard(key):
        return resolve_glob(s3, uri, bucket, key, recursive)
    if not key or key.endswith("/"):
        return resolve_prefix(s3, uri, bucket, key)
    with asking("looking for the input %s" % uri):
        exists = object_exists(s3, bucket, unescaped(key))
    if exists:
        return Resolved([uri], [unescaped(key)])
    note("input %s is no object: taking it as the prefix %s/" % (uri, uri))
    return resolve_prefix(s3, uri + "/", bucket, key + "/")


def listed(s3: Any, uri: str, bucket: str, prefix: str, **bounds: Any) -> List[str]:
    with asking("listing the input %s" % uri):
        return list(aws.keys(s3, bucket, prefix, **bounds))


def resolve_glob(s3: Any, uri: str, bucket: str, key: str, recursive: bool = False) -> Resolved:
    """The objects a glob reaches (see globs.glob_reaches). Without input.dir.recursive, Hadoop
    reads a folder the glob matches one level down and fails the step on a folder found there
    (FileInputFormat.getSplits: "Not a file"): such a glob is refused."""
    reached = set()  # type: Set[str]
    try:
        for pattern in expand_slashed_braces(key):
            depth = len(pattern.split("/"))
            for name in listed(s3, uri, bucket, literal_folders(pattern)):
                if firehose.is_marker(name) or not glob_reaches(pattern, name):
                    continue
                if not recursive and len(name.split("/")) > depth + 1:
                    raise not_a_file(uri, bucket, name.split("/")[:depth + 1])
                reached.add(name)
    except GlobError as error:
        raise UsageError("--input %s: %s" % (uri, error))
    if not reached:
        raise TaskFailed("input %s: the glob matches no object in S3, and Hadoop fails on an input that matches "
                         "nothing (Input Pattern ... matches 0 files). Check it with: aws s3 ls --recursive s3://%s/%s"
                         % (uri, bucket, literal_folders(key)))
    return Resolved([uri], sorted(reached))


def not_a_file(uri: str, bucket: str, folder: List[str]) -> TaskFailed:
    """The refusal of a glob that matches a folder holding a folder (its parts)."""
    return TaskFailed("input %s: the glob matches the folder s3://%s/%s/, which holds the folder s3://%s/%s/: "
                      "Hadoop reads a folder that a glob matches one level down, and fails the step on a folder "
                      "there (Not a file: s3://%s/%s). Give the glob at the depth of the objects, or a prefix "
                      "(turned into that glob), or -D %s=true"
                      % (uri, bucket, "/".join(folder[:-1]), bucket, "/".join(folder), bucket, "/".join(folder),
                         RECURSIVE))


def deeper_refusal(uri: str, bucket: str, key: str, glob_words: str, remedy: str) -> TaskFailed:
    return TaskFailed("input %s: s3://%s/%s is deeper than the Firehose layout YYYY/MM/DD/HH/object, so %s would "
                      "match a folder: Hadoop would read what is in it as input too (or fail with 'Not a file' on a "
                      "folder in it). %s" % (uri, bucket, key, glob_words, remedy))


def resolve_prefix(s3: Any, uri: str, bucket: str, prefix: str) -> Resolved:
    """A Firehose prefix: the glob that matches its objects, after checking there are some and
    none deeper (a deeper object means the glob matches a folder)."""
    pattern = firehose.objects_glob(prefix)
    glob = "s3://%s/%s" % (bucket, pattern)
    depth = pattern.count("/") + 1
    matched = []  # type: List[str]
    for name in listed(s3, uri, bucket, prefix):
        if firehose.is_marker(name):
            continue
        if name.count("/") + 1 > depth:
            raise deeper_refusal(uri, bucket, name, "the glob " + glob, "Give a deeper prefix or an explicit glob.")
        if glob_reaches(pattern, name):
            matched.append(name)
    if not matched:
        raise TaskFailed("input %s: no objects at the Firehose depth (%s matches nothing), and Hadoop fails on an "
                         "input that matches nothing. Check the prefix (aws s3 ls --recursive %s); for another "
                         "layout (a custom prefix such as year=2017/month=02/), give a glob that matches the "
                         "objects, such as s3://%s/%s*/*." % (uri, glob, uri, bucket, prefix))
    note("input %s -> %s" % (uri, glob))
    return Resolved([glob], matched)


def resolve_range(s3: Any, uri: str, hours: firehose.HourRange) -> Resolved:
    """A Firehose root and the hours first..last: the fewest globs over the folders that hold
    objects of the range. S3 lists keys in order and the layout sorts them by hour, so the
    listing starts at the first hour's folder and stops after the last one's."""
    bucket, root = split_s3(uri, "--input")
    if has_wildcard(root) or (root and not root.endswith("/")):
        raise UsageError("--input %s with --from/--to: give the root of the Firehose tree (the prefix above the "
                         "YYYY/ folders, ending in /)" % uri)
    if firehose.trailing_date_depth(root) > 0:
        raise UsageError("--input %s with --from/--to: give the root of the Firehose tree (above the YYYY/ "
                         "folders), not a date folder" % uri)
    names = listed(s3, uri, bucket, root, start_after=root + firehose.hour_folder(hours.first),
                   stop_after=root + firehose.hour_folder(hours.last) + "/\U0010ffff")
    plan = firehose.range_plan([name[len(root):] for name in names], hours.first, hours.last)
    between = "between %s and %s under it" % (hours.given_from, hours.given_to)
    if not plan.folders:
        raise TaskFailed("input %s: no Firehose folders YYYY/MM/DD/HH/ %s, so there is nothing to read"
                         % (uri, between))
    if plan.deeper is not None:
        raise deeper_refusal(uri, bucket, root + plan.deeper, "the glob of its hour",
                             "Give explicit globs instead of --from/--to.")
    globs = []  # type: List[str]
    for folder, glob in zip(plan.folders, plan.globs):
        if folder in plan.empty:
            note("input %s: no objects in s3://%s/%s%s (an empty folder): left out, as Hadoop fails on a glob "
                 "that matches nothing" % (uri, bucket, root, folder))
            continue
        globs.append("s3://%s/%s%s" % (bucket, root, glob))
        note("input %s -> %s" % (uri, globs[-1]))
    if not globs:
        raise TaskFailed("input %s: no objects in the Firehose folders YYYY/MM/DD/HH/ %s, so there is nothing to "
                         "read" % (uri, between))
    return Resolved(globs, [root + name for name in plan.objects])


# ---------------------------------------------------------------------------------------------
# Formats

def format_samples(keys: List[str]) -> List[str]:
    """The objects whose first bytes are read: the first and the last, and the first and the
    last .snappy one (Firehose changes the settings of new objects only, and names them in
    time order)."""
    snappy = [key for key in keys if key.endswith(".snappy")]
    picked = []  # type: List[str]
    for key in [keys[0], keys[-1]] + ([snappy[0], snappy[-1]] if snappy else []) if keys else []:
        if key not in picked:
            picked.append(key)
    return picked


def refused_by_name(keys: List[str]) -> Optional[str]:
    """The first key that Hadoop would read as text though it is not (ZIP, Parquet, ORC)."""
    return next((key for key in keys if read_as_text_by_hadoop(key)), None)


def check_formats(s3: Any, uri: str, bucket: str, keys: List[str]) -> None:
    """No object an input reads is one Hadoop cannot read as lines of text: by name, any of
    them; by its first bytes, the samples."""
    unreadable = refused_by_name(keys)
    if unreadable is not None:
        why = refusal_by_name(unreadable)
        raise TaskFailed("input %s: s3://%s/%s is %s. %s" % (uri, bucket, unreadable, why, DELIVER_AS_TEXT))
    for key in format_samples(keys):
        with asking("reading the start of s3://%s/%s" % (bucket, key)):
            head = aws.head_bytes(s3, bucket, key, HEAD_SIZE)
        why = refusal_by_content(key, head)
        if why is not None:
            raise TaskFailed("input %s: s3://%s/%s is %s" % (uri, bucket, key, why))


def resolve_inputs(s3: Any, inputs: List[str], hours: Optional[firehose.HourRange],
                   recursive: bool = False) -> Dict[str, List[str]]:
    """Every --input checked and resolved: its globs, by the input as given; recursive: the
    job reads folders to the end of their subtree (input.dir.recursive)."""
    resolved = {}  # type: Dict[str, List[str]]
    for uri in inputs:
        if hours is not None:
            found = resolve_range(s3, uri, hours)
        else:
            found = resolve_input(s3, uri, recursive)
        check_formats(s3, uri, split_s3(uri, "--input")[0], found.objects)
        resolved[uri] = found.globs
    return resolved
