"""run_local.sh keeps compiled code (its engine's, mapper.py's and reducer.py's) in
$XDG_CACHE_HOME/firehose-mr, so that a run does not compile 2,500 lines first.

What a user must be able to count on: an edit to any of the three scripts takes effect at
the next run, a cache that cannot be written or read only costs time, and an error in the
engine still names its line of run_local.sh."""
import re
import subprocess
from pathlib import Path
from typing import Dict

from conftest import SAMPLE_DATA
from test_fork_server import project_copy, run_copy


def cache_files(cache: Path) -> Dict[str, int]:
    """The cache's files, by name, with their modification times (ns)."""
    return {p.name: p.stat().st_mtime_ns for p in sorted(cache.glob("*"))}


def test_the_code_is_kept_and_made_anew_when_a_script_changes(tmp_path):
    script = project_copy(tmp_path / "project")
    cache = tmp_path / "xdg" / "firehose-mr"
    first = run_copy(script, [SAMPLE_DATA], tmp_path, XDG_CACHE_HOME=str(cache.parent))
    assert first.returncode == 0 and first.stdout.count(b"\n") > 5, first.stderr
    kept = cache_files(cache)
    assert sorted(re.sub(r"\.[^.]+\.marshal$", "", name) for name in kept) == [
        "mapper.py", "reducer.py", "run_local"], kept
    again = run_copy(script, [SAMPLE_DATA], tmp_path, XDG_CACHE_HOME=str(cache.parent))
    assert (again.returncode, again.stdout, again.stderr) == (first.returncode, first.stdout, first.stderr)
    assert cache_files(cache) == kept  # read, not written again

    engine = script.read_text()
    script.write_text(engine.replace('PROG = "run_local.sh"', 'PROG = "edited.sh"', 1))
    edited = run_copy(script, ["--no-such-flag"], tmp_path, XDG_CACHE_HOME=str(cache.parent))
    assert edited.returncode == 2 and edited.stderr.startswith(b"edited.sh: "), edited.stderr

    mapper = script.parent / "mapper.py"
    mapper.write_text(mapper.read_text().replace('COUNTER_GROUP = "firehose-mr"', 'COUNTER_GROUP = "edited"', 1))
    counted = run_copy(script, [SAMPLE_DATA], tmp_path, XDG_CACHE_HOME=str(cache.parent))
    assert counted.returncode == 0 and b"\tedited\n" in counted.stderr, counted.stderr
    assert counted.stdout == first.stdout
    changed = cache_files(cache)
    assert [n for n in kept if changed[n] != kept[n]] == [n for n in kept if not n.startswith("reducer")]


def test_a_cache_that_cannot_be_used_only_costs_time(tmp_path):
    script = project_copy(tmp_path / "project")
    expected = run_copy(script, [SAMPLE_DATA], tmp_path, XDG_CACHE_HOME=str(tmp_path / "good"))
    assert expected.returncode == 0, expected.stderr
    (tmp_path / "a-file").write_text("not a directory")
    broken = tmp_path / "broken" / "firehose-mr"
    broken.mkdir(parents=True)
    for name in cache_files(tmp_path / "good" / "firehose-mr"):
        (broken / name).write_bytes(b"\xff not marshal data")
    for home in [tmp_path / "a-file", broken.parent, "relative"]:  # a relative one is not used
        run = run_copy(script, [SAMPLE_DATA], tmp_path, XDG_CACHE_HOME=str(home))
        assert (run.returncode, run.stdout, run.stderr) == (0, expected.stdout, expected.stderr), home
    assert not (tmp_path / "relative").exists()
    assert all(p.read_bytes()[:1] != b"\xff" for p in broken.iterdir())  # made anew
    assert sorted(p.name for p in broken.iterdir()) == sorted(cache_files(tmp_path / "good" / "firehose-mr"))


def test_an_error_in_the_engine_names_its_line_of_run_local_sh(tmp_path):
    """The engine is compiled with blank lines for the bash above it: tracebacks point into
    run_local.sh at the right line."""
    script = project_copy(tmp_path / "project")
    lines = script.read_text().split("\n")
    entry = next(n for n, line in enumerate(lines) if line.startswith("def command_line("))
    body = next(n for n in range(entry, len(lines)) if lines[n].strip().endswith('"""') and n > entry + 1)
    lines.insert(body + 1, '    raise RuntimeError("where is this")')
    script.write_text("\n".join(lines))
    run = subprocess.run([str(script)], cwd=str(tmp_path), capture_output=True, timeout=60)
    assert run.returncode == 1 and b"RuntimeError: where is this" in run.stderr, run.stderr
    assert ('File "run_local.sh", line %d' % (body + 2)).encode() in run.stderr, run.stderr
