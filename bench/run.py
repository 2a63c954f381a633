#!/usr/bin/env python3
"""firehose-mr benchmark: the pair against the bare json.loads loop and a naive pipeline.

One command does it all (see bench/README.md):

1. generates (or reuses) a seeded Firehose tree of --size bytes outside the repository,
   with the exact expected results of each job (bench/generate.py);
2. runs every variant, interleaved (one round runs each variant once, in a rotated order)
   and repeated --reps times, after one untimed round that also measures every mapper,
   combiner and reducer process on its own (bench/probe.py);
3. checks every output of every round byte for byte against the truth (and stops at the
   first difference), and prints a Markdown table of medians: wall and CPU time (the
   children's rusage), each as a ratio to the bare loop and to the naive pipeline, peak
   RSS, and the bytes the mappers wrote for sort; then the issue's targets, met or not.
"""
import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, IO, List, Optional, Sequence, Tuple

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
import generate  # noqa: E402  (bench/generate.py, next to this file)

JOB_FLAGS = {
    "census": [],
    "ktv": ["--key", "type,geo.country", "--time", "time", "--value", "amount"],
    "words": ["--words", "text"],
}
JOB_TITLES = {"census": "default (census)", "ktv": "--key type,geo.country --time time --value amount",
              "words": "--words text"}
RUN_LOCAL_MODES = [(1, False, True), (1, True, True), (2, False, True), (2, True, True),
                   (2, False, False)]  # (-j, -c, the fork server)
MIB = 1024.0
BARE_TWICE = "bare json.loads loop, 2 at once (half the bytes each)"
MAPPER_TWICE = "mapper.py, 2 at once (half the bytes each)"

Stage = Tuple[str, List[str], Dict[str, str]]  # role, argv, environment


# ---------------------------------------------------------------------------------------
# Variants: what runs, as a pipeline of processes started here (or one run_local.sh).
# ---------------------------------------------------------------------------------------

class Variant:
    """One benchmarked command for one job. probe_log: wrap the mapper/combiner/reducer
    processes in bench/probe.py, writing to that log (the untimed round)."""

    def __init__(self, name: str, job: str, kind: str, jobs: int = 0, combine: bool = False,
                 fork_server: bool = True) -> None:
        self.name, self.job, self.kind, self.jobs, self.combine = name, job, kind, jobs, combine
        self.fork_server = fork_server

    @property
    def label(self) -> str:
        return self.name if self.job == "-" else "%s %s" % (self.job, self.name)

    def stages(self, data: "Dataset", probe_log: Optional[Path]) -> List[Stage]:
        py = python_env()

        def probed(role: str, argv: List[str]) -> List[str]:
            return argv if probe_log is None else [sys.executable, str(BENCH / "probe.py"), str(probe_log), role, "--"] + argv

        cat = ("cat", ["cat"] + data.files, py)
        if self.kind == "bare":
            return [cat, ("bare loop", [sys.executable, str(BENCH / "bare_loop.py")], py)]
        if self.kind == "bare2":
            return [("bare loops", at_once(data, [sys.executable, str(BENCH / "bare_loop.py")]), py)]
        if self.kind == "naive":
            sort_env = dict(py, LC_ALL="C")
            return [cat,
                    ("naive mapper", probed("mapper", [sys.executable, str(BENCH / "naive_mapper.py"), self.job]), py),
                    ("sort", ["sort"], sort_env),
                    ("naive reducer", [sys.executable, str(BENCH / "naive_reducer.py"), self.job], py)]
        if self.kind == "mapper":
            return [cat, ("mapper.py", probed("mapper", [str(data.code / "mapper.py")] + JOB_FLAGS[self.job]), py)]
        if self.kind == "mapper2":
            return [("mapper.py copies", at_once(data, [str(data.code / "mapper.py")] + JOB_FLAGS[self.job]), py)]
        if self.kind == "run_local":
            argv = [str(data.code / "run_local.sh"), "-j", str(self.jobs)] + (["-c"] if self.combine else []) + (
                [] if self.fork_server else ["--no-fork-server"])
            if probe_log is not None:
                argv += ["--mapper", hadoop_quote(probed("mapper", [str(data.code / "mapper.py")])),
                         "--reducer", hadoop_quote(probed("reducer", [str(data.code / "reducer.py")]))]
                if self.combine:
                    argv += ["--combiner", hadoop_quote(probed("combiner", [str(data.code / "reducer.py"), "--combine"]))]
            return [("run_local.sh", argv + [data.root, "--"] + JOB_FLAGS[self.job], py)]
        raise ValueError(self.kind)


