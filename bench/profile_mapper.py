#!/usr/bin/env python3
"""Where does a record's time go in mapper.py? A stage-by-stage breakdown, and cProfile.

    bench/profile_mapper.py FILE... [--flags "--key type,geo.country --time time --value amount"]

Reads the files into memory once, then times loops over the same bytes that each do one
more stage of the mapper's work, with mapper.py's own functions (imported, not copied):

    lines       cutting Hadoop lines from a bytes stream (in batches, a block at a time),
                and their UTF-8 decoding
    + json      the JSON scan of each line (mapper.py's scanner: exact decimals)
    + key       the group key: the --time bucket (ISO 8601, cached per UTC minute), --key fields
    + value     the --value number and the exact sum/min/max in the group's totals
    full run    mapper.run(), as the command does it (output included)

and, for comparison, the bare `for l in sys.stdin: json.loads(l)` loop on the same bytes.
Each loop is timed --repeat times; the minimum is shown, in seconds and microseconds a record.
Then cProfile of mapper.run() over the same bytes, top functions by own time.
"""
import argparse
import cProfile
import decimal
import io
import json
import pstats
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, List

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.dont_write_bytecode = True  # no __pycache__ in the repository
import mapper  # noqa: E402  (the project's mapper.py, as a module)


def stage_loops(job: "mapper.Job") -> List:
    """(name, function of the input bytes) for each cumulative stage."""
    Counters = mapper.Counters

    def lines_of(data: bytes):
        return mapper.hadoop_lines(io.BufferedReader(io.BytesIO(data)))

    def records_of(data: bytes):
        return mapper.firehose_records(lines_of(data), Counters())

    def bare(data: bytes) -> None:
        for line in io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"):
            json.loads(line)

    def lines(data: bytes) -> None:
        for batch in lines_of(data):
            for line in batch:
                line.decode()

    def scan(data: bytes) -> None:
        for _ in records_of(data):
            pass

    def keys(data: bytes) -> None:
        key_of = job.key
        for record in records_of(data):
            key_of(record)

    def values(data: bytes) -> None:
        groups = mapper.Groups(io.BytesIO(), with_values=True)
        mapper.aggregate_values(job, records_of(data), groups, Counters())

    def full(data: bytes) -> None:
        mapper.run(job, io.BufferedReader(io.BytesIO(data)), io.BytesIO(), Counters())

    loops = [("bare json.loads loop (for comparison)", bare), ("lines (binary, cut like LineReader; UTF-8 decode)", lines),
             ("+ json scan (Decimal floats)", scan), ("+ key (time bucket and key fields)", keys)]
    if job.value is not None and job.words is None:
        loops.append(("+ value, exact sum/min/max in the group's totals", values))
    loops.append(("full mapper.run()", full))
    return loops


def best_of(function: Callable[[bytes], None], data: bytes, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        function(data)
        best = min(best, time.process_time() - started)
    return best


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--flags", default="--key type,geo.country --time time --value amount",
                        help="mapper.py job flags (default: the key/time/value job)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--top", type=int, default=15, help="cProfile rows to show")
    args = parser.parse_args(argv)
    data = b"".join(path.read_bytes() for path in args.files)
    records = data.count(b"\n")
    job = mapper.Job(mapper.parse_args(shlex.split(args.flags)), {})
    decimal.setcontext(mapper.EXACT)
    print("%d bytes, %d lines, mapper.py %s; CPU seconds (best of %d)\n" % (len(data), records, args.flags, args.repeat))
    print("| stage | CPU s | µs / record | this stage, µs / record |")
    print("| --- | ---: | ---: | ---: |")
    previous = None
    for name, loop in stage_loops(job):
        seconds = best_of(loop, data, args.repeat)
        per = 1e6 * seconds / records
        step = "" if previous is None or name.startswith(("full", "bare")) else "%+.2f" % (per - previous)
        print("| %s | %.2f | %.2f | %s |" % (name, seconds, per, step))
        if not name.startswith(("full", "bare")):
            previous = per
        sys.stdout.flush()
    profile = cProfile.Profile()
    profile.enable()
    mapper.run(job, io.BufferedReader(io.BytesIO(data)), io.BytesIO(), mapper.Counters())
    profile.disable()
    print("\ncProfile of mapper.run() (own time, top %d):\n" % args.top)
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
