#!/usr/bin/env bash
# under-load.sh RUNS COMMAND...: run COMMAND RUNS times in a row while one
# core is kept busy, stopping at the first failure. It shows whether the
# suite stays green on a loaded machine, as CI's shared 2-core one is.
set -uo pipefail
runs=$1
shift
yes >/dev/null &
load=$!
trap 'kill $load 2>/dev/null' EXIT
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  if ! "$@"; then
    echo "under-load: run $i of $runs failed: $*" >&2
    exit 1
  fi
  echo "under-load: run $i of $runs passed in $(( $(date +%s) - start )) s"
done
echo "under-load: $runs of $runs runs passed with one core busy"
