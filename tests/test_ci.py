""".ci/run on a machine that lacks some of the tools it needs: it names each missing one and
stops before running anything."""
import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

from conftest import REPO


def ci_with_only(tmp_path: Path, tools: List[str]) -> subprocess.CompletedProcess:
    """.ci/run with a PATH of the commands it runs before its checks, and stand-ins for `tools`
    (the check only looks for them)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("dirname", "date"):
        (folder / name).symlink_to(shutil.which(name))
    for name in tools:
        (folder / name).write_text("#!/bin/sh\nexit 3\n")
        (folder / name).chmod(0o755)
    return subprocess.run([shutil.which("bash"), str(REPO / ".ci" / "run")], env={"PATH": str(folder)},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("present, missing", [
    ([], "python3 java mvn"),
    (["python3"], "java mvn"),
    (["java", "mvn"], "python3"),
    (["python3", "java"], "mvn"),
])
def test_ci_names_each_tool_that_is_missing(tmp_path, present, missing):
    result = ci_with_only(tmp_path, present)
    assert result.returncode == 1
    assert result.stderr == "CI needs python3, java and mvn on PATH; missing: %s\n" % missing
    assert result.stdout.startswith("== firehose-mr CI: ") and len(result.stdout.splitlines()) == 1
