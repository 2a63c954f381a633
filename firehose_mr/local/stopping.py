"""The signals that stop a run (^C, SIGTERM, SIGHUP: see cli.py), held off the steps that must
not be cut in two: making and removing the temporary directories, and the commit of the output.

The commit is the run's one point of no return. Before it, a signal stops the run and nothing is
left; from it on, the run has succeeded, and a signal that arrives changes nothing of that."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Optional

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class State:
    noted = None  # type: Optional[int]  # a signal that arrived while held
    committed = False  # the output is in place: the run has succeeded


def note(signum: int, frame: Any) -> None:
    State.noted = signum


@contextmanager
def signals_held() -> Iterator[None]:
    """Within: a stopping signal is noted, not acted on (one ignored from the start, as in a
    background job, stays ignored). On leaving, the handlers are back, and a signal noted
    meanwhile raises KeyboardInterrupt then, unless the run has committed its output."""
    previous = [(signum, signal.getsignal(signum)) for signum in STOPPING]
    for signum, handler in previous:
        if handler not in (signal.SIG_IGN, None):
            signal.signal(signum, note)
    try:
        yield
    finally:
        if not State.committed:
            for signum, handler in previous:
                if handler is not None:  # None: a handler not set from Python, left as it is
                    signal.signal(signum, handler)
            if State.noted is not None:
                State.noted = None
                raise KeyboardInterrupt


def mark_committed() -> None:
    """The output is in place (call it with signals held): from now on, signals stay held,
    and the run ends as the success it is."""
    State.committed = True


def committed() -> bool:
    return State.committed


def start_thread(thread: threading.Thread) -> None:
    """thread.start(), from the main thread, with signals held: a KeyboardInterrupt inside it
    can leave its Condition's lock broken (CPython), and end the run in a RuntimeError."""
    if threading.current_thread() is not threading.main_thread():  # no signal arrives there
        thread.start()
        return
    with signals_held():
        thread.start()
