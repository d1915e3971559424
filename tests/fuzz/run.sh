#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the protocol fuzz harnesses with clang (a standalone CMake project,
# see CMakeLists.txt here) and runs each for a while on a copy of the seed
# corpus. Fails on a build failure or on any finding (crash, sanitizer report,
# leak, timeout, out-of-memory); the input that triggered it is kept in
# <work dir>/artifacts/.
#
#   run.sh <source dir> <work dir> [seconds per harness, default 20]
#
# Environment: QPP_FUZZ_CXX (clang++), QPP_FUZZ_JOBS (build jobs, 1),
# QPP_FUZZ_QT6_DIR (Qt6_DIR for find_package, when not found by default).
set -u

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 <source dir> <work dir> [seconds per harness]" >&2
    exit 2
fi
source_dir=$1
work_dir=$2
seconds=${3:-20}
harnesses="fuzz_frame fuzz_pool_messages fuzz_worker_messages fuzz_sharedbody"

fuzz_dir=$source_dir/tests/fuzz
build_dir=$work_dir/build
mkdir -p "$work_dir" || exit 1

set -- -S "$fuzz_dir" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
if command -v ninja >/dev/null 2>&1 && [ ! -f "$build_dir/CMakeCache.txt" ]; then
    set -- "$@" -G Ninja
fi
if [ -n "${QPP_FUZZ_QT6_DIR:-}" ]; then
    set -- "$@" "-DQt6_DIR=$QPP_FUZZ_QT6_DIR"
fi
echo "== configuring the fuzz harnesses in $build_dir"
if ! CXX=${QPP_FUZZ_CXX:-clang++} cmake "$@"; then
    echo "FAIL: could not configure the fuzz project" >&2
    exit 1
fi
echo "== building"
if ! cmake --build "$build_dir" --parallel "${QPP_FUZZ_JOBS:-1}" \
        --target $harnesses; then
    echo "FAIL: could not build the fuzz harnesses" >&2
    exit 1
fi

# Findings must not be hidden by whatever the caller's environment says.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS UBSAN_OPTIONS

failed=""
for name in $harnesses; do
    corpus=$work_dir/corpus/$name
    artifacts=$work_dir/artifacts
    rm -rf "$corpus"
    mkdir -p "$corpus" "$artifacts" || exit 1
    cp "$fuzz_dir/corpus/$name"/* "$corpus"/ || exit 1
    echo "== $name for $seconds s"
    "$build_dir/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
        "$corpus" >"$work_dir/$name.log" 2>&1
    status=$?
    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::number_of_executed_units|^stat::average_exec_per_sec' \
        "$work_dir/$name.log"
    if [ $status -ne 0 ]; then
        echo "FAIL: $name exited with $status; log: $work_dir/$name.log" >&2
        tail -n 60 "$work_dir/$name.log" >&2
        failed="$failed $name"
    fi
done

if [ -n "$failed" ]; then
    echo "FAIL: findings in:$failed (inputs in $work_dir/artifacts)" >&2
    exit 1
fi
echo "== no findings"
exit 0
