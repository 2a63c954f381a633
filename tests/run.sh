#!/usr/bin/env bash
# Install what the tests need (into .venv, from tests/requirements.txt) and run the whole suite.
# Extra arguments go to pytest, e.g.:  tests/run.sh -m hadoop   or   tests/run.sh -k reducer
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: tests/run.sh [PYTEST ARGS...]

Creates .venv (if missing), installs the pinned test dependencies from
tests/requirements.txt (which includes requirements.txt) into it, and runs
pytest on tests/. Real Apache Hadoop is resolved by Maven the first time the
Hadoop tests run (cached in ~/.m2).

  tests/run.sh               the whole suite
  tests/run.sh -m hadoop     only the real-Hadoop conformance tests
  tests/run.sh -m "not hadoop"   everything but those
  tests/run.sh tests/test_submit_step.py   one file
USAGE
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv="$root/.venv"
stamp="$venv/.requirements.txt"
# The pinned test tools (pytest 9) need Python 3.10+; the pair itself runs on 3.7+.
new_enough='import sys; sys.exit(sys.version_info < (3, 10))'
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c "$new_enough"; then
  echo "tests/run.sh: the tests need python3 3.10 or newer on PATH (found: $(python3 -V 2>&1 || echo none));" \
    "mapper.py and reducer.py themselves run on 3.7+" >&2
  exit 2
fi
if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c "$new_enough"; then
  rm -rf "$venv"  # made by an older python3: made anew
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# Installed anew when either pin list changes (tests/requirements.txt includes requirements.txt).
wanted="$(cat requirements.txt tests/requirements.txt)"
if [ ! -f "$stamp" ] || [ "$wanted" != "$(cat "$stamp")" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -r tests/requirements.txt
  printf '%s\n' "$wanted" >"$stamp"
fi

export PATH="$venv/bin:$PATH"
where=(tests)  # the whole suite, unless files or tests are named
for arg in "$@"; do
  case "$arg" in tests/* | *.py | *::*) where=() ;; esac
done
exec "$venv/bin/python" -m pytest ${where[@]+"${where[@]}"} "$@"
