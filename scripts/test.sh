#!/usr/bin/env bash
# Runs every test and ends with one line: "N passed, N failed, N skipped". Exit code 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

dotnet test GraphCompiler.sln -c Release -nologo --logger "trx" --logger "console;verbosity=minimal" --results-directory "$results"
status=$?

passed=0; failed=0; skipped=0; total=0
for trx in "$results"/*.trx; do
  [ -e "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx")
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  total=$((total + $(get total)))
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted)))
  # xunit's skipped tests are in none of the trx counters: they are the total less what ran.
  skipped=$((skipped + $(get total) - $(get executed)))
done

if [ "$total" -eq 0 ] && [ "$status" -ne 0 ]; then
  echo "the build or the test host failed before any test ran"
  failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
