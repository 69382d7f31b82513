#!/usr/bin/env bash
# The aarch64 cross-check (`make test-arm64`, also run by `make test`).
#
# There is no aarch64 Swift SDK here, but the toolchain ships Embedded Swift with an aarch64 standard
# library. So: compile Sources/QuantKernels (the same files as the normal build) under Embedded Swift
# for the boards' CPUs — cortex-a72 (Raspberry Pi 4) and cortex-a76 (Pi 5; the dot-product CPU class
# of Jetson Orin's A78) — together with the shared scenarios (Tests/QuantKernelsTests/Arm64/) and a
# small C driver (Tests/Arm64/main.c), link each with the Debian aarch64 cross gcc (-static-pie), run
# each under qemu-user emulating that CPU, and compare every kernel's outputs with the golden log the
# host build wrote (Arm64GoldenTests): integers bit for bit, floats within 1e-6 relative.
# Any difference, or a kernel that no longer compiles under Embedded Swift, fails.
#
# Environment: SWIFT (default swift), SWIFTC (default: swiftc next to swift),
# QW_ARM64_CPUS (default "cortex-a72 cortex-a76"), QW_ARM64_MIX=1 to also print the hot loops'
# instruction mix, QW_ARM64_SOURCES (default Sources/QuantKernels: the kernel sources compiled for
# aarch64; another directory only to check that an aarch64-only change is caught).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -m)" = aarch64 ]; then
    echo "test-arm64: skipped (the host is aarch64: swift test already ran the kernels natively)"
    exit 0
fi

SWIFT=${SWIFT:-swift}
SWIFTC=${SWIFTC:-$(dirname "$(command -v "$SWIFT")")/swiftc}
CPUS=${QW_ARM64_CPUS:-cortex-a72 cortex-a76}
SOURCES=${QW_ARM64_SOURCES:-Sources/QuantKernels}
OUT=.build/arm64
mkdir -p "$OUT"
GOLDEN=$PWD/.build/arm64-golden.bin
start=$SECONDS

# Cross tools (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user-static).
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64-static >/dev/null \
    || [ ! -e /usr/aarch64-linux-gnu/lib/libc.a ]; then
    scripts/install-deps.sh
fi

# 1. Golden outputs from the host build (the test rebuilds what changed and rewrites the file).
rm -f "$GOLDEN"
if ! QW_ARM64_GOLDEN="$GOLDEN" "$SWIFT" test --filter Arm64GoldenTests >"$OUT.golden.log" 2>&1 || [ ! -s "$GOLDEN" ]; then
    cat "$OUT.golden.log" >&2
    echo "test-arm64: FAIL: could not produce the host golden outputs ($GOLDEN)" >&2
    exit 1
fi

# 2. Per CPU: Embedded Swift objects for QuantKernels, TestSupport and the driver; link; run.
embedded=(-target aarch64-none-none-elf -enable-experimental-feature Embedded -wmo -O -parse-as-library)
build_and_run() {
    local cpu=$1 dir=$OUT/$1
    rm -rf "$dir" && mkdir -p "$dir"
    "$SWIFTC" "${embedded[@]}" -target-cpu "$cpu" -module-name QuantKernels \
        -emit-module -emit-module-path "$dir/QuantKernels.swiftmodule" \
        -c "$SOURCES"/*.swift -o "$dir/QuantKernels.o"
    "$SWIFTC" "${embedded[@]}" -target-cpu "$cpu" -module-name TestSupport \
        -emit-module -emit-module-path "$dir/TestSupport.swiftmodule" \
        -c Tests/TestSupport/SplitMix64.swift -o "$dir/TestSupport.o"
    "$SWIFTC" "${embedded[@]}" -target-cpu "$cpu" -module-name Arm64Driver -I "$dir" \
        -c Tests/QuantKernelsTests/Arm64/*.swift Tests/Arm64/Driver.swift -o "$dir/Driver.o"
    aarch64-linux-gnu-gcc -O2 -static-pie -o "$dir/driver" Tests/Arm64/main.c \
        "$dir/Driver.o" "$dir/QuantKernels.o" "$dir/TestSupport.o" -lm
    # qemu emulates exactly that CPU: an instruction it lacks (e.g. sdot on the A72) is SIGILL.
    qemu-aarch64-static -cpu "$cpu" "$dir/driver" "$GOLDEN" "$cpu"
}

pids=()
for cpu in $CPUS; do
    build_and_run "$cpu" >"$OUT.$cpu.log" 2>&1 &
    pids+=($!)
done
status=0
i=0
for cpu in $CPUS; do
    if wait "${pids[$i]}"; then
        tail -n 1 "$OUT.$cpu.log"
    else
        cat "$OUT.$cpu.log" >&2
        echo "test-arm64: FAIL: $cpu (log: $OUT.$cpu.log)" >&2
        status=1
    fi
    i=$((i + 1))
done

if [ "${QW_ARM64_MIX:-0}" = 1 ] && [ $status -eq 0 ]; then
    export PATH="$(dirname "$SWIFTC"):$PATH"   # swift-demangle
    for cpu in $CPUS; do
        aarch64-linux-gnu-objdump -d --no-show-raw-insn "$OUT/$cpu/driver" >"$OUT/$cpu/driver.s"
        scripts/arm64-instruction-mix.py "$OUT/$cpu/driver.s" >"$OUT/$cpu/mix.txt"
        echo "instruction mix per innermost loop ($cpu): $OUT/$cpu/mix.txt"
    done
fi
[ $status -eq 0 ] && echo "test-arm64: ok ($CPUS; $((SECONDS - start)) s)"
exit $status
