#!/bin/sh
# Runs every test program given as an argument, then every tests/*_test.sh
# script, and prints one closing line: "N passed, N failed, N skipped".
# A program or script exits 0 (passed), 77 (skipped, reason on its output) or
# anything else (failed).
passed=0
failed=0
skipped=0
failures=""

run_one() {
    name=$1
    shift
    "$@"
    rc=$?
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
    elif [ $rc -eq 77 ]; then
        skipped=$((skipped + 1))
        echo "SKIPPED: $name"
    else
        failed=$((failed + 1))
        failures="$failures $name"
        echo "FAILED: $name (exit $rc)"
    fi
}

for t in "$@"; do
    run_one "$(basename "$t")" "$t"
done
# In a build with SANITIZE=address, Python and the programs the scripts
# compile can load the instrumented library only with the ASan runtime
# preloaded. Their own blocks would all count as leaks, so leak detection is
# off in the scripts; the test programs above keep it.
script_env=""
if [ -n "${GSCAM_SAN_PRELOAD:-}" ]; then
    script_env="LD_PRELOAD=$GSCAM_SAN_PRELOAD ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0"
fi
for p in tests/python/test_*.py; do
    [ -e "$p" ] || continue
    run_one "$(basename "$p")" env $script_env "${PYTHON:-/usr/bin/python3}" "$p"
done
for s in tests/*_test.sh; do
    [ -e "$s" ] || continue
    run_one "$(basename "$s")" env $script_env sh "$s"
done

[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
