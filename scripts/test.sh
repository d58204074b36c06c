#!/bin/sh
# Build sevpn-proxy and run every test: the README's test command, and what CI runs.
#   1. installs what is missing (Debian/Ubuntu packages; lwIP source into ~/.cache)
#   2. plain build with -Werror: unit tests, fuzz-corpus replays, integration tests
#      (the real SoftEther server in network namespaces: needs root, skipped otherwise)
#   3. ASan/UBSan build: unit tests, corpus replays, test-hub tests
#   4. libFuzzer build (clang-14): each fuzz target runs briefly
# Environment: JOBS (parallel build jobs), FUZZ_SECONDS (per target, default 20),
#              SV_SKIP_SANITIZE=1 / SV_SKIP_FUZZ=1 to shorten a local run.
set -eu
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
fuzz_seconds=${FUZZ_SECONDS:-20}
start=$(date +%s)

step() { printf '\n=== %s (%ss)\n' "$*" "$(($(date +%s) - start))"; }

step "dependencies"
if [ "$(id -u)" -eq 0 ]; then
	scripts/install-deps.sh --integration
else
	scripts/install-deps.sh
fi

step "plain build (-Werror)"
cmake -S . -B build/plain -DSV_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/plain -j"$jobs"
step "tests: unit, fuzz-replay, integration"
(cd build/plain && ctest --output-on-failure -j"$jobs" -LE 'real-server')
(cd build/plain && ctest --output-on-failure -L 'real-server')

if [ "${SV_SKIP_SANITIZE:-0}" != 1 ]; then
	step "ASan/UBSan build"
	cmake -S . -B build/asan -DSV_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
		-DSV_SANITIZE=address,undefined >/dev/null
	cmake --build build/asan -j"$jobs"
	step "tests under ASan/UBSan: unit, fuzz-replay, hub"
	(cd build/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j"$jobs" -L 'unit|fuzz-replay|hub')
fi

if [ "${SV_SKIP_FUZZ:-0}" != 1 ]; then
	step "libFuzzer build (clang-14)"
	cmake -S . -B build/fuzz -DSV_FUZZ=ON -DCMAKE_C_COMPILER=clang-14 \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build/fuzz -j"$jobs"
	for t in build/fuzz/tests/fuzz_*; do
		[ -x "$t" ] || continue
		name=$(basename "$t")
		corpus=tests/corpus/${name#fuzz_}
		work=$(mktemp -d)
		step "fuzz $name for ${fuzz_seconds}s"
		"$t" -max_total_time="$fuzz_seconds" -print_final_stats=0 "$work" "$corpus" \
			2>"$work.log" || { tail -n 40 "$work.log"; rm -rf "$work" "$work.log"; exit 1; }
		tail -n 1 "$work.log"
		rm -rf "$work" "$work.log"
	done
fi

step "all tests passed"
