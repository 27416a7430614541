#!/usr/bin/env bash
# Runs the service locally: Azurite for storage plus the Functions host (Core Tools v4, `func`).
# Settings come from local.settings.json at the repository top, created from the sample on first run.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v func >/dev/null 2>&1; then
  echo "Azure Functions Core Tools v4 ('func') is required; see README.md, 'Run it locally'." >&2
  exit 1
fi

[ -x node_modules/.bin/azurite ] || npm ci --no-audit --no-fund
[ -f local.settings.json ] || cp local.settings.sample.json local.settings.json

mkdir -p .azurite
node_modules/.bin/azurite --silent --skipApiVersionCheck --loose --location .azurite &
azurite=$!
trap 'kill "$azurite" 2>/dev/null || true' EXIT

dotnet build src/AgentSessions.Functions --nologo -o .local/app
cp local.settings.json .local/app/local.settings.json
cd .local/app
func start --port "${PORT:-7071}"
