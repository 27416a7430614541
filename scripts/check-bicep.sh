#!/usr/bin/env bash
# Compiles every Bicep file under infra/ with the Bicep CLI. The CLI comes from the NuGet package
# Azure.Bicep.CommandLine.linux-x64 (NuGet is the only registry this project's machines reach; the CLI's own
# installers download from elsewhere), fetched by restoring a throwaway project into the NuGet cache.
#
# Prints "PASS <file>" or "FAIL <file>" (with the compiler's output) per file, then one summary line
# "bicep: N passed, N failed"; exits non-zero on any failure. A warning (linter rules included) is a failure, as
# warnings are errors in the C# build too. Compiled ARM JSON goes to a temporary folder, never into the repository.
set -uo pipefail
cd "$(dirname "$0")/.."

readonly PACKAGE="Azure.Bicep.CommandLine.linux-x64"
readonly VERSION="0.49.2"

summary() {
  echo "bicep: $1 passed, $2 failed"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "FAIL the Bicep CLI package used here ($PACKAGE) runs on Linux x86_64 only; this is $(uname -s) $(uname -m)"
  summary 0 1
  exit 1
fi

packages=$(dotnet nuget locals global-packages --list 2>/dev/null | sed -n 's/^global-packages: *//p')
packages=${packages:-${NUGET_PACKAGES:-$HOME/.nuget/packages}}
bicep="${packages%/}/$(echo "$PACKAGE" | tr '[:upper:]' '[:lower:]')/$VERSION/tools/bicep"

if [ ! -f "$bicep" ]; then
  # A project outside the repository, so the repository's Directory.Build.props and central package versions
  # do not apply to it; it only downloads the package.
  cat >"$work/bicep-cli.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="$PACKAGE" Version="[$VERSION]" />
  </ItemGroup>
</Project>
EOF
  if ! dotnet restore "$work/bicep-cli.csproj" --nologo >"$work/restore.log" 2>&1; then
    cat "$work/restore.log"
    echo "FAIL could not restore $PACKAGE $VERSION from NuGet"
    summary 0 1
    exit 1
  fi
fi

if [ ! -f "$bicep" ]; then
  echo "FAIL $PACKAGE $VERSION restored, but $bicep is missing"
  summary 0 1
  exit 1
fi

# NuGet extracts files without the execute bit.
chmod +x "$bicep"
echo "Bicep CLI: $("$bicep" --version 2>&1)"

mapfile -t files < <(find infra -type f -name '*.bicep' | LC_ALL=C sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "FAIL no .bicep files under infra/"
  summary 0 1
  exit 1
fi

# One CLI run for all files (each start of the CLI costs seconds), on a copy of infra/ in the temporary folder so
# the compiled JSON lands there. Each file then passes when the compiler wrote its JSON and said nothing about it.
mkdir -p "$work/out"
cp -R infra "$work/out/"
for file in "${files[@]}"; do
  rm -f "$work/out/${file%.bicep}.json"
done
output=$(cd "$work/out" && "$bicep" build --pattern 'infra/**/*.bicep' 2>&1)
status=$?

passed=0
failed=0
for file in "${files[@]}"; do
  diagnostics=$(grep -F "$work/out/$file(" <<<"$output" | grep -E ': (Warning|Error) ' | sed "s|$work/out/||")
  if [ -f "$work/out/${file%.bicep}.json" ] && [ -z "$diagnostics" ]; then
    echo "PASS $file"
    passed=$((passed + 1))
  else
    echo "FAIL $file"
    sed 's/^/    /' <<<"${diagnostics:-(no JSON was written)}"
    failed=$((failed + 1))
  fi
done

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "FAIL bicep build exited with $status:"
  sed 's/^/    /' <<<"$output"
  failed=$((failed + 1))
fi

# azd fills infra/main.parameters.json from its environment: every parameter named there must exist in main.bicep.
if [ -f infra/main.parameters.json ] && [ -f "$work/out/infra/main.json" ]; then
  if problem=$(node -e '
    const fs = require("fs");
    const given = Object.keys(JSON.parse(fs.readFileSync(process.argv[1], "utf8")).parameters || {});
    const declared = Object.keys(JSON.parse(fs.readFileSync(process.argv[2], "utf8")).parameters || {});
    const unknown = given.filter(p => !declared.includes(p));
    if (unknown.length) { console.log("unknown parameters: " + unknown.join(", ")); process.exit(1); }
  ' infra/main.parameters.json "$work/out/infra/main.json" 2>&1); then
    echo "PASS infra/main.parameters.json"
    passed=$((passed + 1))
  else
    echo "FAIL infra/main.parameters.json: $problem"
    failed=$((failed + 1))
  fi
fi

summary "$passed" "$failed"
[ "$failed" -eq 0 ]