def at_once(data: "Dataset", command: List[str]) -> List[str]:
    """Two copies of command at once, each on about half of the bytes (bench/at_once.py)."""
    return [sys.executable, str(BENCH / "at_once.py"), "2"] + data.files + ["--"] + command


def all_variants(jobs: Sequence[str]) -> List[Variant]:
    variants = [Variant("bare json.loads loop", "-", "bare"), Variant(BARE_TWICE, "-", "bare2")]
    for job in jobs:
        variants.append(Variant("naive mapper | sort | reducer", job, "naive"))
        variants.append(Variant("mapper.py alone", job, "mapper"))
        variants.append(Variant(MAPPER_TWICE, job, "mapper2"))
        for n, combine, fork_server in RUN_LOCAL_MODES:
            name = "run_local.sh -j %d%s%s" % (n, " -c" if combine else "", "" if fork_server else " --no-fork-server")
            variants.append(Variant(name, job, "run_local", n, combine, fork_server))
    return variants


def hadoop_quote(argv: List[str]) -> str:
    """A command line for run_local.sh --mapper (split like Hadoop: spaces, quotes group)."""
    for arg in argv:
        if '"' in arg or "'" in arg:
            raise SystemExit("bench: cannot pass %r through --mapper (a quote in a path)" % arg)
    return " ".join('"%s"' % a if (" " in a or not a) else a for a in argv)


