#!/usr/bin/env python3
"""firehose-mr against what people would pick instead: mrjob and Spark local, same job, same tree.

One command (see bench/README.md, "Peers"):

1. installs mrjob and PySpark, each in a virtual environment of its own outside the repository
   (the versions pinned in PEERS below, and nowhere else; a peer that cannot be installed, or
   Spark without `java`, is reported as such in the table);
2. for each --size, generates (or reuses) the seeded tree (bench/generate.py) and runs, interleaved
   with the bare json.loads loop and repeated, the key/time/value job (key type,geo.country,
   hourly bucket of time, exact sum of amount) as: the naive pipeline, the project's pipe,
   run_local.sh -j N, run_local.sh -j N -r 2 -c, mrjob inline and local (with and without its
   combiner) and Spark local[*] with an explicit schema. The first round is untimed and checks
   every answer against the generator's truth, byte for byte; every timed round checks it again;
3. prints, per size, wall time, CPU time (children included) and peak RSS as ratios to the bare
   loop of the same run, and, from the runs at two or more sizes, each variant's fixed cost and cost
   per GB (a straight line through its times) and the size above which Spark local is faster.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import generate  # noqa: E402  (bench/generate.py)
import run  # noqa: E402  (bench/run.py: running, measuring and checking a variant)

# The peers' pinned versions, with their dependencies: the only place they are named. They are
# benchmark dependencies only; the pair, the launchers and the test suite never need them.
# PySpark 3.5 runs on Java 8, 11 and 17 and Python 3.8 to 3.11 (and later).
PEERS = {
    "mrjob": ["mrjob==0.7.4", "PyYAML==6.0.4"],
    "pyspark": ["pyspark==3.5.9", "py4j==0.10.9.9"],
}
PEER_SCRIPTS = ("peer_mrjob.py", "peer_spark.py")  # copied with the pair, like it (run.snapshot_code)
STAMP = "firehose-mr-bench-requirements.txt"  # in a venv: what it was made with
JOB = "ktv"
BARE = "bare json.loads loop"
SPARK = "Spark local[*], explicit schema"


# ---------------------------------------------------------------------------------------
# The peers' virtual environments.
# ---------------------------------------------------------------------------------------

def venv_name(peer: str) -> str:
    return PEERS[peer][0].replace("==", "-")


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def wanted_stamp(peer: str) -> str:
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))  # the same from a venv of it
    return "\n".join(PEERS[peer] + ["# python %s (%s)" % (sys.version.split()[0], base)]) + "\n"


def ensure_venv(peer: str, venvs: Path, install: bool, timeout: float, log) -> Tuple[Optional[Path], str]:
    """The peer's venv (made and installed unless it is there, complete, from the same pins and
    Python): (its python, "") or (None, why it cannot be used)."""
    venv = venvs / venv_name(peer)
    stamp = venv / STAMP
    if stamp.exists() and stamp.read_text() == wanted_stamp(peer) and venv_python(venv).exists():
        return venv_python(venv), ""
    if not install:
        return None, "not installed (--no-install, and no venv in %s)" % venv
    if venv.exists():
        shutil.rmtree(str(venv))
    log.write("bench: installing %s into %s\n" % (" ".join(PEERS[peer]), venv))
    log.flush()
    started = time.monotonic()
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=timeout)
        left = max(1.0, timeout - (time.monotonic() - started))
        subprocess.run([str(venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
                       + PEERS[peer], check=True, capture_output=True, text=True, timeout=left)
    except subprocess.TimeoutExpired:
        shutil.rmtree(str(venv), ignore_errors=True)
        return None, "not installed: %s did not install within %d s" % (" ".join(PEERS[peer]), timeout)
    except subprocess.CalledProcessError as failure:
        shutil.rmtree(str(venv), ignore_errors=True)
        said = (failure.stderr or b"")
        said = said.decode("utf-8", "replace") if isinstance(said, bytes) else said
        last = [line for line in said.splitlines() if line.strip()][-1:] or ["exit status %d" % failure.returncode]
        return None, "not installed: %s failed: %s" % (" ".join(PEERS[peer]), last[0].strip()[:200])
    stamp.write_text(wanted_stamp(peer))
    log.write("bench: installed %s in %.0f s\n" % (venv_name(peer), time.monotonic() - started))
    return venv_python(venv), ""


def java_version() -> Optional[str]:
    if not shutil.which("java"):
        return None
    said = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    return said[0].strip() if said else "java"


# ---------------------------------------------------------------------------------------
# What runs.
# ---------------------------------------------------------------------------------------

class Peer(run.Variant):
    """A variant of bench/run.py's, plus the kinds only this comparison has: the project's
    pipe, run_local.sh with reducers, mrjob and Spark (run with the python of their venv)."""

    def __init__(self, name: str, kind: str, jobs: int = 0, combine: bool = False, reducers: int = 1,
                 python: Optional[Path] = None, runner: str = "") -> None:
        super(Peer, self).__init__(name, "-" if kind == "bare" else JOB, kind, jobs, combine)
        self.reducers, self.python, self.runner = reducers, python, runner

    @property
    def label(self) -> str:
        return self.name  # one job here: the name alone

    def stages(self, data: "run.Dataset", probe_log: Optional[Path]) -> List["run.Stage"]:
        reset_own_peak_rss()  # called just before the stages start (bench/run.py, run_variant)
        env = run.python_env()
        flags = run.JOB_FLAGS[JOB]
        code = data.code
        if self.kind == "pipe":
            return [("cat", ["cat"] + data.files, env),
                    ("mapper.py", [str(code / "mapper.py")] + flags, env),
                    ("sort", ["sort"], dict(env, LC_ALL="C")),
                    ("reducer.py", [str(code / "reducer.py")], env)]
        if self.kind == "run_local":
            argv = [str(code / "run_local.sh"), "-j", str(self.jobs), "-r", str(self.reducers)]
            return [("run_local.sh", argv + (["-c"] if self.combine else []) + [data.root, "--"] + flags, env)]
        if self.kind == "mrjob":
            argv = [str(self.python), str(code / "peer_mrjob.py"), "--no-conf", "-r", self.runner]
            if self.runner == "local":
                argv += ["--num-cores", str(self.jobs)]
            return [("mrjob", argv + (["--combine"] if self.combine else []) + [data.root], env)]
        if self.kind == "spark":
            spark_env = dict(env, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=str(self.python))
            return [("spark", [str(self.python), str(code / "peer_spark.py"), "local[*]", data.root], spark_env)]
        return super(Peer, self).stages(data, None)  # bare, naive: as bench/run.py runs them, without probes


def reset_own_peak_rss() -> None:
    """Make this process's peak RSS its current RSS (Linux: /proc/self/clear_refs, 5). A process
    started from this one inherits its peak (ru_maxrss), so without this every variant would show
    at least the largest this process ever was; with it, at least what it is now (see own_rss)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass


