"""The examples in README.md and docs/*.md that show a command and its output: each is run, and
what it prints must be what the page shows, so that the pages cannot drift from the code.

An example is a ```console block: lines that start with `$ ` are commands (a line ending in a
backslash goes on on the next one), and the lines after a command, up to the next one, are what
it prints on a terminal, stdout and stderr together. The commands of a page run one after the
other through bash (with pipefail), on a pseudo-terminal, in a copy of the project, as a user
runs them from its folder; there,
`events.json` holds the records of sample_data/ (decompressed), which the pages use as "a file
of Firehose events". A block without output lines for a command asks only that it succeeds."""
import errno
import gzip
import os
import pty
import re
import shutil
import subprocess
from pathlib import Path
from typing import List, Tuple

import pytest

from conftest import REPO, SAMPLE_DATA, clean_env, copy_project

PAGES = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
BLOCK = re.compile(r"^```console\n(.*?)^```$", re.M | re.S)

Example = Tuple[str, str]  # a command, and what it prints


def examples(page: Path) -> List[Example]:
    """The commands of a page's console blocks, in order, each with the text shown after it."""
    found = []  # type: List[Example]
    for block in BLOCK.findall(page.read_text(encoding="utf-8")):
        command, shown = None, []  # type: Tuple[object, List[str]]
        lines = iter(block.splitlines())
        for line in lines:
            if line.startswith("$ "):
                if command is not None:
                    found.append((command, "".join(s + "\n" for s in shown)))
                command, shown = line[2:], []
                while command.endswith("\\"):  # kept, so that bash joins the lines as a shell does
                    command += "\n" + next(lines)
            elif command is not None:
                shown.append(line)
        if command is not None:
            found.append((command, "".join(s + "\n" for s in shown)))
    return found


def sample_events() -> bytes:
    """The records of sample_data/, as one file of Firehose events."""
    data = b""
    for path in sorted(p for p in SAMPLE_DATA.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        data += gzip.decompress(raw) if path.name.endswith(".gz") else raw
    return data


def on_a_terminal(command: str, cwd: Path) -> Tuple[int, str]:
    """Exit status, and what the command printed on a terminal (its line ends as written)."""
    main, terminal = pty.openpty()
    with open(os.devnull, "rb") as nothing:
        process = subprocess.Popen(["bash", "-c", "set -o pipefail; " + command], cwd=str(cwd), env=clean_env(),
                                   stdin=nothing, stdout=terminal, stderr=terminal)
    os.close(terminal)
    printed = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError as error:  # EIO: every writer has closed the terminal
            if error.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        printed += chunk
    os.close(main)
    return process.wait(timeout=120), printed.decode("utf-8", "replace").replace("\r\n", "\n")


@pytest.mark.parametrize("page", [p for p in PAGES if examples(p)], ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_example_prints_what_the_page_shows(page: Path, tmp_path: Path) -> None:
    project = copy_project(tmp_path / "firehose-mr", ("run_local.sh", "submit_step.sh", "mapper.py", "reducer.py"))
    shutil.copytree(str(SAMPLE_DATA), str(project / "sample_data"))
    (project / "events.json").write_bytes(sample_events())
    for command, shown in examples(page):
        status, printed = on_a_terminal(command, project)
        if shown:
            assert printed == shown, command
        else:
            assert status == 0, (command, printed)
