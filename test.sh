#!/usr/bin/env bash
# Installs what the tests need (Azurite, pinned in package.json/package-lock.json; Debian's Chromium for the
# dashboard's browser tests; Debian's PostgreSQL server for the outbox's) and runs every
# test. The last line is the count computed from the test results: "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")"

npm ci --no-audit --no-fund --loglevel=error || { echo "npm ci failed: install Node.js and npm (https://nodejs.org), then run ./test.sh again"; exit 1; }

# The dashboard's browser tests drive Debian's Chromium (no browser download): install it where it is missing.
if [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null; } \
      || echo "Could not install Chromium: the browser tests will fail, saying how to install it (apt-get install -y chromium chromium-driver)."
  else
    echo "Chromium is missing at /usr/bin/chromium: the browser tests will fail, saying how to install it."
  fi
fi

# The outbox tests start their own PostgreSQL server (initdb + pg_ctl on a free port): install Debian's where it is missing.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null; } \
      || echo "Could not install PostgreSQL: the outbox tests will fail, saying how to install it (apt-get install -y postgresql)."
  else
    echo "PostgreSQL's server is missing (/usr/lib/postgresql/*/bin/initdb): the outbox tests will fail, saying how to install it."
  fi
fi

results="$PWD/TestResults"
rm -rf "$results"
dotnet build Tasks.sln -c Release -warnaserror || { echo "tests: 0 passed, 1 failed"; exit 1; }
status=0
# One run per project (or part of one), each with its own result file (runs of a solution can name two files alike).
# The Azure tests run first and alone (their fault suites measure timings), but for the topology tests, which pack,
# build and start apps from the packages and mostly wait on those builds: they run after, beside the outbox's tests
# (which mostly wait on their processes, Azurite and PostgreSQL) and the other projects.
run() {
  local name=$1 project=$2
  dotnet test "$project" -c Release --no-build --logger "trx;LogFileName=$name.trx" --results-directory "$results" "${@:3}"
}
azure=tests/Tasks.Azure.Tests/Tasks.Azure.Tests.csproj
outbox=tests/Tasks.EntityFrameworkCore.Tests/Tasks.EntityFrameworkCore.Tests.csproj
mkdir -p "$results"
run Tasks.Azure.Tests "$azure" --filter "FullyQualifiedName!~TopologyTests" "$@" || status=$?
run Tasks.EntityFrameworkCore.Tests "$outbox" "$@" >"$results/outbox.log" 2>&1 &
outbox_pid=$!
run Tasks.Azure.Tests.Topology "$azure" --filter "FullyQualifiedName~TopologyTests" "$@" >"$results/topology.log" 2>&1 &
topology_pid=$!
for project in tests/*/*.csproj; do
  [ "$project" = "$azure" ] || [ "$project" = "$outbox" ] && continue
  run "$(basename "$project" .csproj)" "$project" "$@" || status=$?
done
wait "$outbox_pid" || status=$?
wait "$topology_pid" || status=$?
cat "$results/outbox.log" "$results/topology.log"

passed=0
failed=0
shopt -s nullglob
for trx in "$results"/*.trx; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
done

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "dotnet test exited with $status before reporting failures (a build error?)"
  failed=$((failed + 1))
fi
echo "tests: $passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