def own_rss_mib() -> Optional[float]:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / run.MIB
    except OSError:
        pass
    return None


def prepare_tree(args: argparse.Namespace, size: int, files: int) -> Dict[str, object]:
    """The tree and its truth, from bench/generate.py run as a process of its own (so that this one
    stays small: see reset_own_peak_rss)."""
    made = subprocess.run([sys.executable, str(BENCH / "generate.py"), "--workdir", str(args.workdir),
                           "--size", str(size), "--files", str(files), "--seed", str(args.seed)],
                          stdout=subprocess.PIPE, check=True)
    return json.loads(made.stdout)


def peer_variants(jobs: int, pythons: Dict[str, Optional[Path]]) -> List[Peer]:
    """Every variant, in the table's order; the ones whose peer is missing are left to the caller."""
    variants = [Peer(BARE, "bare"),
                Peer("naive mapper | sort | reducer", "naive"),
                Peer("mapper.py | sort | reducer.py", "pipe"),
                Peer("run_local.sh -j %d" % jobs, "run_local", jobs),
                Peer("run_local.sh -j %d -r 2 -c" % jobs, "run_local", jobs, combine=True, reducers=2)]
    for runner in ("inline", "local"):
        for combine in (False, True):
            variants.append(Peer("mrjob -r %s%s" % (runner, " --combine" if combine else ""), "mrjob", jobs,
                                 combine, python=pythons.get("mrjob"), runner=runner))
    variants.append(Peer(SPARK, "spark", python=pythons.get("pyspark")))
    return variants


