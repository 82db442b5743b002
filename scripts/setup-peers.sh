#!/usr/bin/env bash
# Install the third-party WebSocket peers used by the integration tests.
#
#   * $REPO/.venv             Python venv with the `websockets` package
#   * $REPO/tests/peers/node_modules   the npm `ws` and `puppeteer-core` packages (from
#                                      package-lock.json; puppeteer-core drives Debian's
#                                      chromium for tests/ops_browser.rs and downloads no browser)
#   * /usr/bin/chromium       Debian's chromium (apt-get, as root), for tests/chromium.rs
#   * tinyproxy              Debian's tinyproxy (apt-get, as root), for tests/proxy.rs
#   * redis-server           Debian's redis-server (apt-get, as root), for cli/tests/redis.rs
#
# Idempotent: each part is skipped when the pinned version is already present.
# Needs only python3 (>= 3.11), node and npm; nothing is installed globally.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PEERS="$REPO/tests/peers"
WEBSOCKETS_VERSION="17.4"   # PyPI `websockets`; needs Python >= 3.11
PIP_BOOTSTRAP_VERSION="26.3" # only used when python3 lacks ensurepip (Debian without python3-venv)

log() { echo "setup-peers: $*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in python3 node npm; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH"
done
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "python3 >= 3.11 is required by websockets==$WEBSOCKETS_VERSION (found $(python3 -V 2>&1))"

# Download pip's wheel from PyPI (sha256-checked) and use it to install pip into the venv.
bootstrap_pip() {
    local tmp
    tmp="$(mktemp -d)"
    "$VENV/bin/python" - "$PIP_BOOTSTRAP_VERSION" "$tmp/pip-$PIP_BOOTSTRAP_VERSION-py3-none-any.whl" <<'PY'
import hashlib, json, sys, urllib.request
version, dest = sys.argv[1], sys.argv[2]
name = f"pip-{version}-py3-none-any.whl"
req = urllib.request.Request("https://pypi.org/simple/pip/",
                             headers={"Accept": "application/vnd.pypi.simple.v1+json"})
files = json.load(urllib.request.urlopen(req, timeout=60))["files"]
entry = next(f for f in files if f["filename"] == name)
data = urllib.request.urlopen(entry["url"], timeout=120).read()
if hashlib.sha256(data).hexdigest() != entry["hashes"]["sha256"]:
    sys.exit(f"sha256 mismatch for {name}")
open(dest, "wb").write(data)
PY
    "$VENV/bin/python" "$tmp/pip-$PIP_BOOTSTRAP_VERSION-py3-none-any.whl/pip" install --quiet \
        "$tmp/pip-$PIP_BOOTSTRAP_VERSION-py3-none-any.whl"
    rm -rf "$tmp"
}

# --- Python: websockets ------------------------------------------------------
if "$VENV/bin/python" -c "import sys, websockets; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" \
        >/dev/null 2>&1; then
    log "python websockets $WEBSOCKETS_VERSION already installed in .venv"
else
    if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        log "creating venv at $VENV"
        rm -rf "$VENV"
        if ! python3 -m venv "$VENV" 2>/dev/null; then
            log "python3 -m venv failed (ensurepip missing?); creating venv without pip and bootstrapping pip"
            rm -rf "$VENV"
            python3 -m venv --without-pip "$VENV"
        fi
    fi
    "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || bootstrap_pip
    log "installing websockets==$WEBSOCKETS_VERSION into .venv"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "websockets==$WEBSOCKETS_VERSION"
    "$VENV/bin/python" -c 'import websockets.asyncio.server, websockets.asyncio.client'
fi

# --- Node: ws, puppeteer-core ------------------------------------------------------
cd "$PEERS"
# Every dependency in package.json, installed at its pinned version?
if node -e '
    const deps = require("./package.json").dependencies;
    for (const [name, want] of Object.entries(deps)) {
        let got = null;
        try { got = require(`./node_modules/${name}/package.json`).version; } catch (e) {}
        if (got !== want) process.exit(1);
    }' 2>/dev/null; then
    log "node peers already installed in tests/peers ($(node -p 'Object.entries(require("./package.json").dependencies).map(([n, v]) => n + " " + v).join(", ")'))"
else
    if [ -f package-lock.json ]; then
        log "npm ci in tests/peers"
        npm ci --no-audit --no-fund --loglevel=error
    else
        log "npm install in tests/peers (no package-lock.json yet)"
        npm install --no-audit --no-fund --loglevel=error
    fi
fi

# --- Chromium (Debian's package), for the browser interop test -------------------
if [ -x /usr/bin/chromium ]; then
    log "chromium already installed ($(/usr/bin/chromium --version 2>/dev/null || echo unknown version))"
else
    command -v apt-get >/dev/null 2>&1 || die "chromium is missing and apt-get is not available to install it"
    [ "$(id -u)" -eq 0 ] || die "chromium is missing and installing it with apt-get needs root"
    log "installing Debian's chromium with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends chromium >/dev/null || die "apt-get install chromium failed"
    [ -x /usr/bin/chromium ] || die "chromium was installed but /usr/bin/chromium is missing"
fi

# --- tinyproxy (Debian's package), for the HTTP CONNECT proxy tests (tests/proxy.rs) ---
if command -v tinyproxy >/dev/null 2>&1; then
    log "tinyproxy already installed ($(tinyproxy -v 2>&1 | head -n1))"
else
    command -v apt-get >/dev/null 2>&1 || die "tinyproxy is missing and apt-get is not available to install it"
    [ "$(id -u)" -eq 0 ] || die "tinyproxy is missing and installing it with apt-get needs root"
    log "installing Debian's tinyproxy with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends tinyproxy >/dev/null || die "apt-get install tinyproxy failed"
    command -v tinyproxy >/dev/null 2>&1 || die "tinyproxy was installed but is not in PATH"
fi

# --- redis-server (Debian's package), for the wsstack serve --redis tests (cli/tests/redis.rs) ---
# The tests start their own redis-server on a free loopback port; the package's
# own service is not needed (and not started where there is no init system).
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    log "redis-server already installed ($(redis-server --version | head -n1))"
else
    command -v apt-get >/dev/null 2>&1 || die "redis-server is missing and apt-get is not available to install it"
    [ "$(id -u)" -eq 0 ] || die "redis-server is missing and installing it with apt-get needs root"
    log "installing Debian's redis-server with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends redis-server >/dev/null || die "apt-get install redis-server failed"
    command -v redis-server >/dev/null 2>&1 || die "redis-server was installed but is not in PATH"
    command -v redis-cli >/dev/null 2>&1 || die "redis-cli (redis-tools) is missing after installing redis-server"
fi
