#!/usr/bin/env bash
# Runs every test project. The tests start their own Azurite from node_modules on free ports,
# so the only prerequisites are the .NET 10 SDK and Node.js with npm.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/azurite ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund || { echo "npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
fi

log=$(mktemp)
dotnet test Functions.sln --nologo "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# One summary line per test assembly, e.g. "Passed!  - Failed: 0, Passed: 147, Skipped: 0, ...".
passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
summaries=$(grep -Ec '^(Passed|Failed)! +- ' "$log")
projects=$(grep -c 'Tests.csproj' Functions.sln)
rm -f "$log"

# A project that crashed or did not build prints no summary; count that as a failure too.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
if [ "$summaries" -lt "$projects" ] && [ "$failed" -eq 0 ]; then
  failed=1
fi

echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
