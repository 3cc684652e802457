#!/usr/bin/env bash
# Installs what Kensa needs to build, test and run. Idempotent: re-running it is safe and
# cheap (nothing is reinstalled when the lockfile and Node version have not changed; pass
# --force to reinstall anyway).
#
#   bash scripts/setup.sh            # or: npm run setup
#   ELECTRON_SKIP_BINARY_DOWNLOAD=1 bash scripts/setup.sh   # machines without GitHub access
#
# 1. System packages, only when running as root on Debian/Ubuntu and they are missing:
#    chromium (Playwright browser tests), poppler-utils (pdftotext, report checks), sqlite3
#    (the audit tamper tests edit a project database with the sqlite3 CLI) and mosquitto (the
#    MQTT line-output tests start their own broker; the package's service is not needed) and
#    python3-onnx (the export tests run onnx.checker on every exported graph) and postgresql
#    (the store suite runs a second time on PostgreSQL, in a throwaway cluster the tests make
#    in a temp folder on a loopback port; the package's own cluster/service is not used).
#    Anywhere else this step is skipped quietly; the tests that need them skip themselves.
# 2. npm packages from package-lock.json (npm ci). Two postinstall steps download things:
#    - electron fetches its binary from GitHub;
#    - onnxruntime-node fetches the CUDA execution provider from NuGet (Linux x64).
#    With internet access neither needs anything. Where they cannot download:
#    - ELECTRON_SKIP_BINARY_DOWNLOAD=1 asks for an install without the Electron binary, and
#      then onnxruntime-node's download is skipped too (ONNXRUNTIME_NODE_INSTALL=skip):
#      everything but the desktop window works (CLI, engine, tests, build);
#    - without it, a plain `npm ci` is tried first, and if it fails the install is retried
#      with both skips, so setup still succeeds (and says so).
# 3. better-sqlite3 for Electron (scripts/build-electron-sqlite.mjs), only where the Electron
#    binary is installed: a separate build in native/electron/better_sqlite3.node (a prebuilt
#    binary, else node-gyp against Electron's headers), checked by loading it in Electron. The
#    Node build under node_modules (CLI, web host, tests) stays as it is. Without the binary
#    this step says so in one line and is skipped.
# Never runs electron-rebuild / electron-builder install-app-deps: run here, they delete or
# mislabel better-sqlite3's native build (see ../shared/ENVIRONMENT.md).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

force=0
[[ "${1:-}" == "--force" ]] && force=1

log() { printf 'setup: %s\n' "$*"; }

# ---- 1. system packages ------------------------------------------------------------------
install_system_packages() {
  local missing=()
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
  command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
  [[ -x /usr/sbin/mosquitto ]] || missing+=(mosquitto)
  /usr/bin/python3 -c 'import onnx.checker' >/dev/null 2>&1 || missing+=(python3-onnx)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 || ! -f /etc/debian_version ]] || ! command -v apt-get >/dev/null 2>&1; then
    return 0 # not root on Debian: leave the system alone
  fi
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
    log "apt-get could not install ${missing[*]}; the tests that need them will be skipped"
  fi
}

# ---- 2. npm packages ----------------------------------------------------------------------
stamp=node_modules/.kensa-setup
want_stamp() {
  printf '%s node-%s skip-electron=%s\n' \
    "$(sha256sum package-lock.json | cut -d' ' -f1)" "$(node --version)" "${ELECTRON_SKIP_BINARY_DOWNLOAD:-}"
}

npm_ci_offline() {
  ELECTRON_SKIP_BINARY_DOWNLOAD=1 ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
}

install_npm_packages() {
  if ((force == 0)) && [[ -f $stamp && "$(cat "$stamp")" == "$(want_stamp)" ]] &&
    [[ -f node_modules/better-sqlite3/build/Release/better_sqlite3.node ]]; then
    log "node_modules is up to date with package-lock.json (use --force to reinstall)"
    return 0
  fi
  if [[ -n "${ELECTRON_SKIP_BINARY_DOWNLOAD:-}" ]]; then
    log "npm ci without the Electron binary and onnxruntime-node's CUDA download (ELECTRON_SKIP_BINARY_DOWNLOAD=${ELECTRON_SKIP_BINARY_DOWNLOAD})"
    npm_ci_offline
  elif npm ci --no-audit --no-fund; then
    :
  else
    log "npm ci failed (no access to the Electron/onnxruntime downloads?); retrying without them"
    npm_ci_offline
    log "installed without the Electron binary: the desktop window cannot open on this machine"
  fi
  want_stamp >"$stamp"
}

# ---- 3. better-sqlite3 for Electron ---------------------------------------------------------
build_electron_sqlite() {
  local args=()
  ((force == 1)) && args+=(--force)
  if ! node scripts/build-electron-sqlite.mjs ${args[@]+"${args[@]}"}; then
    log "WARNING: the desktop app will not open projects until better-sqlite3 is built for Electron: run npm run setup again with internet access"
  fi
}

install_system_packages
install_npm_packages
build_electron_sqlite
log "done"
