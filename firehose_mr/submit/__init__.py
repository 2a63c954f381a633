"""submit_step.sh: mapper.py and reducer.py uploaded to S3 and run as a Hadoop Streaming step on
Amazon EMR, after every check that can be made before anything is written.

    cli.py       options, the order of the checks, the run or the dry run, the exit status
    plan.py      pure: URIs, quoting, placement, the step as data, the printed commands, the cost
    checks.py    the pre-flight checks over S3 listings and EMR's answers
    emr_logs.py  pure: a failed step's task log, and its probable cause, from log text
    wait.py      --wait: the step's state, its output, or the logs of its failure
"""

PROG = "submit_step.sh"
