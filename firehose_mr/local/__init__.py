"""run_local.sh: a Hadoop Streaming job run on this machine the way Hadoop runs it.

    cli.py         options and the run's outcome (exit status, signals)
    inputs.py      INPUT arguments to files and S3 objects, and those to map splits
    commands.py    the mapper, reducer and combiner commands
    feed.py        the bytes a task reads and writes: decompressing, cutting lines, partitioning
    pipeline.py    processes connected by pipes, and the report of the stage that failed
    tasks.py       the job: map tasks, the shuffle (sort), reduce tasks, the counters
    forkserver.py  starting the pair's tasks forked from a Python that has imported their modules
                   (forkserver_main.py: that Python's own program)
    output.py      -o DIR: staging, --force, the commit
    stopping.py    ^C, SIGTERM and SIGHUP held off the commit and the clean-up
    progress.py    progress on a terminal, and the counters' summary
    run.py         the job from start to end: plan, work folder, map and reduce stages, output
    hadoop_run.py  --hadoop: the same job through the real Hadoop
    remote.py      --on: the same job on another machine over ssh
"""

PROG = "run_local.sh"
