"""run_local.sh's fork server: the pair's tasks, forked from a Python that has imported what they
use, behave exactly as tasks started as new `python3 -S script` processes (--no-fork-server).

Each test runs run_local.sh both ways, as a process, and compares what a user sees: the output,
the part files, the counters, the failure reports. Stand-ins for mapper.py are written next to a
copy of run_local.sh, since the fork server serves the scripts that sit next to it."""
import ast
import gzip
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import List

import pytest

from conftest import MAPPER, REDUCER, REPO, SAMPLE_DATA, clean_env, copy_project
from firehose_mr.local.forkserver import PRELOADED, ForkServer, defines_only
from test_run_local import run_local, write_tree

BOTH_WAYS = ([], ["--no-fork-server"])


def project_copy(folder: Path, mapper_body: str = "") -> Path:
    """run_local.sh, its package and the pair copied into folder; mapper.py replaced by mapper_body
    if given."""
    copy_project(folder)
    if mapper_body:
        (folder / "mapper.py").write_text("#!/usr/bin/env python3\nimport json, os, sys\n" + mapper_body)
    return folder / "run_local.sh"


def run_copy(script: Path, args: List[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(script)] + [str(a) for a in args], cwd=str(cwd), env=clean_env(**env),
                          capture_output=True, timeout=120)


def tricky_inputs(folder: Path) -> Path:
    """Firehose objects of every kind the pair handles: gzip, CRLF, bad UTF-8, records back to
    back, a time field of each form, an empty object."""
    events = [{"type": "click", "geo": {"country": c}, "time": t, "amount": a}
              for c in ("DE", "FR", "US\tX") for t in ("2026-11-20T08:01:02Z", 1795000000, "bad")
              for a in (1.5, "2.25", None)]
    lines = [json.dumps(e).encode() for e in events]
    write_tree(folder, {
        "2026/11/20/08/s-1-2026-11-20-08-00-00-a": b"\n".join(lines) + b"\n",
        "2026/11/20/08/s-1-2026-11-20-08-05-00-b.gz": gzip.compress(b"".join(lines)),
        "2026/11/20/09/s-1-2026-11-20-09-00-00-c": b"\r\n".join(lines[:9]) + b"\r\n\xff\xfe{oops\n",
        "2026/11/20/09/s-1-2026-11-20-09-10-00-d": b"",
    })
    return folder


@pytest.mark.parametrize("args", [
    ["-r", "1"], ["-r", "3", "-c", "-j", "2"], ["-r", "0"],
], ids=["one-reducer", "three-reducers-combiner", "map-only"])
@pytest.mark.parametrize("flags", [
    [], ["--key", "type,geo.country", "--time", "time", "--value", "amount"],
    ["--time", "@arrival", "--per", "day"],
], ids=["census", "ktv", "arrival"])
def test_forked_tasks_give_what_new_processes_give(tmp_path, args, flags):
    data = tricky_inputs(tmp_path / "in")
    results = []
    for way in BOTH_WAYS:
        out = tmp_path / ("out" + "".join(way))
        run = run_local(way + args + ["-o", out, data, "--"] + flags)
        parts = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
        results.append((parts, run.counters(), run.stderr.split("Counters:")[0]))
    assert results[0] == results[1]
    assert sum(len(v) for v in results[0][0].values()) > 0
    assert results[0][1]["firehose-mr"]["invalid_utf8"] == 1


