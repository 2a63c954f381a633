"""A failed step's logs, read as text: which task's stderr to show, the YARN application, and
the probable cause. Pure functions over the logs' lines (EMR pushes them to the cluster's log
URI: steps/ID/stderr and syslog from the streaming client, containers/APPLICATION/CONTAINER/
stderr from each task)."""
from __future__ import annotations

import re
from typing import Dict, List, Optional

TRACEBACK = "Traceback (most recent call last):"
APPLICATION = re.compile(r"(application|job)_[0-9]+_[0-9]+")
NOT_FOUND = re.compile(r"not found|No such file or directory")
CANNOT_RUN = re.compile(r'Cannot run program "[^"]*"')
EXIT_CODE = re.compile(r"subprocess failed with code ([0-9]+)")
EXISTS = re.compile(r"Output directory .* already exists|FileAlreadyExistsException")
NO_INPUT = re.compile(r"matches 0 files|Input path does not exist")
PYTHON_MISSING = re.compile(r"python3.*(not found|No such file or directory)|\\r': No such file")
TIMED_OUT = re.compile(r"Timed out after [0-9]+ secs")
OUT_OF_MEMORY = re.compile(r"OutOfMemoryError|beyond physical memory limits|beyond the 'PHYSICAL' memory limit|"
                           r"Container killed on request. Exit code is 137|subprocess failed with code 137")
APPLICATION_MASTER = "_000001/stderr"  # the first container of an application runs its master


def application_id(step_log: str) -> Optional[str]:
    """The YARN application the streaming client started, from the step's log."""
    found = APPLICATION.search(step_log)
    return "application_" + found.group(0).split("_", 1)[1] if found else None


def python_error(text: str) -> str:
    """The exception line that ends the last Python traceback in a log."""
    line, inside = "", False
    for current in text.splitlines():
        if current.startswith(TRACEBACK):
            inside = True
        elif inside and current[:1] not in ("", " ", "\t"):
            line, inside = current, False
    return line


def pick_task_log(stderrs: Dict[str, str]) -> Optional[str]:
    """Of the task stderrs of an application (path under its folder: text), the failed task's:
    the first with a Python traceback, else the first with a "not found" error, else the first
    that says more than counters. The application master's is never it."""
    tasks = [path for path in sorted(stderrs) if not path.endswith(APPLICATION_MASTER)]
    for path in tasks:
        if any(line.startswith(TRACEBACK) for line in stderrs[path].splitlines()):
            return path
    for path in tasks:
        if NOT_FOUND.search(stderrs[path]):
            return path
    for path in tasks:
        if any(not line.startswith("reporter:") for line in stderrs[path].splitlines()):
            return path
    return None


def out_of_memory() -> str:
    return ("a task ran out of memory: give it more (-D mapreduce.map.memory.mb=..., -D mapreduce.reduce.memory.mb=...); "
            "or, if a glob took in .snappy objects in Snappy's framing format (Firehose's SNAPPY compression), "
            "Hadoop cannot read those at all")


def probable_cause(step_log: str, task_log: str, output: str) -> str:
    """What most likely made the step fail, from the step's log (stderr and syslog) and the
    failed task's stderr ("" if none was found)."""
    both = step_log + "\n" + task_log
    if EXISTS.search(step_log):
        return ("the output already exists, and Hadoop will not overwrite it: choose a new --output, or delete it "
                "(aws s3 rm --recursive %s/)" % output.rstrip("/"))
    if "Not a file:" in step_log:
        return ("an input matched a folder, not files (Hadoop does not recurse): give --input as a Firehose prefix "
                "ending in / so that submit_step.sh builds the glob at the depth of the objects, or make your glob "
                "deeper")
    if NO_INPUT.search(step_log):
        return "an input matches nothing: check the --input paths (aws s3 ls)"
    if any(line.startswith(TRACEBACK) for line in task_log.splitlines()):
        return "a Python error in the task: " + python_error(task_log)
    program = CANNOT_RUN.search(both)
    if program:
        return ("the task could not start %s: it is not installed on the nodes (EMR 7 has python3 but no 'python'; "
                "on other images install it with a bootstrap action)" % program.group(0)[len("Cannot run program "):])
    if "subprocess failed with code 127" in both or PYTHON_MISSING.search(task_log):
        return ("exit code 127: the command was not found on the node: python3 is missing there (EMR 7 has python3 "
                "but no 'python'; install it with a bootstrap action on other images), or a script started through "
                "its #! line has CRLF line endings (env: 'python3\\r')")
    if TIMED_OUT.search(both):
        return ("a task was stopped after reporting no progress for mapreduce.task.timeout (600 s by default): a "
                "record that takes that long, or a script that hangs; raise it with -D "
                "mapreduce.task.timeout=MILLISECONDS if the work is real")
    if OUT_OF_MEMORY.search(both):
        return out_of_memory()
    code = EXIT_CODE.search(both)
    if code:
        if code.group(1) == "2":
            return "the script exited with code 2: mapper.py or reducer.py refused its flags (the task's stderr says why)"
        return "the script exited with code %s (see the task's stderr above)" % code.group(1)
    if "Container killed" in both:
        return out_of_memory()
    return "unknown: read the logs above"


def last_lines(title: str, text: str, count: int) -> List[str]:
    """The end of a log, framed, as shown after a failure."""
    lines = text.splitlines()[-count:]
    return ["", "--- %s (last %d lines) ---" % (title, count)] + lines + ["---"]
