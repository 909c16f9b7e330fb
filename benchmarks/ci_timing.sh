#!/usr/bin/env bash
# The README's CI figures (test count, wall time) come from here: one `bash .ci/run` on a fresh clone, timed, with
# the date, machine and load, saved as benchmarks/results/ci_run_<date>.txt. Run it from the repository root:
#
#   CI=true bash benchmarks/ci_timing.sh        # CI=true: missing real data is an error, as in CI
#
# The last lines of the saved file are pytest's summary ("N passed, M skipped in S s") and /usr/bin/time's
# "Elapsed (wall clock) time".
set -euo pipefail
cd "$(dirname "$0")/.."
out="benchmarks/results/ci_run_$(date -u +%F).txt"
clone="$(mktemp -d)/edgepose"
git clone -q . "$clone"
{
    echo "date: $(date -u +%FT%TZ)"
    echo "machine: $(uname -srm), $(nproc) CPUs"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "command: bash .ci/run (fresh clone of $(git rev-parse --short HEAD), uncommitted changes not included)"
    cd "$clone" && EDGEPOSE_DATA="${EDGEPOSE_DATA:-$(cd "$OLDPWD/.." && pwd)/shared/data}" \
        /usr/bin/time -v bash .ci/run 2>&1
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out"
echo "saved: $out"
