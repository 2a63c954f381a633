"""run_local.sh runs the pair from compiled code kept in __pycache__ beside it (Python keeps the
package's own there too), so that a run does not compile 1,300 lines for each task.

What a user must be able to count on: an edit to a script or to the package takes effect at the
next run, even one of the same size within the same second; a cache that cannot be written or
read only costs time; and an error names its file and line."""
import os
import sys
from pathlib import Path
from typing import Dict

from conftest import SAMPLE_DATA
from test_fork_server import project_copy, run_copy

TAG = sys.implementation.cache_tag


def compiled(folder: Path) -> Dict[str, int]:
    """The pair's compiled files in folder's __pycache__, by name, with their modification times."""
    return {p.name: p.stat().st_mtime_ns for p in sorted((folder / "__pycache__").glob("*.pyc"))}


def test_the_code_is_kept_and_made_anew_when_a_script_changes(tmp_path):
    script = project_copy(tmp_path / "project")
    project = script.parent
    first = run_copy(script, [SAMPLE_DATA], tmp_path)
    assert first.returncode == 0 and first.stdout.count(b"\n") > 5, first.stderr
    kept = compiled(project)
    assert sorted(kept) == ["mapper.%s.pyc" % TAG, "reducer.%s.pyc" % TAG], kept
    again = run_copy(script, [SAMPLE_DATA], tmp_path)
    assert (again.returncode, again.stdout, again.stderr) == (first.returncode, first.stdout, first.stderr)
    assert compiled(project) == kept  # read, not written again

    mapper = project / "mapper.py"
    text = mapper.read_text()
    edited = text.replace('COUNTER_GROUP = "firehose-mr"', 'COUNTER_GROUP = "firehose-zz"', 1)
    assert edited != text and len(edited) == len(text)  # the same size: only the content tells
    stamp = mapper.stat()
    mapper.write_text(edited)
    os.utime(str(mapper), ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # and the same time
    counted = run_copy(script, [SAMPLE_DATA], tmp_path)
    assert counted.returncode == 0 and b"\tfirehose-zz\n" in counted.stderr, counted.stderr
    assert counted.stdout == first.stdout

    package = project / "firehose_mr" / "local" / "__init__.py"
    package.write_text(package.read_text().replace('PROG = "run_local.sh"', 'PROG = "edited.sh"', 1))
    renamed = run_copy(script, ["--no-such-flag"], tmp_path)
    assert renamed.returncode == 2 and renamed.stderr.startswith(b"edited.sh: "), renamed.stderr


def test_a_cache_that_cannot_be_used_only_costs_time(tmp_path):
    script = project_copy(tmp_path / "project")
    expected = run_copy(script, [SAMPLE_DATA], tmp_path)
    assert expected.returncode == 0, expected.stderr
    cache = script.parent / "__pycache__"
    for pyc in cache.iterdir():
        pyc.write_bytes(b"\xff not bytecode")
    damaged = run_copy(script, [SAMPLE_DATA], tmp_path)
    assert (damaged.returncode, damaged.stdout, damaged.stderr) == (0, expected.stdout, expected.stderr)
    assert all(p.read_bytes()[:1] != b"\xff" for p in cache.iterdir())  # made anew
    for pyc in cache.iterdir():
        pyc.unlink()
    cache.rmdir()
    cache.write_text("a file where the cache folder would be")  # nothing can be written
    unwritable = run_copy(script, [SAMPLE_DATA], tmp_path)
    assert (unwritable.returncode, unwritable.stdout, unwritable.stderr) == (0, expected.stdout, expected.stderr)


def test_an_error_in_the_runner_names_its_file_and_line(tmp_path):
    script = project_copy(tmp_path / "project")
    cli = script.parent / "firehose_mr" / "local" / "cli.py"
    lines = cli.read_text().split("\n")
    entry = next(n for n, line in enumerate(lines) if line.startswith("def command_line("))
    body = next(n for n in range(entry, len(lines)) if lines[n].strip().endswith('"""') and n > entry)
    lines.insert(body + 1, '    raise RuntimeError("where is this")')
    cli.write_text("\n".join(lines))
    run = run_copy(script, [], tmp_path)
    assert run.returncode == 1 and b"RuntimeError: where is this" in run.stderr, run.stderr
    assert ('firehose_mr/local/cli.py", line %d' % (body + 2)).encode() in run.stderr, run.stderr
