#!/usr/bin/env bash
# run_local.sh: run a Hadoop Streaming job on this machine the way Hadoop runs it (one mapper
# per input split, HashPartitioner, sort, combiner, part files, counters), or with --hadoop
# through the real `hadoop` on PATH. ./run_local.sh --help says how.
#
# This is only the door: the runner is the package firehose_mr/ beside this script (Python 3.7+,
# standard library only; see firehose_mr/local/), so a copy of the project is all a machine needs.
if [ -z "${BASH_VERSION:-}" ]; then  # started as `sh run_local.sh`
  echo "run_local.sh: run it with bash: ./run_local.sh or bash run_local.sh" >&2
  exit 2
fi
set -euo pipefail

if ! command -v python3 >/dev/null 2>&1; then
  echo "run_local.sh: needs python3 on PATH" >&2
  exit 2
fi
# The package's __main__.py run as a file: a folder would be run through runpy, whose start-up
# leaves a ^C nothing to end in but a traceback.
here="${BASH_SOURCE[0]%/*}"  # this script's folder, without starting a dirname process
[ "$here" != "${BASH_SOURCE[0]}" ] || here=.
exec python3 -S "$here/firehose_mr/__main__.py" run_local "$@"
