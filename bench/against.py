#!/usr/bin/env python3
"""run_local.sh of this checkout against another revision's, measured in the same run.

    bench/against.py --rev REV [--size 200MB] [--reps 5] [--workdir DIR]

Each round runs, in a rotated order, both sides of every case:

- `start-up`: the default job on sample_data/ (a job that is mostly starting up);
- `-j 2, 5 MiB objects` and `-j 2, 1 MiB objects`: the census job with `-j 2` on a generated
  Firehose tree of --size bytes (bench/generate.py), in Firehose's default 5 MiB objects and in
  1 MiB ones, each with the fork server and with --no-fork-server.

Every output is compared with the first one of its case (byte for byte), then a Markdown table
shows the median wall time of each, the ratio of this checkout to REV, and, for each side, the
ratio of the fork server's time to --no-fork-server's. REV is checked out with `git archive`
into a temporary folder outside the repository."""
import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
import generate  # noqa: E402  (bench/generate.py, next to this file)
from run import default_workdir, parse_size  # noqa: E402

Case = Tuple[str, List[str]]  # a name, and the arguments of run_local.sh


def checkout(rev: str, target: Path) -> Path:
    """The files of revision REV of this repository, in target."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True,
                             stdout=subprocess.PIPE).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(str(target))
    return target


def cases(workdir: Path, size: int) -> List[Case]:
    """The start-up case, then the -j 2 cases on the trees of 5 MiB and of 1 MiB objects."""
    found = [("start-up (default job on sample_data)", [])]  # type: List[Case]
    for mib in (5, 1):
        manifest = generate.prepare(workdir, size, max(1, size // (mib << 20)), 1)
        tree = str(manifest["data"])
        found.append(("-j 2, %d MiB objects" % mib, ["-j", "2", tree]))
        found.append(("-j 2, %d MiB objects, --no-fork-server" % mib, ["-j", "2", "--no-fork-server", tree]))
    return found


def timed(script: Path, args: List[str]) -> Tuple[float, bytes]:
    """Wall time and output of one run of script (run from its own folder)."""
    start = time.monotonic()
    done = subprocess.run([str(script)] + args, cwd=str(script.parent), stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL)
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit("bench: %s %s failed (exit status %d)" % (script, " ".join(args), done.returncode))
    return elapsed, done.stdout


def measure(sides: Dict[str, Path], runs: List[Case], reps: int) -> Dict[Tuple[str, str], List[float]]:
    """reps rounds of every (side, case), in an order rotated each round; outputs checked."""
    pairs = [(side, case) for case in runs for side in sides]
    times = {(side, name): [] for side, (name, _) in pairs}  # type: Dict[Tuple[str, str], List[float]]
    first = {}  # type: Dict[str, bytes]
    for round_number in range(reps + 1):  # round 0 warms caches and is not counted
        shift = round_number % len(pairs)
        for side, (name, args) in pairs[shift:] + pairs[:shift]:
            elapsed, output = timed(sides[side] / "run_local.sh", args)
            if first.setdefault(name, output) != output:
                raise SystemExit("bench: %s gave another output than the first run of %r" % (side, name))
            if round_number:
                times[(side, name)].append(elapsed)
        sys.stderr.write("bench: round %d of %d done\n" % (round_number, reps))
    return times


def report(times: Dict[Tuple[str, str], List[float]], runs: List[Case], rev: str) -> str:
    med = {key: statistics.median(values) for key, values in times.items()}
    lines = ["| case | %s (s) | this checkout (s) | this ÷ %s |" % (rev, rev), "| --- | ---: | ---: | ---: |"]
    for name, _ in runs:
        old, new = med[("old", name)], med[("new", name)]
        lines.append("| %s | %.3f | %.3f | %.2fx |" % (name, old, new, new / old))
    lines += ["", "| fork server ÷ --no-fork-server | %s | this checkout |" % rev, "| --- | ---: | ---: |"]
    for mib in (5, 1):
        name = "-j 2, %d MiB objects" % mib
        cells = ["%.2fx" % (med[(side, name)] / med[(side, name + ", --no-fork-server")]) for side in ("old", "new")]
        lines.append("| %d MiB objects | %s |" % (mib, " | ".join(cells)))
    return "\n".join(lines) + "\n"


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", required=True, help="the revision to compare with (e.g. a commit)")
    parser.add_argument("--size", type=parse_size, default=parse_size("200MB"), help="bytes of each tree")
    parser.add_argument("--reps", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--workdir", type=Path, default=default_workdir(), help="where the trees go")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="bench-against-"))
    try:
        sides = {"old": checkout(args.rev, scratch / "old"), "new": REPO}
        runs = cases(args.workdir, args.size)
        sys.stdout.write(report(measure(sides, runs, args.reps), runs, args.rev))
    finally:
        shutil.rmtree(str(scratch), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
