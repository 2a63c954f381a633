"""The counters as a person at a terminal sees them: the pipe run by hand with its standard error
on a real pseudo-terminal writes one line to read; under Hadoop (its task environment), when
asked (FIREHOSE_MR_COUNTERS=raw), or into a pipe, the `reporter:counter:` lines Hadoop reads."""
import os
import pty
import subprocess

import pytest

from conftest import COUNTER_PREFIX, REPO, clean_env, counters, shell

DATA = (b'{"k":"a","v":1}\n{"k":"b"}\n{"k":"caf\xe9","v":2}\nnot json\n'
        b'{"k":"a","v":"3"}\n{"k":"b","v":5}{"k":"c","v":6}\n')
PIPE = "./mapper.py --key k --value v | LC_ALL=C sort | ./reducer.py"
ROWS = b"a\t2\t4\t1\t3\t2\nb\t2\t5\t5\t5\t5\nc\t1\t6\t6\t6\t6\ncaf\xef\xbf\xbd\t1\t2\t2\t2\t2\n"
RAW_LINES = [COUNTER_PREFIX + line for line in (
    "records,6", "malformed,1", "invalid_utf8,1", "bad_time,0", "no_value,1", "no_text,0", "gzip_data,0")]


def terminal_env(**extra: str):
    """A user's environment (whatever the one running the tests asked for), and `extra`."""
    env = clean_env()
    env.pop("FIREHOSE_MR_COUNTERS", None)
    env.update(extra)
    return env


def on_a_terminal(command: str, stdin: bytes, env):
    """(stdout, what the terminal shows) of a command line run through bash with its standard
    error on a new pseudo-terminal, as a user types it at one; stdout goes to a pipe."""
    terminal, its_device = pty.openpty()
    try:
        process = subprocess.Popen(["bash", "-c", "set -o pipefail; " + command], cwd=str(REPO), env=env,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=its_device)
    finally:
        os.close(its_device)
    out, _ = process.communicate(stdin, timeout=120)
    assert process.returncode == 0
    shown = b""
    while True:
        try:
            data = os.read(terminal, 4096)
        except OSError:  # EIO: every writer is gone and all was read
            break
        if not data:
            break
        shown += data
    os.close(terminal)
    return out, shown.replace(b"\r\n", b"\n").decode()


def test_by_hand_on_a_terminal_each_script_writes_one_line_to_read():
    out, shown = on_a_terminal(PIPE, DATA, terminal_env())
    assert out == ROWS
    assert shown == ("mapper.py: 6 records; skipped 1 malformed, 0 bad_time; 1 line with bad UTF-8 kept; "
                     "1 record without a --value number\n")


def test_the_reducer_on_a_terminal_says_what_it_skipped_in_one_line_to_read():
    out, shown = on_a_terminal("./reducer.py", b"a\x02\t1\nnot mapper output\na\x02\tx\n", terminal_env())
    assert out == b"a\t1\n"
    assert shown.splitlines() == [
        "reducer.py: skipped input line 2, which is not mapper.py output (its key is not a mapper.py key); "
        "such lines are counted as bad_intermediate",
        "reducer.py: skipped 2 lines that are not mapper.py output (bad_intermediate)"]


def test_words_without_text_and_gzip_data_are_in_the_line_too():
    data = b'{"t":"a b"}\n{"t":1}\n{"u":"x"}\n\x1f\x8b\x08 gzip?\n'
    _, shown = on_a_terminal("./mapper.py --words t >/dev/null", data, terminal_env())
    assert shown.splitlines()[-1] == ("mapper.py: 3 records; skipped 1 malformed, 0 bad_time; 1 line with bad "
                                      "UTF-8 kept; 2 records without --words text; 1 line of gzip data")


@pytest.mark.parametrize("asked", [{"FIREHOSE_MR_COUNTERS": "raw"},
                                   {"mapreduce_task_id": "attempt_local0001_m_000000_0"}],
                         ids=["FIREHOSE_MR_COUNTERS=raw", "Hadoop task"])
def test_asked_for_them_or_in_a_hadoop_task_the_terminal_gets_the_counter_lines(asked):
    out, shown = on_a_terminal("./mapper.py --key k --value v >/dev/null; printf 'x\\tk\\n' | ./reducer.py",
                               DATA, terminal_env(**asked))
    assert shown.splitlines() == RAW_LINES + [
        "reducer.py: skipped input line 1, which is not mapper.py output (its key is not a mapper.py key); "
        "such lines are counted as bad_intermediate",
        COUNTER_PREFIX + "bad_intermediate,1"]


def test_into_a_pipe_the_counter_lines_are_written_as_ever():
    result = shell(PIPE, stdin=DATA, env=terminal_env())
    assert result.stdout == ROWS
    assert result.stderr.decode().splitlines() == RAW_LINES
    assert counters(result.stderr)["records"] == 6
