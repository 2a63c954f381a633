"""How run_local.sh plans a job, as data: which files an INPUT reaches, how they are cut into
map splits and in which order the map tasks are numbered, which commands run. No task is
started."""
import os
from pathlib import Path

import pytest

from firehose_mr.errors import UsageError
from firehose_mr.local.commands import Commands
from firehose_mr.local.inputs import input_splits, resolve_inputs


def tree(root: Path, files: dict) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_a_folder_is_walked_and_hidden_names_are_left_out(tmp_path):
    tree(tmp_path, {"in/2017/02/b": b"x\n", "in/2017/01/a": b"xy\n", "in/_tmp/c": b"1\n",
                    "in/2017/.d": b"1\n", "in/2017/01/_SUCCESS": b""})
    found = resolve_inputs([str(tmp_path / "in")])
    assert [os.path.relpath(i.name, str(tmp_path)) for i in found] == ["in/2017/01/a", "in/2017/02/b"]
    assert [i.uri for i in found] == ["file:" + str(tmp_path / "in/2017/01/a"),
                                      "file:" + str(tmp_path / "in/2017/02/b")]


def test_a_glob_reaches_the_subtree_of_a_folder_it_matches(tmp_path):
    tree(tmp_path, {"in/2017/02/27/14/s-1": b"1\n", "in/2017/02/28/00/s-2": b"1\n",
                    "in/2017/03/01/00/s-3": b"1\n"})
    found = resolve_inputs([str(tmp_path / "in/2017/02/*")])
    assert [os.path.basename(i.name) for i in found] == ["s-1", "s-2"]
    with pytest.raises(UsageError, match="matches 0 files"):
        resolve_inputs([str(tmp_path / "in/2018/*")])


def test_splits_are_numbered_largest_first(tmp_path):
    tree(tmp_path, {"a": b"x" * 10, "b": b"y" * 100, "c.gz": b"z" * 200})
    files = resolve_inputs([str(tmp_path / n) for n in ("a", "b", "c.gz")])
    splits = input_splits(files, 30)
    # b (100 bytes) is cut into 30, 30, 30, 10 (40 left is 1.33 splits); c.gz is compressed:
    # never cut. Equal sizes keep the order of the inputs (a stable sort).
    assert [(os.path.basename(s.name), s.start, s.size) for s in splits] == [
        ("c.gz", 0, 200), ("b", 0, 30), ("b", 30, 30), ("b", 60, 30), ("a", 0, 10), ("b", 90, 10)]


def test_the_commands_of_the_default_job_and_of_a_users_own(tmp_path):
    here = str(Path(__file__).resolve().parents[2])
    own = Commands(None, None, None, True, ["--key", "k"], here)
    assert own.mapper[1:] == ["-S", os.path.join(here, "mapper.py"), "--key", "k"]
    assert own.combiner is not None and own.combiner[2:] == [os.path.join(here, "reducer.py"), "--combine"]
    theirs = Commands("/bin/cat -n", "'my reducer' x", None, False, ["--f"], here)
    assert theirs.mapper == ["/bin/cat", "-n", "--f"]
    assert theirs.reducer == ["my reducer", "x"] and theirs.combiner is None and theirs.own == []
