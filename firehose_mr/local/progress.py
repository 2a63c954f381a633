"""What a run shows on stderr besides its tasks' own lines: progress on a terminal, and the
counters summed over its tasks."""
from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Dict, Tuple

from ..hadoop import counters_summary
from . import PROG

if TYPE_CHECKING:
    from .tasks import Job


class Progress(threading.Thread):
    """Files done, bytes and elapsed time on a terminal's stderr, once the run is long."""

    def __init__(self, job: Job, total_files: int, total_bytes: int) -> None:
        super().__init__(daemon=True)
        self.job, self.total_files, self.total_bytes = job, total_files, total_bytes
        self.stop = threading.Event()
        self.shown = False
        self.started = time.time()
        self.phase = "map"

    def run(self) -> None:
        while not self.stop.wait(1.0):
            elapsed = time.time() - self.started
            if elapsed < 3:
                continue
            sys.stderr.write("\r%s: %s: %d/%d files, %.1f/%.1f MB, %.0f s\033[K" % (
                PROG, self.phase, self.job.done_files, self.total_files,
                self.job.done_bytes / 1e6, self.total_bytes / 1e6, elapsed))
            sys.stderr.flush()
            self.shown = True

    def finish(self) -> None:
        self.stop.set()
        if self.is_alive():
            self.join()
        if self.shown:
            sys.stderr.write("\r\033[K")


def print_counters(counters: Dict[Tuple[str, str], int]) -> None:
    sys.stderr.write(counters_summary(counters))
