#!/usr/bin/env python3
"""The floor on N cores: N copies of bare_loop.py at once, each fed by `cat` a run of the
files with about 1/N of the bytes. Its wall time against one bare loop shows what this
machine's cores give together (0.5x on two cores that do not slow each other down).

usage: bare_loops.py N FILE..."""
import os
import subprocess
import sys
from typing import List

BARE_LOOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bare_loop.py")


def shares(files: List[str], n: int) -> List[List[str]]:
    """files cut, in order, into n runs of about the same number of bytes."""
    total = sum(os.path.getsize(f) for f in files)
    runs = [[] for _ in range(n)]  # type: List[List[str]]
    done = 0
    for path in files:
        runs[min(n - 1, done * n // max(total, 1))].append(path)
        done += os.path.getsize(path)
    return [run for run in runs if run]


def main(argv: List[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit() or int(argv[0]) < 1:
        sys.stderr.write(__doc__.splitlines()[-1] + "\n")
        return 2
    procs = []
    for run in shares(argv[1:], int(argv[0])):
        cat = subprocess.Popen(["cat"] + run, stdout=subprocess.PIPE)
        procs += [subprocess.Popen([sys.executable, BARE_LOOP], stdin=cat.stdout), cat]
        cat.stdout.close()  # type: ignore[union-attr]
    return max(p.wait() != 0 for p in procs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