def test_a_forked_task_sees_the_process_a_new_one_sees(tmp_path):
    """argv, environment, __name__, sys.path[0], -S, its standard streams."""
    dump = tmp_path / "dump"
    dump.mkdir()
    script = project_copy(tmp_path / "project", r'''
import io
record = {
    "argv": sys.argv, "name": __name__, "file": __file__, "path0": sys.path[0],
    "no_site": sys.flags.no_site, "env": dict(os.environ),
    "stdin": [sys.stdin.encoding, sys.stdin.errors, sys.stdin.isatty()],
    "stdout": [sys.stdout.encoding, sys.stdout.errors, sys.stdout.line_buffering],
    "stderr": [sys.stderr.encoding, sys.stderr.errors, sys.stderr.line_buffering],
    "input": sys.stdin.read(), "main": sys.modules["__main__"].__dict__ is globals(),
}
with open(os.path.join(os.environ["DUMP"], os.environ["mapreduce_task_id"][-8:] + sys.argv[-1]), "w") as f:
    json.dump(record, f)
print("k\x02\t1")  # a mapper.py key: the column, then its separator
''')
    write_tree(tmp_path / "in", {"a": b"line a\n", "b": b"line b1\nline b2\n"})
    seen = []  # type: List[Dict[str, dict]]
    for way in BOTH_WAYS:
        tag = "-warm" if not way else "-cold"
        result = subprocess.run([str(script)] + way + ["-j", "2", str(tmp_path / "in"), "--", "--x", tag],
                                env=clean_env(DUMP=str(dump)), capture_output=True, timeout=120)
        assert result.returncode == 0 and result.stdout == b"k\t2\n", result.stderr
        seen.append({p.name[:-len(tag)]: json.loads(p.read_text()) for p in dump.glob("*" + tag)})
    warm, cold = seen
    assert sorted(warm) == sorted(cold) == ["m_000000", "m_000001"]
    for task in warm:  # the ids and the work directory of the two runs differ: not compared
        same = [re.sub(r"(job|task|attempt)_local\d+|run_local-[^/\"]+", "(this run's)",
                       json.dumps(record, sort_keys=True).replace("-warm", "-cold"))
                for record in (warm[task], cold[task])]
        assert same[0] == same[1]
    assert warm["m_000000"]["argv"][1:] == ["--x", "-warm"] and warm["m_000000"]["name"] == "__main__"
    assert warm["m_000000"]["main"] and warm["m_000000"]["no_site"] == 1


@pytest.mark.parametrize("body,status,stderr", [
    ("if 'poison' in sys.stdin.read():\n    raise ValueError('bad record')\n",
     "exit status 1", r"Traceback \(most recent call last\):\n\s+File \"[^\"]*mapper\.py\", line \d+, "
                      r"in <module>\n.*\n\s+ValueError: bad record"),
    ("if 'poison' in sys.stdin.read():\n    sys.exit('a message from the mapper')\n",
     "exit status 1", r"a message from the mapper"),
    ("if 'poison' in sys.stdin.read():\n    sys.exit(3)\n", "exit status 3", None),
    ("import signal\nif 'poison' in sys.stdin.read():\n    os.kill(os.getpid(), signal.SIGKILL)\n",
     "killed by signal 9", None),
], ids=["exception", "exit-message", "exit-3", "killed"])
def test_a_failing_forked_task_is_reported_as_a_new_one_is(tmp_path, body, status, stderr):
    script = project_copy(tmp_path / "project", body + "print('k\\t1')\n")
    write_tree(tmp_path / "in", {"good": b"fine\n" * 100, "bad": b"poison\n"})
    reports = []
    for way in BOTH_WAYS:
        result = run_copy(script, way + ["-j", "1", "-o", tmp_path / "out", "in"], tmp_path)
        text = result.stderr.decode()
        assert result.returncode == 1, text
        assert "mapper failed (%s) on input %s" % (status, Path("in") / "bad") in text
        assert "run_as_main" not in text and "<string>" not in text  # no frame of the server
        if stderr is not None:
            assert re.search(stderr, text), text
        reports.append(re.sub(r"\S*run_local-\w+\S*", "(work)", text))
        assert not (tmp_path / "out").exists()
    assert reports[0] == reports[1]


def test_a_reducer_that_cannot_write_its_output_ends_as_python_does(tmp_path):
    """stdout gone: Python's own exit status 120 when its last flush fails, both ways (with
    buffered streams: PYTHONUNBUFFERED would write at once)."""
    script = project_copy(tmp_path / "project", "sys.stdout.write('k\\t1\\n' * 100000)\n")
    (tmp_path / "project" / "reducer.py").write_text(
        "#!/usr/bin/env python3\nimport os, sys\nsys.stdin.read()\n"
        "sys.stdout.write('x' * 100)\nos.close(1)\n")
    (tmp_path / "in").write_bytes(b"x\n")
    reports = []
    for way in BOTH_WAYS:
        result = run_copy(script, way + ["in"], tmp_path, PYTHONUNBUFFERED="")
        assert result.returncode == 1, result.stderr
        reports.append(re.sub(r"\S*run_local-\w+\S*", "(work)", result.stderr.decode()))
    assert reports[0] == reports[1]
    assert "reducer failed (exit status 120)" in reports[0] and "Bad file descriptor" in reports[0]


