"""The pair as files: executable, LF, Python 3.7, standard library only, --help, flag errors;
and shellcheck on every shell script in the project."""
import ast
import subprocess
import sys

import pytest

from conftest import MAPPER, REDUCER, REPO, shell, tool

PAIR = [MAPPER, REDUCER]


@pytest.mark.parametrize("script", PAIR, ids=lambda p: p.name)
def test_script_is_an_executable_lf_python3_file(script):
    data = script.read_bytes()
    assert data.startswith(b"#!/usr/bin/env python3\n")
    assert b"\r" not in data
    assert script.stat().st_mode & 0o111 == 0o111


def test_pair_parses_as_python_3_7():
    result = subprocess.run([tool("vermin"), "-t=3.7-", "--no-tips", "--violations", "--eval-annotations",
                             str(MAPPER), str(REDUCER)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for script in PAIR:  # and the 3.7 grammar, as the 3.11 parser knows it
        ast.parse(script.read_text(), feature_version=(3, 7))


@pytest.mark.parametrize("script", PAIR, ids=lambda p: p.name)
def test_pair_imports_only_the_standard_library(script):
    tree = ast.parse(script.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    outside = {name for name in imported if name not in sys.stdlib_module_names}
    assert not outside
    # ...and modules that Python 3.7 already had (3.8+ additions would fail on EMR 6).
    newer = {"graphlib", "zoneinfo", "tomllib", "importlib.metadata"}
    assert not imported & newer


@pytest.mark.parametrize("script,flags,words", [
    (MAPPER, ["--key P[,P...]", "--time P|@arrival", "--per {minute,hour,day,month}", "--value P", "--words [P]"],
     ["records", "malformed", "invalid_utf8", "bad_time", "no_value", "no_text", "(default: hour)"]),
    (REDUCER, ["--combine"], ["bad_intermediate", "-combiner"]),
], ids=["mapper", "reducer"])
def test_help_names_every_flag(script, flags, words):
    """Each flag as an option line with what it takes; the counters a user will see."""
    result = shell("./%s --help" % script.name)
    text = result.stdout.decode()
    assert text.startswith("usage: %s " % script.name) and result.stderr == b""
    option_lines = [line.strip() for line in text.splitlines() if line.startswith("  -")]
    assert [flag for flag in flags if not any(line.startswith(flag) for line in option_lines)] == []
    assert [word for word in words if word not in " ".join(text.split())] == []


@pytest.mark.parametrize("command", [
    "./mapper.py --nope",
    "./mapper.py --per hour",
    "./mapper.py --per fortnight --time t",
    "./mapper.py --time @arrival --per minute",
    "./mapper.py --words --key a",
    "./mapper.py --key a..b",
    "./mapper.py --key ''",
    "./mapper.py --words ''",
    "./reducer.py --key a",
])
def test_bad_flags_give_one_line_and_exit_2(command):
    result = shell(command + " </dev/null", check=False)
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and "error" in lines[0], lines
    assert b"Traceback" not in result.stderr
    assert result.stdout == b""


def shell_scripts():
    scripts = []
    for path in sorted(REPO.rglob("*")):
        if not path.is_file() or any(part in (".git", ".venv", ".cache", "target") for part in path.parts):
            continue
        with path.open("rb") as handle:
            head = handle.readline()
        if path.suffix == ".sh" or head.startswith(b"#!") and b"sh" in head.split(b"/")[-1].split(b" ")[-1]:
            scripts.append(path)
    return scripts


def test_every_shell_script_is_shellcheck_clean():
    scripts = shell_scripts()
    names = {p.relative_to(REPO).as_posix() for p in scripts}
    assert {"tests/run.sh", ".ci/run"} <= names
    result = subprocess.run([tool("shellcheck"), "--severity=style", *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pairs_copies_of_the_first_moments_are_the_same():
    """mapper.py and reducer.py each carry the ^C handling of their first moments (each is one
    self-contained file, shipped alone with -files): the two copies stay the same, names aside."""
    def section(script):
        text = script.read_text()
        start = text.index("INTERRUPTED = 130")
        end = text.index('if __name__ == "__main__":  # first, before the imports')
        return text[start:end].replace(script.name, "SCRIPT")
    assert section(MAPPER) == section(REDUCER)
