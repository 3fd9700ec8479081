#!/usr/bin/env bash
# run-tests.sh -- the whole test suite, as `make test` and CI run it.
#
# Phases (VX_PHASES, default "normal asan fuzz"):
#   normal  gcc RelWithDebInfo with -Werror in build/, then ctest
#   asan    gcc ASan+UBSan (CMAKE_BUILD_TYPE=Asan) in build-asan/, then ctest: the
#           integration tests then drive the ASan vexxy binary (ctest passes VEXXY_BIN)
#   fuzz    clang with -DVX_BUILD_FUZZERS=ON in build-fuzz/, only the fuzz targets, then
#           `ctest -R fuzz` (a short smoke run over the corpora); skipped without tests/fuzz
# Build directories can be moved with VX_BUILD_DIR, VX_ASAN_DIR, VX_FUZZ_DIR.
#
# ctest's own summary counts a skipped test as passed and a "Not Run" (missing binary) as
# failed; we report skipped ones apart, so the last line is "N passed, N failed, N skipped".
# A build that fails counts as one failed test. Exit status is non-zero if anything failed
# or if no test ran at all.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2

phases=${VX_PHASES:-normal asan fuzz}
build_dir=${VX_BUILD_DIR:-build}
asan_dir=${VX_ASAN_DIR:-build-asan}
fuzz_dir=${VX_FUZZ_DIR:-build-fuzz}
jobs=${JOBS:-2}
# Bounds a hung test; tests that need longer set their own TIMEOUT property.
test_timeout=${VX_TEST_TIMEOUT:-600}

total_pass=0
total_fail=0
total_skip=0
summary=()

now() { date +%s; }

# run_ctest NAME DIR [ctest args...]: runs ctest, adds its counts to the totals.
run_ctest() {
    local name=$1 dir=$2 log rc line total failed skipped disabled passed
    shift 2
    log="$dir/run-tests-ctest.log"
    (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout "$test_timeout" "$@") 2>&1 |
        tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        if grep -q 'No tests were found' "$log"; then
            echo "run-tests: $name: no tests found"
            summary+=("$name: no tests")
            return 0
        fi
        echo "run-tests: $name: ctest printed no summary (exit $rc)"
        total_fail=$((total_fail + 1))
        summary+=("$name: ctest failed to run")
        return 0
    fi
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
    # "***Skipped" = SKIP_RETURN_CODE (77); "Not Run (Disabled)" is outside ctest's total.
    skipped=$(grep -cE 'Test +#[0-9]+: .*\*\*\*Skipped' "$log")
    disabled=$(grep -cE 'Test +#[0-9]+: .*\*\*\*Not Run \(Disabled\)' "$log")
    passed=$((total - failed - skipped))
    total_pass=$((total_pass + passed))
    total_fail=$((total_fail + failed))
    total_skip=$((total_skip + skipped + disabled))
    summary+=("$name: $passed passed, $failed failed, $((skipped + disabled)) skipped")
}

# configure_build NAME DIR [cmake args...]: 0 built, 1 configure failed, 2 build failed.
# The build keeps going past a failed target (make -k), so the tests of everything that did
# build still run and the missing binaries show up as "Not Run" failures.
configure_build() {
    local name=$1 dir=$2 keep=()
    shift 2
    if ! cmake -S . -B "$dir" "$@"; then
        echo "run-tests: $name: cmake configure failed"
        return 1
    fi
    [ -f "$dir/Makefile" ] && keep=(-- -k)
    if ! cmake --build "$dir" -j"$jobs" "${keep[@]}"; then
        echo "run-tests: $name: build failed"
        return 2
    fi
}

# build_and_test NAME DIR [cmake args...]: the normal and asan phases.
build_and_test() {
    local name=$1 dir=$2 rc=0
    configure_build "$@" || rc=$?
    if [ "$rc" -eq 1 ]; then
        total_fail=$((total_fail + 1))
        summary+=("$name: CONFIGURE FAILED")
        return
    fi
    run_ctest "$name" "$dir"
    if [ "$rc" -eq 2 ]; then
        total_fail=$((total_fail + 1))
        summary+=("$name: BUILD FAILED (counted as one failure; tests of what built ran)")
    fi
}

phase_normal() {
    build_and_test normal "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVX_WERROR=ON
}

phase_asan() {
    # -Werror stays in the normal build: -O1 with sanitizers makes gcc emit extra
    # maybe-uninitialized noise that says nothing about the code.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
        LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        build_and_test asan "$asan_dir" -DCMAKE_BUILD_TYPE=Asan
}

phase_fuzz() {
    local targets=()
    if [ ! -f tests/fuzz/CMakeLists.txt ]; then
        echo "run-tests: fuzz: tests/fuzz/CMakeLists.txt absent; nothing to do"
        summary+=("fuzz: no fuzzers yet")
        return
    fi
    if ! command -v clang >/dev/null; then
        echo "run-tests: fuzz: clang not installed (make deps)"
        total_fail=$((total_fail + 1))
        summary+=("fuzz: clang missing")
        return
    fi
    if ! cmake -S . -B "$fuzz_dir" -DCMAKE_C_COMPILER=clang -DVX_BUILD_FUZZERS=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
        total_fail=$((total_fail + 1))
        summary+=("fuzz: CONFIGURE FAILED")
        return
    fi
    # Only the fuzz targets (and the libraries they link): the unit tests were built twice
    # already. Fall back to everything if the target names don't say "fuzz".
    mapfile -t targets < <(cmake --build "$fuzz_dir" --target help |
        sed -nE 's/^\.\.\. (fuzz_[A-Za-z0-9_]+).*/\1/p')
    local args=()
    for t in "${targets[@]}"; do args+=(--target "$t"); done
    if ! cmake --build "$fuzz_dir" -j"$jobs" "${args[@]}"; then
        echo "run-tests: fuzz: build failed"
        total_fail=$((total_fail + 1))
        summary+=("fuzz: BUILD FAILED")
        return
    fi
    run_ctest fuzz "$fuzz_dir" -R fuzz
}

start_all=$(now)
for p in $phases; do
    case "$p" in
    normal | asan | fuzz) ;;
    *) echo "run-tests: unknown phase '$p' (normal, asan, fuzz)"; exit 2 ;;
    esac
    echo "=== run-tests: phase $p"
    t0=$(now)
    "phase_$p"
    echo "=== run-tests: phase $p took $(($(now) - t0)) s"
done

echo
echo "=== run-tests: summary (total $(($(now) - start_all)) s)"
for s in "${summary[@]}"; do echo "  $s"; done
status=0
if [ "$total_fail" -gt 0 ]; then
    status=1
elif [ $((total_pass + total_skip)) -eq 0 ]; then
    echo "run-tests: no test ran"
    status=1
fi
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
exit "$status"
