#!/usr/bin/env bash
# Runs every test project. The tests start their own Azurite from node_modules on free ports, and the browser tests
# Debian's Chromium (installed below when missing), so the prerequisites are the .NET 10 SDK, Node.js with npm and,
# for Chromium, apt-get as root (as in CI).
set -uo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/azurite ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund || { echo "npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
fi

# The Bicep templates in infra/ first: each file compiled counts as one test (scripts/check-bicep.sh says how).
bicep_log=$(mktemp)
bash scripts/check-bicep.sh 2>&1 | tee "$bicep_log"
bicep_status=${PIPESTATUS[0]}
bicep_summary=$(grep -E '^bicep: [0-9]+ passed, [0-9]+ failed$' "$bicep_log" | tail -n 1)
rm -f "$bicep_log"
if [ -n "$bicep_summary" ]; then
  bicep_passed=$(sed -E 's/^bicep: ([0-9]+) passed, ([0-9]+) failed$/\1/' <<<"$bicep_summary")
  bicep_failed=$(sed -E 's/^bicep: ([0-9]+) passed, ([0-9]+) failed$/\2/' <<<"$bicep_summary")
else
  bicep_passed=0
  bicep_failed=0
fi
# A check that failed without saying what it counted is still a failure.
if [ "$bicep_status" -ne 0 ] && [ "$bicep_failed" -eq 0 ]; then
  bicep_failed=1
fi

# The console's browser tests drive Debian's Chromium through Playwright for .NET, given by path (Playwright's own
# browser download cannot work offline; its driver ships in its NuGet package). Installed here when missing; if that
# is impossible the browser tests fail saying so, never silently skip.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ -z "${CHROMIUM_PATH:-}" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser tests"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "apt-get could not install chromium: the browser tests will fail"
  else
    echo "chromium is missing and this user cannot apt-get install it: install Debian's chromium or set CHROMIUM_PATH; the browser tests will fail"
  fi
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

# The benchmark tool (bench/, see README), run for a few seconds so it never rots: it must exit 0 and
# print its JSON line; no timing is checked. It counts as one test. Default configuration, so it reuses
# the build `dotnet test` just made (the solution includes it); the README's -c Release is for figures.
bench_log=$(mktemp)
if timeout 300 dotnet run --project bench/AgentSessions.Bench -- inprocess --sessions 5 --duration 3 >"$bench_log" \
  && grep -q '^{"bench":"agent-sessions"' "$bench_log"; then
  echo "bench smoke: passed"
  bench_passed=1 bench_failed=0
else
  cat "$bench_log"
  echo "bench smoke: failed (no exit 0 with a JSON line from bench/AgentSessions.Bench)"
  bench_passed=0 bench_failed=1
fi
rm -f "$bench_log"

# The same on the Azure Storage engine (the tool starts its own Azurite from node_modules), with --report, so
# that mode and the HTML page cannot rot either; one more test. No build: the line above just built the tool.
bench_log=$(mktemp)
bench_report=$(mktemp --suffix=.html)
if timeout 300 dotnet run --no-build --project bench/AgentSessions.Bench -- inprocess --engine azure-storage --sessions 3 --duration 3 \
    --rounds 1 --report "$bench_report" >"$bench_log" \
  && grep -q '^{"bench":"agent-sessions".*"engine":"azure-storage"' "$bench_log" && grep -q '</svg>' "$bench_report"; then
  echo "bench smoke (azure-storage, --report): passed"
  bench_passed=$((bench_passed + 1))
else
  cat "$bench_log"
  echo "bench smoke (azure-storage, --report): failed (no exit 0 with a JSON line and an HTML report from bench/AgentSessions.Bench)"
  bench_failed=$((bench_failed + 1))
fi
rm -f "$bench_log" "$bench_report"

passed=$((passed + bicep_passed + bench_passed))
failed=$((failed + bicep_failed + bench_failed))
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$bicep_status" -eq 0 ] && [ "$failed" -eq 0 ]
