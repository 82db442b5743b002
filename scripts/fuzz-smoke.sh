#!/usr/bin/env bash
# Smoke-run every fuzz target in fuzz/ (cargo-fuzz / libFuzzer) for a short
# time: a build check plus a few seconds of fuzzing from the committed seeds.
#
#   scripts/fuzz-smoke.sh                      # 20 s per target
#   FUZZ_SMOKE_SECONDS=60 scripts/fuzz-smoke.sh
#
# Needs a nightly toolchain (`cargo +nightly`); installs cargo-fuzz with
# `cargo install cargo-fuzz --locked` when `cargo fuzz` is missing.
#
# Each target runs once, alone (one core), with a fresh temporary corpus
# directory (written to, then deleted) plus fuzz/seeds/<target>/ (read only):
#
#   cargo +nightly fuzz run TARGET "$tmp" fuzz/seeds/TARGET -- \
#       -max_total_time=N -timeout=T -print_final_stats=1
#
# Exits non-zero if any target fails to build or fails while fuzzing (crash,
# panic, sanitizer report, timeout or out-of-memory). A failing input is saved
# by libFuzzer under fuzz/artifacts/<target>/ (git-ignored), and the end of
# that target's log (with the stack trace) is printed.
#
# Environment:
#   FUZZ_SMOKE_SECONDS  fuzzing time per target, seconds (default 20)
#   FUZZ_SMOKE_TIMEOUT  libFuzzer -timeout: seconds one input may take
#                       before it counts as a failure (default 30)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_PER_TARGET="${FUZZ_SMOKE_SECONDS:-20}"
UNIT_TIMEOUT="${FUZZ_SMOKE_TIMEOUT:-30}"

log() { echo "fuzz-smoke: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]] \
    || die "FUZZ_SMOKE_SECONDS must be a positive integer (got '$SECONDS_PER_TARGET')"
[[ "$UNIT_TIMEOUT" =~ ^[1-9][0-9]*$ ]] \
    || die "FUZZ_SMOKE_TIMEOUT must be a positive integer (got '$UNIT_TIMEOUT')"
[[ -f fuzz/Cargo.toml ]] || die "fuzz/Cargo.toml not found (run from the wsstack repository)"

if ! cargo +nightly --version >/dev/null 2>&1; then
    die "the nightly toolchain is required ('cargo +nightly --version' failed); install it with: rustup toolchain install nightly"
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    log "cargo-fuzz not found; installing it (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi
log "$(cargo +nightly --version), $(cargo fuzz --version)"

mapfile -t TARGETS < <(cargo +nightly fuzz list)
((${#TARGETS[@]} > 0)) || die "no fuzz targets found (cargo fuzz list is empty)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/fuzz-smoke.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

declare -A BUILD_FAILED=()
start=$(date +%s)
log "building ${#TARGETS[@]} targets: ${TARGETS[*]}"
if ! cargo +nightly fuzz build; then
    log "the combined build failed; building each target alone to find the broken ones"
    for t in "${TARGETS[@]}"; do
        if ! cargo +nightly fuzz build "$t" >"$WORK/build-$t.log" 2>&1; then
            BUILD_FAILED[$t]=1
            log "build of $t failed:"
            tail -n 40 "$WORK/build-$t.log" >&2
        fi
    done
    # A failure of the combined build must never pass silently.
    ((${#BUILD_FAILED[@]} > 0)) || BUILD_FAILED[all]=1
fi
log "build took $(($(date +%s) - start)) s"

SUMMARY=()
failed=0
for t in "${TARGETS[@]}"; do
    if [[ -n "${BUILD_FAILED[$t]:-}" ]]; then
        SUMMARY+=("$(printf '%-20s BUILD FAILED' "$t")")
        failed=1
        continue
    fi
    corpus="$WORK/corpus-$t"
    mkdir -p "$corpus"
    seeds=()
    [[ -d "fuzz/seeds/$t" ]] && seeds=("fuzz/seeds/$t")
    logfile="$WORK/run-$t.log"
    log "running $t for ${SECONDS_PER_TARGET} s"
    t0=$(date +%s)
    status=0
    cargo +nightly fuzz run "$t" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" \
        -timeout="$UNIT_TIMEOUT" \
        -print_final_stats=1 >"$logfile" 2>&1 || status=$?
    elapsed=$(($(date +%s) - t0))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logfile" | tail -n 1)
    units=$(find "$corpus" -type f | wc -l)
    if ((status == 0)); then
        SUMMARY+=("$(printf '%-20s ok      %12s executions  %4d s  (%d new corpus units)' \
            "$t" "${execs:-?}" "$elapsed" "$units")")
    else
        failed=1
        SUMMARY+=("$(printf '%-20s FAILED  %12s executions  %4d s  (exit %d; input under fuzz/artifacts/%s/)' \
            "$t" "${execs:-?}" "$elapsed" "$status" "$t")")
        log "$t failed (exit $status); its report:"
        # From the panic message or sanitizer report to the end (the
        # failing input is listed last), at most 150 lines.
        awk '/panicked at|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|^==[0-9]+==/ { on = 1 } on' \
            "$logfile" | head -n 150 >&2
        grep -q 'panicked at\|ERROR: ' "$logfile" || tail -n 60 "$logfile" >&2
    fi
    rm -rf "$corpus"
done

total=$(($(date +%s) - start))
echo
echo "fuzz smoke summary (${SECONDS_PER_TARGET} s per target, total ${total} s):"
for line in "${SUMMARY[@]}"; do
    echo "  $line"
done
if [[ -n "${BUILD_FAILED[all]:-}" ]]; then
    echo "  cargo +nightly fuzz build failed, though every target built alone"
fi
if ((failed)) || ((${#BUILD_FAILED[@]} > 0)); then
    echo "fuzz smoke: FAILED"
    exit 1
fi
echo "fuzz smoke: ok"