def test_the_fork_server_preloads_what_the_pair_imports():
    modules = set(PRELOADED)
    for script in (MAPPER, REDUCER):
        for node in ast.parse(script.read_text()).body:  # the top level: what a task imports at start
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                names = [node.module or ""]
            else:
                continue
            assert set(n.split(".")[0] for n in names) <= modules, (script.name, names)


def test_the_default_job_is_the_same_both_ways_on_sample_data():
    outputs = [run_local(way + ["-j", "2", SAMPLE_DATA]) for way in BOTH_WAYS]
    assert outputs[0].stdout == outputs[1].stdout and outputs[0].stdout.count(b"\n") > 5
    assert outputs[0].counters() == outputs[1].counters()
    assert REPO.joinpath("run_local.sh").exists()


def test_the_server_runs_no_script_whose_top_level_does_more_than_define(tmp_path):
    """A mapper written as a plain loop (its top level reads, counts, writes) runs once per map
    task and never in the server; the pair's scripts, which only define at the top level, are
    the ones it runs once to compile their regular expressions."""
    runs = tmp_path / "runs"
    script = project_copy(tmp_path / "project", (
        "with open(%r, 'a') as log:\n    log.write('ran\\n')\n"
        "for line in sys.stdin:\n    print('k\\x02\\t1')\n") % str(runs))
    write_tree(tmp_path / "in", {"a": b"1\n", "b": b"2\n3\n"})
    for way in BOTH_WAYS:
        result = run_copy(script, way + ["in"], tmp_path)
        assert result.returncode == 0 and result.stdout == b"k\t3\n", result.stderr
        assert runs.read_text() == "ran\n" * 2, way
        runs.unlink()
    for path, plain in [(MAPPER, True), (REDUCER, True), (tmp_path / "project" / "mapper.py", False)]:
        assert defines_only(path.read_bytes(), str(path)) is plain, path  # type: ignore[operator]


def test_a_forked_task_finds_argparse_warmed_up(tmp_path):
    """argparse compiles a regular expression the first time a process meets each kind of
    argument; the server has met them, so a forked task's parser compiles none (a new process
    compiles some: the check can tell them apart)."""
    script = project_copy(tmp_path / "project", (
        "import argparse, re\n"
        "before = len(re._cache)\n"
        "parser = argparse.ArgumentParser(prog='mapper.py')\n"
        "parser.add_argument('--key')\n"
        "parser.add_argument('--words', nargs='?', const='')\n"
        "parser.add_argument('--per', choices=['hour', 'day'])\n"
        "parser.parse_args(['--key', 'a', '--per', 'day', '--words'])\n"
        "print('compiled %d\\x02\\t1' % (len(re._cache) - before))\n"))
    write_tree(tmp_path / "in", {"a": b"1\n", "b": b"2\n"})
    outputs = []
    for way in BOTH_WAYS:
        result = run_copy(script, way + ["in"], tmp_path)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == b"compiled 0\t2\n"
    assert outputs[1] != outputs[0] and outputs[1].startswith(b"compiled ")


def test_a_server_killed_with_a_request_unread_ends_the_tasks_waiting_on_it():
    """A signal to the whole process group (`timeout`, a CI cancel) kills the fork server too,
    often with a request of ours still unread in its socket: then we read a reset, not an end.
    The task waiting on that request must end at once (refused), or the run waits for ever."""
    server = ForkServer(clean_env())
    refused = []  # type: List[str]

    def spawn() -> None:
        try:
            server.spawn(["python3", "-S", str(MAPPER)], None, None, None, clean_env())
        except OSError as error:
            refused.append(str(error))
    try:
        os.kill(server.process.pid, signal.SIGSTOP)  # it reads nothing more
        waiting = threading.Thread(target=spawn, daemon=True)
        waiting.start()
        deadline = time.monotonic() + 30
        while not server.requests or server.send_lock.locked():  # until the request is sent
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(server.process.pid, signal.SIGKILL)
        waiting.join(30)
        server.reader.join(30)
        assert not waiting.is_alive() and refused == ["the fork server stopped"]
        assert not server.reader.is_alive() and server.gone
    finally:
        server.process.kill()
        server.close()
