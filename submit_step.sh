#!/usr/bin/env bash
# submit_step.sh: upload mapper.py and reducer.py to S3 and run them as a Hadoop Streaming step on
# Amazon EMR, after checking everything that would make the step fail. ./submit_step.sh --help
# says how.
#
# This is only the door: the work is done by the package firehose_mr/ beside this script
# (firehose_mr/submit/), with boto3, the AWS SDK for Python (pinned in requirements.txt:
# python3 -m pip install -r requirements.txt).
if [ -z "${BASH_VERSION:-}" ]; then  # started as `sh submit_step.sh`
  echo "submit_step.sh: run it with bash: ./submit_step.sh or bash submit_step.sh" >&2
  exit 2
fi
set -euo pipefail

if ! command -v python3 >/dev/null 2>&1; then
  echo "submit_step.sh: needs python3 on PATH" >&2
  exit 2
fi
# Without -S: boto3 is found in python3's site-packages.
here="${BASH_SOURCE[0]%/*}"  # this script's folder, without starting a dirname process
[ "$here" != "${BASH_SOURCE[0]}" ] || here=.
exec python3 "$here/firehose_mr/__main__.py" submit_step "$@"
