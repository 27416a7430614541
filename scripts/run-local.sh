#!/usr/bin/env bash
# Runs the service locally: Azurite for storage plus the Functions host (Core Tools v4, `func`), then open
# http://localhost:7071/console/ (PORT changes 7071). Settings come from local.settings.json at the repository top,
# created from the sample on first run. What it needs and is missing, it installs: Azurite and the console's
# libraries (npm ci at the top) and Core Tools (pinned in tools/func/package.json; its install script downloads the
# Functions host, so that needs internet access beyond the npm registry).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "run-local: $*" >&2
  exit 1
}

command -v dotnet >/dev/null 2>&1 || fail "the .NET 10 SDK ('dotnet') is required"
command -v npm >/dev/null 2>&1 || fail "Node.js with npm is required (for Azurite and Core Tools)"

if [ ! -x node_modules/.bin/azurite ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund || fail "npm ci could not install Azurite and the console's libraries from the npm registry (package.json)"
fi

func_bin=""
if command -v func >/dev/null 2>&1; then
  func_bin=$(command -v func)
else
  local_func=tools/func/node_modules/azure-functions-core-tools/bin/func
  if [ ! -x "$local_func" ]; then
    version=$(node -p "require('./tools/func/package.json').devDependencies['azure-functions-core-tools']")
    echo "run-local: 'func' is not on the PATH; installing azure-functions-core-tools@$version into tools/func"
    if ! npm ci --prefix tools/func --no-audit --no-fund || [ ! -x "$local_func" ]; then
      fail "could not install Azure Functions Core Tools $version: the Functions host archive its install script
downloads (Azure.Functions.Cli.<platform>.$version.zip, not on the npm registry) could not be fetched, or the
script did not run (see npm's output above); without internet access beyond the package registries that fails.
Install Core Tools v4 another way (README.md, 'Run it locally') and run this again."
    fi
  fi
  func_bin=$PWD/$local_func
fi

"$func_bin" --version >/dev/null 2>&1 || fail "$func_bin does not run ('func --version' failed)"
[ -f local.settings.json ] || cp local.settings.sample.json local.settings.json

mkdir -p .azurite
node_modules/.bin/azurite --silent --skipApiVersionCheck --loose --location .azurite &
azurite=$!
trap 'kill "$azurite" 2>/dev/null || true' EXIT

dotnet build src/AgentSessions.Functions --nologo -o .local/app
cp local.settings.json .local/app/local.settings.json
cd .local/app
echo "run-local: the console will be at http://localhost:${PORT:-7071}/console/ (sample keys: dev-key-1, dev-key-2)"
"$func_bin" start --port "${PORT:-7071}"
