"""firehose-mr's launchers: the logic behind run_local.sh and submit_step.sh.

    hadoop.py   Hadoop's rules: HashPartitioner, splitArgs, LineReader cuts and splits, hidden
                names, the task environment, counter lines
    globs.py    Hadoop's globs, over local paths and S3 keys
    formats.py  input formats: what is decompressed, what is refused (by name, by magic bytes)
    aws.py      the one place that talks to AWS
    local/      run_local.sh: options, inputs and splits, tasks and the shuffle, the output
                folder, --hadoop

mapper.py and reducer.py stay single files beside this package (Hadoop ships them with -files);
they import nothing from it. Standard library only, Python 3.7+.
"""
