"""firehose-mr's launchers: the logic behind run_local.sh and submit_step.sh.

    hadoop.py   Hadoop's rules: HashPartitioner, splitArgs, LineReader cuts and splits, hidden
                names, the task environment, counter lines
    globs.py    Hadoop's globs, over local paths and S3 keys
    formats.py  input formats: what is decompressed, what is refused (by name, by magic bytes)
    firehose.py the Firehose layout: delivery-hour folders, object names, date ranges
    aws.py      the one place that talks to AWS (the AWS CLI for run_local.sh, boto3 for
                submit_step.sh)
    errors.py   bad usage (exit status 2) and a failed job or check (1)
    local/      run_local.sh: options, inputs and splits, tasks and the shuffle, the output
                folder, --hadoop, --on (another machine over ssh)
    submit/     submit_step.sh: options, the plan (the step as data), the pre-flight checks,
                --wait, and the diagnosis of a failed step from its logs

mapper.py and reducer.py stay single files beside this package (Hadoop ships them with -files);
they import nothing from it. Python 3.7+; standard library only but for boto3 in submit/.
"""