def python_env() -> Dict[str, str]:
    """A user's shell: no Hadoop task variables, a UTF-8 locale."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("mapreduce_", "mapred_", "map_input", "LC_", "HADOOP_")) and k != "LANG"}
    env["LC_ALL"] = "C.UTF-8"
    # `#!/usr/bin/env python3` (mapper.py, reducer.py, run_local.sh's helpers) finds this very
    # interpreter first, as the bare loop and the naive pair use it (not a slower shim or wrapper).
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


# ---------------------------------------------------------------------------------------
# Running and measuring.
# ---------------------------------------------------------------------------------------

class Dataset:
    def __init__(self, manifest: Dict[str, object]) -> None:
        self.manifest = manifest
        self.root = str(manifest["data"])
        self.truth = Path(str(manifest["truth"]))
        self.bytes = int(manifest["bytes"])  # type: ignore[arg-type]
        self.files = sorted(str(p) for p in Path(self.root).rglob("*") if p.is_file())
        self.code = REPO  # where mapper.py, reducer.py and run_local.sh are run from (see snapshot_code)


CODE = ("mapper.py", "reducer.py", "run_local.sh")
PACKAGE = "firehose_mr"  # the package run_local.sh runs


def snapshot_code(target: Path) -> str:
    """Copies of the pair, run_local.sh and its package, so that every round measures the same
    code even when the working tree changes meanwhile; returns their short SHA-256s for the
    report (the package's over its .py files, in name order)."""
    target.mkdir()
    digests = []
    for name in CODE:
        shutil.copy2(str(REPO / name), str(target / name))
        digests.append("%s %s" % (name, hashlib.sha256((target / name).read_bytes()).hexdigest()[:12]))
    shutil.copytree(str(REPO / PACKAGE), str(target / PACKAGE), ignore=shutil.ignore_patterns("__pycache__"))
    package = hashlib.sha256()
    for path in sorted((target / PACKAGE).rglob("*.py")):
        package.update(path.relative_to(target).as_posix().encode() + b"\0" + path.read_bytes())
    digests.append("%s/ %s" % (PACKAGE, package.hexdigest()[:12]))
    return ", ".join(digests)


class Measurement:
    def __init__(self, wall: float, cpu: float, maxrss_kib: int, per_process: List[Dict[str, object]]) -> None:
        self.wall, self.cpu, self.maxrss_kib, self.per_process = wall, cpu, maxrss_kib, per_process


class RunFailed(Exception):
    pass


def exit_code(status: int) -> int:
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def run_stages(stages: List[Stage], out: IO[bytes], err: IO[bytes]) -> Measurement:
    """Start the stages as one pipeline (stdout of each into the next), wait for each
    with wait4 and add up their rusage."""
    procs = []  # type: List[subprocess.Popen]
    started = time.perf_counter()
    previous = None  # type: Optional[IO[bytes]]
    for index, (role, argv, env) in enumerate(stages):
        last = index == len(stages) - 1
        proc = subprocess.Popen(argv, stdin=previous if previous is not None else subprocess.DEVNULL,
                                stdout=out if last else subprocess.PIPE, stderr=err, env=env)
        if previous is not None:
            previous.close()
        previous = proc.stdout
        procs.append(proc)
    per_process = []
    for (role, argv, _), proc in zip(stages, procs):
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = exit_code(status)
        per_process.append({"role": role, "status": proc.returncode, "maxrss_kib": usage.ru_maxrss,
                            "cpu_s": usage.ru_utime + usage.ru_stime})
    wall = time.perf_counter() - started
    failed = [p for p in per_process if p["status"] != 0]
    if failed:
        raise RunFailed("%s exited with status %s" % (failed[0]["role"], failed[0]["status"]))
    return Measurement(wall, sum(p["cpu_s"] for p in per_process),  # type: ignore[misc]
                       max(p["maxrss_kib"] for p in per_process), per_process)  # type: ignore[type-var]


def run_variant(variant: Variant, data: Dataset, scratch: Path, probe_log: Optional[Path]) -> Measurement:
    """Run once; check the output against the truth (the bare loop has none)."""
    out_path, err_path = scratch / "out", scratch / "err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        try:
            measured = run_stages(variant.stages(data, probe_log), out, err)
        except RunFailed as failure:
            tail = err_path.read_bytes()[-3000:].decode("utf-8", "replace")
            raise SystemExit("bench: FAILED: %s: %s\n%s" % (variant.label, failure, tail))
    if variant.kind in ("mapper", "mapper2"):  # intermediate lines: the check (untimed) reduces them first
        reduced_path = scratch / "reduced"
        with out_path.open("rb") as source, reduced_path.open("wb") as reduced:
            subprocess.run([str(data.code / "reducer.py")], stdin=source, stdout=reduced, env=python_env(), check=True)
        out_path = reduced_path
    if variant.job != "-":
        check_output(variant, out_path, data.truth / (variant.job + ".tsv"))
    return measured


def check_output(variant: Variant, got_path: Path, truth_path: Path) -> None:
    got, want = got_path.read_bytes(), truth_path.read_bytes()
    if got == want:
        return
    got_lines, want_lines = got.split(b"\n"), want.split(b"\n")
    first = next((i for i, (a, b) in enumerate(zip(got_lines, want_lines)) if a != b),
                 min(len(got_lines), len(want_lines)))
    show = lambda lines: lines[first].decode("utf-8", "replace") if first < len(lines) else "(end of output)"  # noqa: E731
    raise SystemExit("bench: WRONG OUTPUT from %s: %d lines, the truth has %d; first difference at line %d:\n"
                     "  got:  %r\n  want: %r\n(output kept in %s, truth in %s)"
                     % (variant.label, len(got_lines) - 1, len(want_lines) - 1, first + 1,
                        show(got_lines), show(want_lines), got_path, truth_path))


def summarize_probe(log: Path) -> Dict[str, object]:
    """Per-role peaks and the bytes mappers (and combiners) wrote."""
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    summary = {}  # type: Dict[str, object]
    for role in ("mapper", "combiner", "reducer"):
        mine = [r for r in records if r["role"] == role]
        if mine:
            summary[role] = {"processes": len(mine), "maxrss_kib": max(r["maxrss_kib"] for r in mine),
                             "bytes_out": sum(r["bytes_out"] for r in mine),
                             "cpu_s": sum(r["cpu_s"] for r in mine)}
    return summary


def run_all(variants: List[Variant], data: Dataset, reps: int, scratch: Path, log: IO[str],
            untimed: int = 1) -> Dict[str, Dict]:
    """untimed=1: a first round, untimed, that probes every process; untimed=0: every round timed."""
    results = {v.label: {"wall": [], "cpu": [], "maxrss_kib": [], "processes": None, "probe": {}} for v in variants}
    for round_index in range(1 - untimed, reps + 1):
        probing = round_index == 0
        shift = round_index % len(variants)
        order = variants[shift:] + variants[:shift]  # interleaved, rotated each round
        log.write("bench: round %d/%d%s\n" % (round_index, reps, " (untimed: probes every process, checks outputs)"
                                               if probing else ""))
        for variant in order:
            probe_log = scratch / ("probe-%d.jsonl" % variants.index(variant)) if probing else None
            if probe_log is not None and probe_log.exists():
                probe_log.unlink()
            measured = run_variant(variant, data, scratch, probe_log)
            entry = results[variant.label]
            if probing:
                entry["probe"] = summarize_probe(probe_log)  # type: ignore[arg-type]
                entry["probe_processes"] = measured.per_process
            else:
                entry["wall"].append(measured.wall)
                entry["cpu"].append(measured.cpu)
                entry["maxrss_kib"].append(measured.maxrss_kib)
                entry["processes"] = measured.per_process
            log.write("  %-55s %7.2f s wall %7.2f s CPU  %6.1f MiB  output ok\n"
                      % (variant.label, measured.wall, measured.cpu, measured.maxrss_kib / MIB))
            log.flush()
    return results


# ---------------------------------------------------------------------------------------
# The report.
# ---------------------------------------------------------------------------------------

def median(values: List[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: Optional[float]) -> str:
    return "%.2f" % (a / b) if b else "–"


def mapper_bytes(entry: Dict) -> Optional[int]:
    mapper = entry["probe"].get("mapper")
    return mapper["bytes_out"] if mapper else None


def pair_peak_kib(entry: Dict) -> Optional[int]:
    """Peak RSS of any mapper, combiner or reducer process (naive ones included)."""
    peaks = [v["maxrss_kib"] for k, v in entry["probe"].items()]
    peaks += [p["maxrss_kib"] for p in entry.get("probe_processes", []) if p["role"] in ("naive reducer", "reducer")]
    return max(peaks) if peaks else None


def table(variants: List[Variant], results: Dict[str, Dict], data: Dataset) -> str:
    bare = results[variants[0].label]
    bare_wall, bare_cpu = median(bare["wall"]), median(bare["cpu"])
    rows = ["| job | variant | wall s | wall ÷ bare | wall ÷ naive | CPU s | CPU ÷ bare | CPU ÷ naive "
            "| peak RSS, largest process (MiB) | peak RSS, mapper/reducer (MiB) | mapper → sort bytes | % of input |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for v in variants:
        entry = results[v.label]
        wall, cpu = median(entry["wall"]), median(entry["cpu"])
        naive = results.get("%s naive mapper | sort | reducer" % v.job)
        naive_wall = median(naive["wall"]) if naive else None
        naive_cpu = median(naive["cpu"]) if naive else None
        sent = mapper_bytes(entry)
        peak = pair_peak_kib(entry)
        rows.append("| %s | %s | %.2f | %s | %s | %.2f | %s | %s | %.1f | %s | %s | %s |" % (
            "—" if v.job == "-" else v.job, v.name.replace("|", "\\|"), wall, ratio(wall, bare_wall),
            ratio(wall, naive_wall), cpu, ratio(cpu, bare_cpu), ratio(cpu, naive_cpu),
            max(entry["maxrss_kib"]) / MIB, "–" if peak is None else "%.1f" % (peak / MIB),
            "–" if sent is None else "{:,}".format(sent),
            "–" if sent is None else "%.3f" % (100.0 * sent / data.bytes)))
    return "\n".join(rows)


def targets(variants: List[Variant], results: Dict[str, Dict], data: Dataset) -> List[str]:
    """The issue's targets, each with the measured number and met / NOT met."""
    bare_wall = median(results[variants[0].label]["wall"])
    twice = results.get(BARE_TWICE)
    twice_wall = median(twice["wall"]) if twice else None
    lines = []
    if twice_wall:
        lines.append("- this machine's two cores (not a target): the bare loop split over 2 processes at once, "
                     "wall ÷ one bare loop: %.2fx (0.5x if the cores did not slow each other down)"
                     % (twice_wall / bare_wall))

    def check(what: str, value: float, limit: float, unit: str = "x") -> None:
        lines.append("- %s: %.3g%s (target ≤ %g%s): %s" % (what, value, unit, limit, unit,
                                                          "met" if value <= limit else "NOT met"))
    for v in variants:
        entry = results[v.label]
        wall = median(entry["wall"])
        naive = results.get("%s naive mapper | sort | reducer" % v.job)
        mappers_twice = results.get("%s %s" % (v.job, MAPPER_TWICE))
        if v.kind == "mapper" and v.job == "ktv":
            check("mapper.py, key/time/value job, wall ÷ bare loop", wall / bare_wall, 1.2)
        if v.kind == "mapper2" and twice_wall:
            lines.append("- %s ÷ the bare loop split over 2 processes (not a target): %.2fx (the mapper's "
                         "own cost on both cores at once)" % (v.label, wall / twice_wall))
        if v.kind == "run_local" and v.jobs == 2 and v.fork_server:
            check("%s, wall ÷ bare loop" % v.label, wall / bare_wall, 0.65)
            if twice_wall:
                lines.append("  - the same ÷ the bare loop split over 2 processes (not a target): %.2fx"
                             % (wall / twice_wall))
            if mappers_twice:
                lines.append("  - the same ÷ mapper.py split over 2 processes (not a target): %.2fx (what "
                             "run_local.sh adds: tasks, sort, reducer)" % (wall / median(mappers_twice["wall"])))
            if naive:
                check("%s, wall ÷ naive pipeline" % v.label, wall / median(naive["wall"]), 0.4)
        if v.kind == "run_local" and v.job == "ktv" and not v.combine and v.jobs == 2 and v.fork_server:
            sent = mapper_bytes(entry)
            if sent is not None:
                check("mapper → sort bytes, key/time/value job (%d groups), %% of input"
                      % int(data.manifest["ktv_groups"]), 100.0 * sent / data.bytes, 1.0, " %")  # type: ignore
    pair_peaks = [pair_peak_kib(results[v.label]) for v in variants if v.kind in ("mapper", "run_local")]
    pair_peaks = [p for p in pair_peaks if p is not None]
    if pair_peaks:
        check("peak RSS of any mapper.py / reducer.py process", max(pair_peaks) / MIB, 64, " MiB")
    return lines


def rss_growth(results: Dict[str, Dict], other: Dict[str, object], variants: List[Variant]) -> List[str]:
    """Peak RSS of the pair's processes here against a run at another size."""
    lines = []
    for v in variants:
        if v.kind not in ("mapper", "run_local"):
            continue
        here, there = pair_peak_kib(results[v.label]), other.get(v.label)
        if here and there:
            growth = 100.0 * (here - there) / there  # type: ignore[operator]
            lines.append("- %s: %.1f → %.1f MiB (%+.1f %%, target < 10 %%): %s" % (
                v.label, there / MIB, here / MIB, growth, "met" if growth < 10 else "NOT met"))  # type: ignore
    return lines


def code_version() -> str:
    """The commit of the code measured (and whether the pair or run_local.sh had changes on top)."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "mapper.py", "reducer.py",
                                  "run_local.sh"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "code version unknown"
    return "commit %s%s" % (head, " with uncommitted changes to the pair or run_local.sh" if changed else "")


def interpreter() -> str:
    return "Python %s%s" % (platform.python_version(), " (a venv)" if sys.prefix != sys.base_prefix else "")


def environment_note(data: Dataset, reps: int, load_before: Tuple[float, ...], load_after: Tuple[float, ...]) -> str:
    sort_version = subprocess.run(["sort", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return ("%s bytes (%s records, %s files, seed %s, %d (hour, type, country) groups, %d distinct words); "
            "median of %d interleaved rounds after one untimed round; %d CPUs; load average %.2f before, "
            "%.2f after; %s, %s; %s."
            % ("{:,}".format(data.bytes), "{:,}".format(data.manifest["records"]), data.manifest["files"],
               data.manifest["seed"], data.manifest["ktv_groups"], data.manifest["words"], reps,
               os.cpu_count() or 0, load_before[0], load_after[0], interpreter(), sort_version, code_version()))


# ---------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------

def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgG]?)[bB]?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError("a size like 200MB, 1GB or 1500000")
    scale = {"": 1, "k": 10 ** 3, "m": 10 ** 6, "g": 10 ** 9}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def default_workdir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "firehose-mr-bench"


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n")[0] + "\nGenerates a seeded Firehose tree (reused when "
        "already there), runs every variant interleaved and repeated,\nchecks each output against "
        "the generator's truth and prints a Markdown table.",
        epilog="examples:\n  bench/run.py                       200 MB, 3 rounds\n"
               "  bench/run.py --size 1GB\n"
               "  bench/run.py --size 1MB --files 4 --reps 1    a quick check that everything runs\n"
               "  bench/run.py --job ktv --reps 5\n")
    parser.add_argument("--size", type=parse_size, default=parse_size("200MB"),
                        help="bytes of JSON to generate: 200MB (default), 1GB, ... (MB = 10^6 bytes)")
    parser.add_argument("--files", type=int, help="Firehose objects in the tree (default: one per 5 MB, "
                        "Firehose's default S3 buffer size: 40 for 200MB, 200 for 1GB)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the generator (default 1)")
    parser.add_argument("--reps", type=int, default=3, help="timed rounds; the table shows medians (default 3)")
    parser.add_argument("--job", action="append", choices=list(JOB_FLAGS),
                        help="benchmark only this job (repeatable; default: census, ktv and words)")
    parser.add_argument("--workdir", type=Path, default=default_workdir(),
                        help="where the tree, the truth and the results go; outside the repository "
                             "(default: %s)" % default_workdir())
    parser.add_argument("--markdown", type=Path, help="also write the report (Markdown) to this file")
    args = parser.parse_args(argv)
    if args.files is None:
        args.files = generate.default_files(args.size)
    if args.reps < 1 or args.files < 1 or args.size < 1:
        parser.error("--reps, --files and --size must be positive")
    workdir = args.workdir.expanduser().resolve()
    if workdir == REPO or REPO in workdir.parents:
        parser.error("--workdir must be outside the repository (%s): data never goes into it" % REPO)
    args.workdir = workdir
    return args


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = Dataset(generate.prepare(args.workdir, args.size, args.files, args.seed))
    variants = all_variants(args.job or list(JOB_FLAGS))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="run-", dir=str(args.workdir)) as scratch:
        data.code = Path(scratch) / "code"
        digests = snapshot_code(data.code)
        results = run_all(variants, data, args.reps, Path(scratch), sys.stderr)
    load_after = os.getloadavg()
    lines = ["### %s MB, %s" % (format(data.bytes / 1e6, ".0f"), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
             "", environment_note(data, args.reps, load_before, load_after) + " Code measured: " + digests + ".", "",
             table(variants, results, data), "", "Targets:", ""] + targets(variants, results, data)
    results_dir = args.workdir / "results"
    results_dir.mkdir(exist_ok=True)
    peaks = {v.label: pair_peak_kib(results[v.label]) for v in variants}
    for other in sorted(results_dir.glob("*.json")):
        previous = json.loads(other.read_text())
        object_size = previous.get("size", 0) / max(1, previous.get("files", 0))
        same_objects = abs(object_size - data.bytes / args.files) <= 0.01 * object_size  # the same shape
        if previous.get("size") != data.bytes and previous.get("seed") == args.seed and same_objects:
            growth = rss_growth(results, previous.get("pair_peak_kib", {}), variants)
            if growth:
                lines += ["", "Peak RSS of the pair's processes against the run at %s bytes:" % "{:,}".format(
                    previous["size"]), ""] + growth
    report = "\n".join(lines) + "\n"
    (results_dir / ("%d-%dfiles-seed%d.json" % (data.bytes, args.files, args.seed))).write_text(json.dumps(
        {"size": data.bytes, "files": args.files, "seed": args.seed, "reps": args.reps, "results": results,
         "pair_peak_kib": peaks},
        indent=1) + "\n")
    sys.stdout.write(report)
    if args.markdown:
        args.markdown.write_text(report)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
