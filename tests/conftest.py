"""Shared fixtures: where the scripts are, and how a user runs them (through a real shell)."""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterable, Optional

import pytest
from hypothesis import settings

# Property tests: `--hypothesis-profile=ci` (what .ci/run passes; also the default when $CI is
# set) draws the same examples on every run; without it each run explores new ones.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "explore")

REPO = Path(__file__).resolve().parent.parent
MAPPER = REPO / "mapper.py"
REDUCER = REPO / "reducer.py"
SAMPLE_DATA = REPO / "sample_data"
PACKAGE = REPO / "firehose_mr"
sys.path.insert(0, str(REPO))  # the unit tests import the package
COUNTER_PREFIX = "reporter:counter:firehose-mr,"


def clean_env(**extra: str) -> Dict[str, str]:
    """The environment of a user's shell: no Hadoop task variables, a fixed locale."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("mapreduce_", "map_input", "LC_", "HADOOP_")) and k != "LANG"}
    env["LC_ALL"] = "C.UTF-8"
    env.update(extra)
    return env


def shell(command: str, stdin: Optional[bytes] = None, cwd: Path = REPO,
          env: Optional[Dict[str, str]] = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command line through bash (with pipefail), as a user types it."""
    result = subprocess.run(["bash", "-c", "set -o pipefail; " + command], input=stdin, cwd=str(cwd),
                            env=env if env is not None else clean_env(), capture_output=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError("command failed (%d): %s\nstderr:\n%s"
                             % (result.returncode, command, result.stderr.decode(errors="replace")))
    return result


def copy_project(folder: Path, scripts: Iterable[str] = ("run_local.sh", "mapper.py", "reducer.py")) -> Path:
    """The scripts named and the package they run, copied into folder (made if need be), as a
    user copies the project: without compiled code."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in scripts:
        shutil.copy2(str(REPO / name), str(folder / name))
    shutil.copytree(str(PACKAGE), str(folder / PACKAGE.name), ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def tool(name: str) -> str:
    """A command installed by tests/requirements.txt (in the venv next to this Python)."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    assert found, "%s comes from tests/requirements.txt: run tests/run.sh" % name
    return found


def counters(stderr: bytes) -> Dict[str, int]:
    """Sum the firehose-mr counters in a stderr stream."""
    totals = {}  # type: Dict[str, int]
    for line in stderr.decode("utf-8", "replace").splitlines():
        if line.startswith(COUNTER_PREFIX):
            name, value = line[len(COUNTER_PREFIX):].rsplit(",", 1)
            totals[name] = totals.get(name, 0) + int(value)
    return totals


@pytest.fixture(scope="session")
def en_us_locale(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """Environment for a real en_US.UTF-8 locale (compiled with localedef into a temp dir),
    where a plain `sort` orders by collation and can split one key's lines apart."""
    where = tmp_path_factory.mktemp("locale")
    subprocess.run(["localedef", "-i", "en_US", "-f", "UTF-8", str(where / "en_US.UTF-8")],
                   check=True, capture_output=True)
    return clean_env(LOCPATH=str(where), LC_ALL="en_US.UTF-8")


def sigint_at_default() -> None:
    """For Popen(preexec_fn=...): SIGINT at its default in the child, as a shell at a terminal
    starts a command. Started in the background (nohup, &), the suite has SIGINT ignored, and a
    child would inherit that: a ^C test would then test nothing, or hang."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
