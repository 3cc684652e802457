#!/usr/bin/env bash
# The whole test suite (`npm test`): lint, type-check, production build, unit/integration
# tests (Vitest) and, where possible, browser end-to-end tests (Playwright).
#
# Every step runs even when an earlier one fails, so one run shows everything that is
# broken. The last line is the summary, `N passed, N failed`, counting each Vitest and
# Playwright test, plus lint, typecheck and build as one check each (a test runner that
# dies before reporting counts as one failure). The exit status is non-zero if anything
# failed.
#
# KENSA_SHARED (the shared models and data sets) defaults to ../shared when that exists.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -z "${KENSA_SHARED:-}" && -d ../shared ]]; then
  KENSA_SHARED="$(cd ../shared && pwd)"
  export KENSA_SHARED
fi

reports="$(mktemp -d)"
trap 'rm -rf "$reports"' EXIT

passed=0
failed=0
summary=()

banner() { printf '\n==> %s\n' "$*"; }

# check NAME CMD...: runs one pass/fail check.
check() {
  local name=$1
  shift
  banner "$name: $*"
  if "$@"; then
    passed=$((passed + 1))
    summary+=("ok    $name")
  else
    failed=$((failed + 1))
    summary+=("FAIL  $name")
  fi
}

# count_json RUNNER FILE RC: prints "PASSED FAILED" from a Vitest or Playwright JSON report.
count_json() {
  node -e '
    const [runner, file, rc] = process.argv.slice(1);
    let p = 0, f = 0;
    try {
      const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
      if (runner === "vitest") {
        p = r.numPassedTests;
        // Files that fail to load have no failed tests: count the file.
        f = r.numFailedTests + (r.testResults ?? []).filter((t) => t.status === "failed" && !(t.assertionResults ?? []).some((a) => a.status === "failed")).length;
      } else {
        p = r.stats.expected + r.stats.flaky;
        f = r.stats.unexpected + (r.errors ?? []).length;
      }
    } catch {
      f = 1; // no report: the runner itself failed
    }
    if (rc !== "0" && f === 0) f = 1;
    console.log(p, f);
  ' "$@"
}

# tests NAME RUNNER REPORT CMD...: runs a test runner and adds its test counts.
tests() {
  local name=$1 runner=$2 report=$3
  shift 3
  banner "$name: $*"
  local rc=0
  "$@" || rc=$?
  local p f
  read -r p f < <(count_json "$runner" "$report" "$rc")
  passed=$((passed + p))
  failed=$((failed + f))
  if ((f == 0)); then summary+=("ok    $name ($p passed)"); else summary+=("FAIL  $name ($p passed, $f failed)"); fi
}

check lint npm run --silent lint
check typecheck npm run --silent typecheck
check build npx electron-vite build

tests vitest vitest "$reports/vitest.json" \
  npx vitest run --reporter=default --reporter=json --outputFile.json="$reports/vitest.json"

# The store suite (test/store) again on PostgreSQL, in a throwaway cluster (vitest.pg.config.ts).
if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  tests vitest-postgres vitest "$reports/vitest-pg.json" \
    npx vitest run -c vitest.pg.config.ts --reporter=default --reporter=json --outputFile.json="$reports/vitest-pg.json"
else
  summary+=("skip  vitest-postgres (PostgreSQL is not installed; scripts/setup.sh installs it as root)")
fi

# Browser end-to-end tests: need Playwright specs, a Playwright config (it points Playwright
# at the system Chromium: `npx playwright install` cannot download browsers here) and
# /usr/bin/chromium (scripts/setup.sh installs it on Debian).
shopt -s nullglob globstar
specs=(test/e2e/**/*.spec.ts test/e2e/**/*.e2e.ts)
configs=(playwright.config.*)
shopt -u nullglob globstar
if ((${#specs[@]} == 0)); then
  summary+=("skip  playwright (no specs in test/e2e)")
elif ((${#configs[@]} == 0)); then
  summary+=("skip  playwright (no playwright.config.*)")
elif [[ ! -x /usr/bin/chromium ]]; then
  summary+=("skip  playwright (/usr/bin/chromium is not installed; run scripts/setup.sh as root)")
else
  export PLAYWRIGHT_JSON_OUTPUT_NAME="$reports/playwright.json"
  tests playwright playwright "$reports/playwright.json" npx playwright test --reporter=list,json
fi

banner summary
printf '  %s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
((failed == 0))
