"""How run_local.sh and submit_step.sh start the package: `python3 -S firehose_mr/__main__.py
run_local ARGS...` and `python3 firehose_mr/__main__.py submit_step ARGS...` (without -S: boto3
lives in site-packages). This file is run itself, not the folder (`python3 firehose_mr`, which
works too), since a folder is run through runpy, whose imports take tens of milliseconds in which
a ^C could only end in a traceback. Nothing needs installing for run_local: a copy of the project
is enough, on a laptop or an EMR node.

This file is read by whatever python3 a machine has, so it keeps to syntax that any Python 3
parses, and says so in one line where that Python is older than the project's floor."""
import sys  # built in, as is all that runs before the try at the end: no moment for a ^C to land

FLOOR = (3, 7)


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if sys.version_info < FLOOR:
        sys.stderr.write("%s.sh: needs Python %d.%d or newer; python3 here is %s\n"
                         % (command, FLOOR[0], FLOOR[1], sys.version.split()[0]))
        sys.exit(2)
    import os
    project = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[0] = project  # the package by its name, not its modules by their bare names
    if command == "run_local":
        from firehose_mr.local.cli import command_line
    elif command == "submit_step":
        from firehose_mr.submit.cli import command_line
    else:
        sys.stderr.write("usage: python3 firehose_mr/__main__.py run_local|submit_step ARGS...\n")
        sys.exit(2)
    command_line(project, sys.argv[2:])


if __name__ == "__main__":
    try:  # from the first moment a ^C can be taken in Python: one line for it too
        main()
    except KeyboardInterrupt:  # before the command handled it: nothing was started yet
        try:  # written here, not in a function, whose call would be one more moment for a ^C
            sys.stderr.write("%s.sh: interrupted; no output written\n"
                             % (sys.argv[1] if len(sys.argv) > 1 else ""))
        except BaseException:  # one more ^C, or no stderr to say it on
            pass
        sys.exit(130)
