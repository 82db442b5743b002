#!/usr/bin/env bash
# Full check of wsstack: peers setup, fmt, clippy, docs, no-default-features build, tests.
# Stops at the first failing step (non-zero exit).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd)"

step() {
    echo
    echo "=================================================================="
    echo "==> $*"
    echo "=================================================================="
}

step "setup test peers (scripts/setup-peers.sh)"
./scripts/setup-peers.sh

export WSSTACK_PYTHON="$REPO/.venv/bin/python"
export WSSTACK_NODE_PEERS="$REPO/tests/peers"

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets --all-features -- -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "RUSTDOCFLAGS=\"-D warnings\" cargo doc --no-deps --all-features (library and cli)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features -p wsstack
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib -p wsstack-cli

step "cargo build --no-default-features"
cargo build --no-default-features

step "cargo test --all-features (library) and cargo test -p wsstack-cli"
cargo test --all-features
cargo test -p wsstack-cli

step "fuzz smoke (scripts/fuzz-smoke.sh): every target builds and survives a short run"
./scripts/fuzz-smoke.sh

step "all checks passed"