def missing_peer(variant: Peer) -> Optional[str]:
    peer = {"mrjob": "mrjob", "spark": "pyspark"}.get(variant.kind)
    return peer if peer and variant.python is None else None


# ---------------------------------------------------------------------------------------
# The report.
# ---------------------------------------------------------------------------------------

def medians(results: Dict[str, Dict]) -> Dict[str, Dict[str, float]]:
    return {label: {"wall": run.median(entry["wall"]), "cpu": run.median(entry["cpu"]),
                    "maxrss_kib": max(entry["maxrss_kib"])}
            for label, entry in results.items() if entry["wall"]}


def size_table(variants: Sequence[Peer], measured: Dict[str, Dict[str, float]], unavailable: Dict[str, str]) -> str:
    bare = measured[BARE]
    rows = ["| variant | wall s | wall ÷ bare | CPU s | CPU ÷ bare | peak RSS (MiB) | peak RSS ÷ bare |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for v in variants:
        name = v.name.replace("|", "\\|")
        if v.name in unavailable:
            rows.append("| %s | %s | | | | | |" % (name, unavailable[v.name]))
            continue
        m = measured[v.name]
        rows.append("| %s | %.2f | %.2f | %.2f | %.2f | %.1f | %.2f |" % (
            name, m["wall"], m["wall"] / bare["wall"], m["cpu"], m["cpu"] / bare["cpu"],
            m["maxrss_kib"] / run.MIB, m["maxrss_kib"] / bare["maxrss_kib"]))
    return "\n".join(rows)


def straight_line(points: List[Tuple[float, float]]) -> Tuple[float, float]:
    """Least squares (exact through two points): seconds = fixed + per_gb * GB."""
    n = float(len(points))
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    per_gb = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return mean_y - per_gb * mean_x, per_gb


def crossover_gb(variant: Tuple[float, float], spark: Tuple[float, float]) -> Optional[float]:
    """The size where the two lines meet, if Spark's is the flatter one (None: Spark never wins)."""
    (fixed, per_gb), (spark_fixed, spark_per_gb) = variant, spark
    if per_gb <= spark_per_gb:
        return None
    return max(0.0, (spark_fixed - fixed) / (per_gb - spark_per_gb))


def points(runs: List[Dict], label: str, measure: str = "wall") -> List[Tuple[float, float]]:
    """(GB, seconds of wall or CPU time) of one variant in each run."""
    return [(r["size"] / 1e9, r["medians"][label][measure]) for r in runs if label in r["medians"]]


def normalised_points(runs: List[Dict], label: str) -> List[Tuple[float, float]]:
    """(GB, seconds) of one variant in each run, each scaled by how fast the bare loop went that
    run: ratio to that run's bare loop × the bare loop's mean seconds per GB over the runs. The
    bare loop has no fixed cost worth counting, so this takes out the machine's drift between runs."""
    per_gb = sum(r["medians"][BARE]["wall"] / (r["size"] / 1e9) for r in runs) / len(runs)
    return [(r["size"] / 1e9, r["medians"][label]["wall"] / r["medians"][BARE]["wall"] * per_gb * r["size"] / 1e9)
            for r in runs if label in r["medians"]]


def crossover_report(runs: List[Dict], labels: Sequence[str]) -> List[str]:
    """Fixed cost, cost per GB and the crossover with Spark, for each variant run at every size."""
    runs = sorted(runs, key=lambda r: r["size"])
    lines = ["| variant | fixed s | s per GB | Spark local is faster above | same, from ratios to the bare loop "
             "| CPU: fixed s | CPU s per GB | Spark local uses less CPU above |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    spark_ok = len(points(runs, SPARK)) == len(runs)
    spark_lines = [straight_line(p) for p in (points(runs, SPARK), normalised_points(runs, SPARK),
                                              points(runs, SPARK, "cpu"))] if spark_ok else []
    for label in labels:
        if len(points(runs, label)) != len(runs):
            continue
        lines_here = [straight_line(p) for p in (points(runs, label), normalised_points(runs, label),
                                                 points(runs, label, "cpu"))]
        if label in (SPARK, BARE) or not spark_ok:
            crossings = ["–"] * 3
        else:
            crossings = [gb_text(crossover_gb(mine, spark)) for mine, spark in zip(lines_here, spark_lines)]
        lines.append("| %s | %.1f | %.1f | %s | %s | %.1f | %.1f | %s |" % (
            label.replace("|", "\\|"), lines_here[0][0], lines_here[0][1], crossings[0], crossings[1],
            lines_here[2][0], lines_here[2][1], crossings[2]))
    return lines


def gb_text(gb: Optional[float]) -> str:
    if gb is None:
        return "never (Spark's cost per GB is not lower)"
    if gb == 0:
        return "every size"
    return "%.1f GB" % gb if gb >= 1 else "%.0f MB" % (gb * 1000)


def peers_note(pythons: Dict[str, Optional[Path]], unavailable_peers: Dict[str, str], jobs: int) -> str:
    installed = ", ".join("%s (its own venv)" % " ".join(PEERS[p]) for p in PEERS if pythons.get(p))
    missing = "; ".join("%s: %s" % (p, why) for p, why in unavailable_peers.items())
    own = own_rss_mib()
    return "Peers: %s%s; %s; `-j %d`, mrjob `--num-cores %d`.%s" % (
        installed or "none installed", "; " + missing if missing else "", java_version() or "no java on PATH",
        jobs, jobs, " A peak below this harness's own RSS (%.1f MiB) shows as about that." % own if own else "")


# ---------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------

def default_reps(size: int) -> int:
    return 3 if size <= 300 * 10 ** 6 else 1


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/peers.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n")[0] + "\nInstalls the peers (pinned) outside the repository, runs "
        "everything interleaved with the bare loop at each size,\nchecks every answer against the "
        "generator's truth and prints the tables and the crossover with Spark.",
        epilog="examples:\n  bench/peers.py                                 200 MB (3 rounds), then 1 GB (1 round)\n"
               "  bench/peers.py --size 200MB --reps 5\n"
               "  bench/peers.py --size 1MB --files 2 --reps 1     a quick check that everything runs\n")
    parser.add_argument("--size", type=run.parse_size, action="append",
                        help="bytes of JSON (repeatable; default: 200MB and 1GB)")
    parser.add_argument("--files", type=int, help="objects in each tree (default: one per 5 MB)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the generator (default 1)")
    parser.add_argument("--reps", type=int, help="timed rounds at each size (default: 3 up to 300 MB, 1 above)")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                        help="run_local.sh -j and mrjob --num-cores (default: the number of CPUs)")
    parser.add_argument("--workdir", type=Path, default=run.default_workdir(),
                        help="trees, truth and results, outside the repository (default: %s)" % run.default_workdir())
    parser.add_argument("--venvs", type=Path, help="the peers' venvs (default: WORKDIR/venvs)")
    parser.add_argument("--no-install", action="store_true", help="use the peers' venvs if they are there; "
                        "never install (a peer without one is reported as not installed)")
    parser.add_argument("--install-timeout", type=float, default=900,
                        help="seconds for installing each peer (default 900)")
    parser.add_argument("--first-round-timed", action="store_true",
                        help="no untimed first round: every round is timed (each answer is still checked as "
                             "soon as it is written, and a wrong one stops the run before any table)")
    parser.add_argument("--markdown", type=Path, help="also write the report (Markdown) to this file")
    args = parser.parse_args(argv)
    args.size = args.size or [run.parse_size("200MB"), run.parse_size("1GB")]
    if min(args.size) < 1 or (args.reps is not None and args.reps < 1) or (args.files is not None and args.files < 1):
        parser.error("--size, --reps and --files must be positive")
    for name in ("workdir", "venvs"):
        where = getattr(args, name)
        if where is None:
            continue
        where = where.expanduser().resolve()
        if where == run.REPO or run.REPO in where.parents:
            parser.error("--%s must be outside the repository (%s)" % (name, run.REPO))
        setattr(args, name, where)
    args.venvs = args.venvs or args.workdir / "venvs"
    return args


