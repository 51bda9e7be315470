#!/usr/bin/env bash
# Runs every test and ends with one line: "N passed, N failed, N skipped". Exit code 1 on any failure.
# Progress while it runs: a line every 250 tests, every test that took 10 s or more, and each failure
# with its message as soon as it happens.
set -uo pipefail
cd "$(dirname "$0")/.."

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

echo "building (Release)..."
if ! dotnet build GraphCompiler.sln -c Release -nologo -v quiet; then
  echo "the build or the test host failed before any test ran"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
echo "running the tests..."

dotnet test GraphCompiler.sln -c Release --no-build -nologo --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" 2>&1 |
  awk '
    function progress() { printf "... %d tests done: %d passed, %d failed, %d skipped\n", n, p, f, s; fflush() }
    function seconds(line,   m, t) {
      if (match(line, /\[([0-9]+ m )?[0-9]+ s\]$/)) {
        t = substr(line, RSTART + 1, RLENGTH - 2); m = 0
        if (t ~ / m /) { split(t, parts, " m "); m = parts[1]; t = parts[2] }
        sub(/ s$/, "", t); return m * 60 + t
      }
      return 0
    }
    /^ +Passed / { n++; p++; detail = 0; if (seconds($0) >= 10) { print; fflush() } if (n % 250 == 0) progress(); next }
    /^ +Skipped / { n++; s++; detail = 0; if (n % 250 == 0) progress(); next }
    /^ +Failed / { n++; f++; detail = 1; print; fflush(); if (n % 250 == 0) progress(); next }
    /^(Passed|Failed)!|^Total tests|^ +(Passed|Failed|Skipped|Total time):/ { detail = 0; print; fflush(); next }
    detail == 1 { print; fflush(); next }
    /error|Error|Test run for|No test|[Aa]bort|[Cc]rash|Stack overflow|Unhandled|Fatal/ { print; fflush() }
  '
status=${PIPESTATUS[0]}

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
elif [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # The test host stopped (a crash) before reporting every test: that is a failure, whatever was counted.
  echo "the test host stopped before every test had run (see the messages above)"
  failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
