#!/usr/bin/env python3
"""probe.py LOG ROLE -- COMMAND [ARGS...]

Runs COMMAND with this process's stdin, stderr and environment, passes its stdout through,
and appends one JSON line to LOG when it ends: the ROLE, the bytes COMMAND wrote to stdout,
its peak resident set size (ru_maxrss, KiB) and its CPU seconds (user + system), as the
kernel reports them for that one process (os.wait4). Exits with COMMAND's exit status.

bench/run.py puts it in front of mappers, combiners and reducers in one extra, untimed
pass, to see each process on its own (run_local.sh's own rusage only has the largest
process of its whole tree) and to count the bytes that go from the mapper to sort.
"""
import json
import os
import subprocess
import sys
from typing import List


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def pass_through(source: int, target: int) -> int:
    """Copy everything from one descriptor to the other; the number of bytes."""
    total = 0
    while True:
        chunk = os.read(source, 1 << 16)
        if not chunk:
            return total
        total += len(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(target, view):]


def main(argv: List[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write(__doc__)
        return 2
    log, role, command = argv[0], argv[1], argv[3:]
    child = subprocess.Popen(command, stdout=subprocess.PIPE)
    written = pass_through(child.stdout.fileno(), sys.stdout.fileno())
    child.stdout.close()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = exit_code(status)  # reaped here, so that Popen does not wait again
    record = {"role": role, "bytes_out": written, "maxrss_kib": usage.ru_maxrss,
              "cpu_s": usage.ru_utime + usage.ru_stime, "status": child.returncode,
              "command": command[:1]}
    with open(log, "a") as out:  # one short write in append mode: lines of concurrent probes never mix
        out.write(json.dumps(record) + "\n")
    return child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