def run_size(args: argparse.Namespace, size: int, pythons: Dict[str, Optional[Path]],
             unavailable_peers: Dict[str, str]) -> Tuple[List[str], Dict]:
    """One size: the tree, every available variant interleaved, the table; and what to keep of it."""
    files = args.files or generate.default_files(size)
    reps = args.reps or default_reps(size)
    data = run.Dataset(prepare_tree(args, size, files))
    variants = peer_variants(args.jobs, pythons)
    unavailable = {v.name: unavailable_peers[missing_peer(v)] for v in variants if missing_peer(v)}
    runnable = [v for v in variants if v.name not in unavailable]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="peers-", dir=str(args.workdir)) as scratch:
        data.code = Path(scratch) / "code"
        digests = run.snapshot_code(data.code)
        for name in PEER_SCRIPTS:
            shutil.copy2(str(BENCH / name), str(data.code / name))
        results = run.run_all(runnable, data, reps, Path(scratch), sys.stderr, 0 if args.first_round_timed else 1)
    load_after = os.getloadavg()
    measured = medians(results)
    note = run.environment_note(data, reps, load_before, load_after)
    if args.first_round_timed:
        note = note.replace("after one untimed round", "(no untimed round: --first-round-timed)")
    lines = ["### Peers, %s MB, %s" % (format(data.bytes / 1e6, ".0f"), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
             "", note + " Code measured: " + digests + ". "
             + peers_note(pythons, unavailable_peers, args.jobs), "", size_table(variants, measured, unavailable)]
    kept = {"size": data.bytes, "files": files, "seed": args.seed, "reps": reps, "medians": measured,
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    return lines, kept


def earlier_runs(results_dir: Path, seed: int, object_bytes: float) -> Dict[int, Dict]:
    """The newest kept peers run at each size, with the same seed and objects of the same size."""
    runs = {}  # type: Dict[int, Dict]
    for path in sorted(results_dir.glob("peers-*.json")):
        kept = json.loads(path.read_text())
        shape = kept["size"] / max(1, kept["files"])
        if kept["seed"] == seed and abs(shape - object_bytes) <= 0.01 * object_bytes:
            runs[kept["size"]] = kept
    return runs


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.venvs.mkdir(parents=True, exist_ok=True)
    pythons, unavailable_peers = {}, {}  # type: Dict[str, Optional[Path]], Dict[str, str]
    for peer in PEERS:
        pythons[peer], why = ensure_venv(peer, args.venvs, not args.no_install, args.install_timeout, sys.stderr)
        if why:
            unavailable_peers[peer] = why
    if pythons.get("pyspark") and not java_version():
        pythons["pyspark"], unavailable_peers["pyspark"] = None, "cannot run: no `java` on PATH"
    results_dir = args.workdir / "results"
    results_dir.mkdir(exist_ok=True)
    lines = []  # type: List[str]
    for size in args.size:
        table_lines, kept = run_size(args, size, pythons, unavailable_peers)
        lines += table_lines + [""]
        (results_dir / ("peers-%d-%dfiles-seed%d.json" % (kept["size"], kept["files"], kept["seed"]))).write_text(
            json.dumps(kept, indent=1) + "\n")
        sys.stdout.write("\n".join(table_lines) + "\n\n")
        sys.stdout.flush()
    first = args.size[0]
    runs = earlier_runs(results_dir, args.seed, first / float(args.files or generate.default_files(first)))
    if len(runs) >= 2:
        ordered = [runs[s] for s in sorted(runs)]
        labels = [v.name for v in peer_variants(args.jobs, pythons)]
        crossing = (["### Cost per GB and the crossover with Spark local", "",
                     "A straight line, wall seconds = fixed + per GB × size, through each variant's medians at "
                     "%s (%s); where two lines meet is the size above which the flatter one is faster. The last "
                     "column fits the same lines to each run's ratios to its own bare loop, times the bare "
                     "loop's mean seconds per GB, which takes out how fast the machine went in each run. The "
                     "last three fit CPU seconds (all processes) instead: what the job costs, whatever else "
                     "the machine does."
                     % (", ".join("%.0f MB" % (r["size"] / 1e6) for r in ordered),
                        ", ".join("measured %s" % r["when"] for r in ordered)), ""]
                    + crossover_report(ordered, labels))
        lines += crossing
        sys.stdout.write("\n".join(crossing) + "\n")
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
