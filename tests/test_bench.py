"""bench/: the benchmark command in a tiny mode (1 MB, 2 files, 1 round), its generator's truth
checked against an independent computation, and its output check shown to fail on a wrong result.
No timing assertions: only that every variant runs, is reported, and gives the truth."""
import json
import os
import re
import subprocess
import sys
from collections import Counter
from decimal import Context, Decimal
from pathlib import Path

import pytest

from conftest import REPO, clean_env

BENCH = REPO / "bench"
TINY = ["--size", "1MB", "--files", "2", "--reps", "1", "--seed", "7"]
JOBS = ("census", "ktv", "words")
VARIANTS = ["bare json.loads loop", "bare json.loads loop, 2 at once (half the bytes each)"] + [
    "%s %s" % (job, name) for job in JOBS for name in (
    "naive mapper | sort | reducer", "mapper.py alone", "mapper.py, 2 at once (half the bytes each)",
    "run_local.sh -j 1", "run_local.sh -j 1 -c", "run_local.sh -j 2", "run_local.sh -j 2 -c",
    "run_local.sh -j 2 --no-fork-server")]


def bench(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """bench/run.py as a user runs it (with this interpreter, which it puts first on PATH)."""
    result = subprocess.run([sys.executable, str(BENCH / "run.py"), "--workdir", str(workdir), *args],
                            cwd=str(REPO), env=clean_env(), capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def table_rows(report: str):
    """{"job variant": [cells]} of the Markdown table in the report."""
    rows = {}
    for line in report.splitlines():
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) == 12 and cells[0] not in ("job", "---"):
            rows[cells[1] if cells[0] == "—" else "%s %s" % (cells[0], cells[1])] = cells
    return rows


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bench")
    return workdir, bench(workdir, *TINY)


def test_help_documents_the_options():
    result = subprocess.run([sys.executable, str(BENCH / "run.py"), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for option in ("--size", "--files", "--seed", "--reps", "--job", "--workdir", "--markdown"):
        assert option in result.stdout


def test_every_variant_runs_gives_the_truth_and_is_reported(tiny_run):
    workdir, result = tiny_run
    checked = re.findall(r"^  (.+?)\s+[0-9.]+ s wall .* output ok$", result.stderr, re.M)
    assert Counter(checked) == Counter({v: 2 for v in VARIANTS})  # the untimed round and one timed round
    rows = table_rows(result.stdout)
    assert sorted(rows) == sorted(VARIANTS)
    for label, cells in rows.items():
        assert float(cells[2]) > 0 and float(cells[5]) >= 0 and float(cells[8]) > 0, cells
    for job in JOBS:  # the mappers' bytes were counted, and the naive mapper writes more than mapper.py
        naive = int(rows["%s naive mapper | sort | reducer" % job][10].replace(",", ""))
        pair = int(rows["%s run_local.sh -j 2" % job][10].replace(",", ""))
        assert 0 < pair < naive
    assert "Targets:" in result.stdout and "peak RSS" in result.stdout
    assert "the bare loop split over 2 processes at once, wall ÷ one bare loop" in result.stdout
    assert "ktv run_local.sh -j 2, wall ÷ bare loop" in result.stdout
    assert "the same ÷ mapper.py split over 2 processes (not a target)" in result.stdout
    results = list((workdir / "results").glob("*.json"))
    assert len(results) == 1 and json.loads(results[0].read_text())["reps"] == 1


def test_the_generated_tree_looks_like_firehose_and_stays_outside_the_repository(tiny_run):
    workdir, _ = tiny_run
    manifest = json.loads(next(workdir.glob("firehose-*/manifest.json")).read_text())
    files = sorted(p for p in Path(manifest["data"]).rglob("*") if p.is_file())
    assert len(files) == 2
    for path in files:
        relative = path.relative_to(manifest["data"]).as_posix()
        match = re.fullmatch(r"(\d{4})/(\d\d)/(\d\d)/(\d\d)/bench-events-1-(\d{4})-(\d\d)-(\d\d)-(\d\d)-\d\d-\d\d-[0-9a-f-]{36}",
                             relative)
        assert match and match.groups()[:4] == match.groups()[4:], relative
    assert sum(p.stat().st_size for p in files) == manifest["bytes"] >= 1000000
    assert 400 < manifest["bytes"] / manifest["records"] < 520  # about 455 bytes an event
    assert REPO not in Path(manifest["data"]).resolve().parents


def test_the_truth_equals_an_independent_computation(tiny_run):
    """The generator counts while it writes; here the files are read back and aggregated
    the slow, obvious way, and the rows must be the same bytes."""
    workdir, _ = tiny_run
    manifest = json.loads(next(workdir.glob("firehose-*/manifest.json")).read_text())
    fields, words, groups = Counter(), Counter(), {}
    for path in sorted(Path(manifest["data"]).rglob("*")):
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line, parse_float=Decimal)
            fields.update(record.keys())
            words.update(re.findall(r"\w+", record["text"].lower()))
            key = (record["time"][:13] + ":00", record["type"], record["geo"]["country"])
            amounts = groups.setdefault(key, [0, []])
            amounts[0] += 1
            if "amount" in record:
                amounts[1].append(Decimal(record["amount"]))

    def plain(number):
        return "0" if number.is_zero() else format(number.normalize(Context(prec=50)), "f")

    def stats(count, amounts):
        if not amounts:
            return [str(count), "0", "", "", ""]
        total = sum(amounts, Decimal(0))
        mean = Context(prec=15).divide(total, Decimal(len(amounts)))
        return [str(count)] + [plain(x) for x in (total, min(amounts), max(amounts), mean)]

    def rows(items):
        lines = ["\t".join(list(key) + values) for key, values in items]
        return "".join(line + "\n" for line in sorted(lines, key=lambda s: s.encode()))

    truth = Path(manifest["truth"])
    assert (truth / "census.tsv").read_text("utf-8") == rows(((k,), [str(n)]) for k, n in fields.items())
    assert (truth / "words.tsv").read_text("utf-8") == rows(((k,), [str(n)]) for k, n in words.items())
    assert (truth / "ktv.tsv").read_text("utf-8") == rows((k, stats(*v)) for k, v in groups.items())
    assert manifest["ktv_groups"] == len(groups) and any(not v[1] for v in groups.values())  # groups with no amount too


def test_a_wrong_output_fails_loudly(tiny_run, tmp_path):
    """Corrupt one count in the stored truth: the benchmark must stop and say which variant
    differs and where (so the check is not vacuous)."""
    workdir, _ = tiny_run
    copy = tmp_path / "bench"
    subprocess.run(["cp", "-r", str(workdir), str(copy)], check=True)
    census = next(copy.glob("firehose-*/truth/census.tsv"))
    lines = census.read_text().splitlines()
    name, count = lines[0].split("\t")
    lines[0] = "%s\t%d" % (name, int(count) + 1)
    census.write_text("\n".join(lines) + "\n")
    result = bench(copy, *TINY, "--job", "census", check=False)
    assert result.returncode != 0
    assert "WRONG OUTPUT from census naive mapper | sort | reducer" in result.stderr
    assert "first difference at line 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_workdir_inside_the_repository_is_refused():
    result = subprocess.run([sys.executable, str(BENCH / "run.py"), "--workdir", str(REPO / "bench" / "data")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "outside the repository" in result.stderr
    assert not (REPO / "bench" / "data").exists()


def test_the_copies_run_at_once_get_the_files_in_order_and_about_half_the_bytes_each(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import at_once
    finally:
        sys.path.remove(str(BENCH))
    sizes = [5, 1, 1, 1, 1, 1, 4, 6]
    files = []
    for index, size in enumerate(sizes):
        files.append(str(tmp_path / ("f%d" % index)))
        Path(files[-1]).write_bytes(b"x" * size)
    runs = at_once.shares(files, 2)
    assert runs[0] + runs[1] == files
    assert [sum(Path(f).stat().st_size for f in run) for run in runs] == [10, 10]
    assert at_once.shares(files[:1], 2) == [files[:1]]


def test_the_copies_outputs_come_whole_and_in_the_order_of_the_files(tmp_path):
    """Two `cat`s at once, each on its share: stdout is the files, in order, not interleaved."""
    files = []
    for index in range(6):
        files.append(str(tmp_path / ("f%d" % index)))
        Path(files[-1]).write_bytes(("%d\n" % index).encode() * (20000 * (index + 1)))
    result = subprocess.run([sys.executable, str(BENCH / "at_once.py"), "2", *files, "--", "cat"],
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"".join(Path(f).read_bytes() for f in files)
    failing = subprocess.run([sys.executable, str(BENCH / "at_once.py"), "2", *files, "--", "false"],
                             capture_output=True, timeout=60)
    assert failing.returncode == 1
    usage = subprocess.run([sys.executable, str(BENCH / "at_once.py"), "2", *files], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: at_once.py N FILE... -- COMMAND..." in usage.stderr


# ---------------------------------------------------------------------------------------
# bench/peers.py: mrjob and Spark local against the pair, on a tiny tree.
# ---------------------------------------------------------------------------------------

# The peers' venvs are made where bench/peers.py makes them for a user (read before the suite
# points XDG_CACHE_HOME at a temporary directory): installed once, then reused by every run.
PEER_VENVS = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "firehose-mr-bench" / "venvs"
# One round, timed and checked (--first-round-timed): every variant runs once, which halves the
# test's time (two JVM starts instead of four); bench/run.py's test covers the untimed first round.
PEERS_TINY = ["--size", "1MB", "--files", "2", "--reps", "1", "--seed", "7", "-j", "2", "--first-round-timed"]
INSTALL_TIMEOUT = 300  # seconds for each peer's first install; then the venv is reused
PEER_ROWS = ["bare json.loads loop", "naive mapper | sort | reducer", "mapper.py | sort | reducer.py",
             "run_local.sh -j 2", "run_local.sh -j 2 -r 2 -c", "mrjob -r inline", "mrjob -r inline --combine",
             "mrjob -r local", "mrjob -r local --combine", "Spark local[*], explicit schema"]


def peers(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(BENCH / "peers.py"), "--workdir", str(workdir), *args],
                            cwd=str(REPO), env=clean_env(), capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def peer_rows(report: str):
    """{variant: [cells]} of the per-size tables of the report (7 columns)."""
    rows = {}
    for line in report.splitlines():
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) == 7 and cells[0] not in ("variant", "---"):
            rows[cells[0]] = cells
    return rows


@pytest.fixture(scope="module")
def peers_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("peers")
    return peers(workdir, *PEERS_TINY, "--venvs", str(PEER_VENVS), "--install-timeout", str(INSTALL_TIMEOUT))


def peers_module():
    """bench/peers.py as a module (its pins, its arithmetic)."""
    sys.path.insert(0, str(BENCH))
    try:
        import peers as module
    finally:
        sys.path.remove(str(BENCH))
    return module


def checked_runs(stderr: str) -> Counter:
    return Counter(re.findall(r"^  (.+?)\s+[0-9.]+ s wall .* output ok$", stderr, re.M))


def assert_measured(cells, bare):
    """Positive times and peak; each ratio is the value over the bare loop's (both as printed,
    rounded to 2 or 1 places, so the bounds allow for that rounding)."""
    for value, ratio, half in ((1, 2, 0.005), (3, 4, 0.005), (5, 6, 0.05)):
        got, base, printed = float(cells[value]), float(bare[value]), float(cells[ratio])
        assert got > 0, cells
        low, high = (got - half) / (base + half), (got + half) / max(base - half, 1e-9)
        assert low - 0.005 <= printed <= high + 0.005, (cells, bare)


def peer_or_skip(rows, name):
    """The row of a peer that was installed, or a skip that says why it was not."""
    cells = rows[name]
    if cells[1].startswith("not installed") or cells[1].startswith("cannot run"):
        pytest.skip("%s: %s" % (name, cells[1]))
    return cells


def test_peers_the_pair_and_baselines_run_and_are_checked(peers_run):
    rows = peer_rows(peers_run.stdout)
    assert list(rows) == PEER_ROWS
    checked = checked_runs(peers_run.stderr)
    for name in PEER_ROWS[:5]:  # its one round, checked against the truth
        assert checked[name] == 1, (name, peers_run.stderr[-3000:])
    bare = rows["bare json.loads loop"]
    assert [bare[2], bare[4], bare[6]] == ["1.00", "1.00", "1.00"]
    for name in PEER_ROWS[1:5]:
        assert_measured(rows[name], bare)
    assert "Peers, 1 MB" in peers_run.stdout and "Code measured: mapper.py" in peers_run.stdout
    assert "median of 1 interleaved rounds (no untimed round: --first-round-timed)" in peers_run.stdout


@pytest.mark.parametrize("name", PEER_ROWS[5:9])
def test_peers_mrjob_gives_the_truth_and_is_measured(peers_run, name):
    rows = peer_rows(peers_run.stdout)
    cells = peer_or_skip(rows, name)
    assert checked_runs(peers_run.stderr)[name] == 1
    assert_measured(cells, rows["bare json.loads loop"])
    assert " ".join(peers_module().PEERS["mrjob"]) + " (its own venv)" in peers_run.stdout


def test_peers_spark_gives_the_truth_and_its_jvm_is_counted(peers_run):
    rows = peer_rows(peers_run.stdout)
    cells = peer_or_skip(rows, "Spark local[*], explicit schema")
    assert checked_runs(peers_run.stderr)["Spark local[*], explicit schema"] == 1
    assert_measured(cells, rows["bare json.loads loop"])
    # the JVM is reaped by the driver, so its memory is in the peak: far above any Python process here
    assert float(cells[5]) > 100, cells
    assert " ".join(peers_module().PEERS["pyspark"]) + " (its own venv)" in peers_run.stdout


def test_peers_that_are_not_installed_are_reported_not_left_out(tmp_path):
    result = peers(tmp_path / "work", *PEERS_TINY, "--venvs", str(tmp_path / "no-venvs"), "--no-install")
    rows = peer_rows(result.stdout)
    assert list(rows) == PEER_ROWS
    for name in PEER_ROWS[5:]:
        assert rows[name][1].startswith("not installed (--no-install"), rows[name]
        assert checked_runs(result.stderr)[name] == 0
    assert_measured(rows["run_local.sh -j 2"], rows["bare json.loads loop"])
    assert not (tmp_path / "no-venvs" / "mrjob-0.7.4").exists()


def test_peers_crossover_is_where_the_straight_lines_meet():
    """Two sizes, made-up medians (the bare loop 10 s per GB in both runs): the lines and their
    intersections are computed here by hand."""
    spark = peers_module().SPARK

    def kept(size, bare, pair, spark_wall):  # CPU: the pair 0.2 s + 12 s/GB, Spark 19 s + 6 s/GB
        gb = size / 1e9
        return {"size": size, "medians": {"bare json.loads loop": {"wall": bare, "cpu": bare},
                                          "run_local.sh -j 2": {"wall": pair, "cpu": 0.2 + 12 * gb},
                                          spark: {"wall": spark_wall, "cpu": 19 + 6 * gb}}}
    # pair: 0.5 s + 8 s/GB; Spark: 10 s + 3 s/GB: they meet at 9.5 / 5 = 1.9 GB
    runs = [kept(200 * 10 ** 6, 2.0, 2.1, 10.6), kept(10 ** 9, 10.0, 8.5, 13.0)]
    lines = peers_module().crossover_report(runs, ["bare json.loads loop", "run_local.sh -j 2", spark])
    # in CPU seconds they meet at 18.8 / 6 = 3.1 GB
    assert "| run_local.sh -j 2 | 0.5 | 8.0 | 1.9 GB | 1.9 GB | 0.2 | 12.0 | 3.1 GB |" in lines
    assert "| %s | 10.0 | 3.0 | – | – | 19.0 | 6.0 | – |" % spark in lines
    # the second run on a machine half as fast: the same ratios to its bare loop, so the same crossover
    slow = [kept(200 * 10 ** 6, 2.0, 2.1, 10.6), kept(10 ** 9, 20.0, 17.0, 26.0)]
    pair_line = [l for l in peers_module().crossover_report(slow, ["run_local.sh -j 2"]) if l.startswith("| run_")][0]
    assert pair_line.endswith("| 1.9 GB | 0.2 | 12.0 | 3.1 GB |") and pair_line.count("1.9 GB") == 1
    # Spark flatter but not cheaper at any size it was measured: never, said as such
    assert peers_module().crossover_gb((0.0, 3.0), (10.0, 3.0)) is None
    assert peers_module().gb_text(None).startswith("never")
