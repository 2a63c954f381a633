"""`python3 -S firehose_mr run_local ARGS...` and `python3 firehose_mr submit_step ARGS...`: how
run_local.sh and submit_step.sh start the package (submit_step without -S: boto3 lives in
site-packages). The folder is run as a program, so nothing else needs installing for run_local:
a copy of the project is enough, on a laptop or an EMR node.

This file is read by whatever python3 a machine has, so it keeps to syntax that any Python 3
parses, and says so in one line where that Python is older than the project's floor."""
import os
import sys

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOOR = (3, 7)


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    prog = command + ".sh"
    if sys.version_info < FLOOR:
        sys.stderr.write("%s: needs Python %d.%d or newer; python3 here is %s\n"
                         % (prog, FLOOR[0], FLOOR[1], sys.version.split()[0]))
        sys.exit(2)
    sys.path[0] = PROJECT  # the package by its name, not its modules by their bare names
    try:
        if command == "run_local":
            from firehose_mr.local.cli import command_line
        elif command == "submit_step":
            from firehose_mr.submit.cli import command_line
        else:
            sys.stderr.write("usage: python3 firehose_mr run_local|submit_step ARGS...\n")
            sys.exit(2)
        command_line(PROJECT, sys.argv[2:])
    except KeyboardInterrupt:  # a ^C before the command handles it: nothing was started yet
        sys.stderr.write("%s: interrupted; no output written\n" % prog)
        sys.exit(130)


if __name__ == "__main__":
    main()
