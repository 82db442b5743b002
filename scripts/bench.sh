#!/usr/bin/env bash
# The whole performance suite in one command (docs/BENCHMARKS.md): echo
# matrix with system calls per echo, memory per connection, fan-out, and
# the micro benchmarks. Every case prints one machine-readable key=value
# line, ending with its ratio against the named peer(s).
#
#   ./scripts/bench.sh [ROUNDS]     (default 3 rounds of the echo matrix)
#
# Needs: a release build (made here), taskset (util-linux) and, for the
# system-call counts, perf (Debian's linux-perf; counts are `na` without).
# Benchmarks are never part of the test command: absolute numbers drift
# on a shared machine, so only the ratios inside one run are quoted.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS="${1:-3}"

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr)"
echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ) rounds=$ROUNDS"

cargo build --release -p wsstack-bench --bins --quiet

bin() { echo "target/release/$1"; }

# 1. Echo matrix: 100 x 20 B, 1,000 x 1 KiB, 100 x 64 KiB (and the rest of
#    echo_bench's cases with ECHO_CASES unset).
ECHO_CASES="${ECHO_CASES:-100:20,1000:1024,100:65536}" "$(bin echo_bench)" run "$ROUNDS"

# 2. Memory per idle connection and after one message, per server kind.
"$(bin idle_memory)" "${IDLE_CONNS:-10000}"

# 3. Fan-out, when the benchmark is built.
if [ -x "$(bin fanout)" ]; then
    "$(bin fanout)"
fi

# 4. TLS next to plain, when the benchmark is built.
if [ -x "$(bin tls_echo)" ]; then
    "$(bin tls_echo)"
fi

# 5. Micro benchmarks (criterion), reduced to one line per case.
cargo bench -p wsstack-bench --bench micro --quiet -- --warm-up-time 1 --measurement-time 3 2>/dev/null |
    awk '
        # A case name, alone on its line or (when short) before "time:".
        $1 ~ /^[A-Za-z_0-9]+\/[A-Za-z_0-9]+(\/[A-Za-z_0-9]+)?$/ { name = $1 }
        # Only a case'"'"'s own throughput line, not criterion'"'"'s "change" lines.
        $1 == "thrpt:" && name != "" && $0 !~ /%/ {
            gsub(/\[|\]/, ""); print "micro=" name " thrpt_median=" $4 $5; name = ""
        }
    '

# 6. permessage-deflate against raw zlib-rs (flate2, same backend, level
#    and window): one line per group and direction with the ratio of
#    wsstack's time per message to raw zlib's.
cargo bench -p wsstack-bench --bench deflate --quiet -- --warm-up-time 1 --measurement-time 3 2>/dev/null |
    awk '
        function ns(v, unit) {
            if (unit == "ps") return v / 1000
            if (unit == "ns") return v
            if (unit == "µs" || unit == "us") return v * 1000
            if (unit == "ms") return v * 1000000
            return v * 1000000000
        }
        $1 ~ /^pmd_[A-Za-z0-9_]+\/[a-z]+\/[a-z_0-9]+$/ { name = $1 }
        $1 == "time:" && name != "" {
            gsub(/\[|\]/, "")
            split(name, part, "/")
            t[part[1] "/" part[2], part[3]] = ns($4, $5)
            name = ""
            if (part[3] == "raw_flate2" && (part[1] "/" part[2], "wsstack") in t) {
                w = t[part[1] "/" part[2], "wsstack"]; r = t[part[1] "/" part[2], "raw_flate2"]
                printf "deflate=%s/%s wsstack_ns=%.0f raw_zlib_ns=%.0f ratio_vs_raw_zlib=%.2f\n", part[1], part[2], w, r, w / r
            }
        }
    '
