"""The two ways a launcher stops short: bad usage (one line, exit status 2) and a failed job or
check (its report, exit status 1)."""


class UsageError(Exception):
    """Bad flags or inputs: one line on stderr, exit status 2."""


class TaskFailed(Exception):
    """A task, or the job, failed: the report to print (exit status 1)."""


class NotInstalled(UsageError):
    """A dependency that is missing: one line that says how to install it, exit status 2."""
