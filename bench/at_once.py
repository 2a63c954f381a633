#!/usr/bin/env python3
"""N copies of a command at once, each fed by `cat` a run of the files with about 1/N of the
bytes; their outputs, whole and in order, on stdout (each is held in memory until every copy
has ended: this is for commands that write little, such as a mapper that aggregates).

With the bare loop it shows what this machine's cores give together (0.5x one bare loop on two
cores that do not slow each other down); with mapper.py, what the mapper alone gives on those
cores, with no harness around it.

usage: at_once.py N FILE... -- COMMAND..."""
import os
import subprocess
import sys
import threading
from typing import IO, List


def shares(files: List[str], n: int) -> List[List[str]]:
    """files cut, in order, into n runs of about the same number of bytes."""
    total = sum(os.path.getsize(f) for f in files)
    runs = [[] for _ in range(n)]  # type: List[List[str]]
    done = 0
    for path in files:
        runs[min(n - 1, done * n // max(total, 1))].append(path)
        done += os.path.getsize(path)
    return [run for run in runs if run]


def read_all(stream: IO[bytes], into: List[bytes]) -> None:
    into.append(stream.read())


def main(argv: List[str]) -> int:
    if "--" not in argv or len(argv) < 4 or not argv[0].isdigit() or int(argv[0]) < 1:
        sys.stderr.write(__doc__.splitlines()[-1] + "\n")
        return 2
    split = argv.index("--")
    files, command = argv[1:split], argv[split + 1:]
    procs, readers, outputs = [], [], []  # type: List[subprocess.Popen], List[threading.Thread], List[List[bytes]]
    for run in shares(files, int(argv[0])):
        cat = subprocess.Popen(["cat"] + run, stdout=subprocess.PIPE)
        copy = subprocess.Popen(command, stdin=cat.stdout, stdout=subprocess.PIPE)
        cat.stdout.close()  # type: ignore[union-attr]
        outputs.append([])
        readers.append(threading.Thread(target=read_all, args=(copy.stdout, outputs[-1])))
        readers[-1].start()
        procs += [copy, cat]
    for reader in readers:
        reader.join()
    failed = max(p.wait() != 0 for p in procs)
    for output in outputs:
        sys.stdout.buffer.write(output[0])
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
