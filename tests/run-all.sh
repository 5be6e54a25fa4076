#!/bin/sh
# The body of `make test`: unit and integration tests on the plain and the
# sanitized build, then a short fuzz run.  Prints each suite's closing line
# and one total "N passed, N failed" line; exits 1 if any suite failed.
# Expects the builds to exist (the Makefile makes them first).
set -u
total_p=0; total_f=0; status=0
mkdir -p build
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export FUZZ_SECONDS=${FUZZ_SECONDS:-5}

suite() {   # suite NAME COMMAND...
	name=$1; shift
	log=build/test-$name.log
	echo "== $name"
	{ "$@"; echo "$?" >build/.rc-$name; } 2>&1 | tee "$log"
	rc=$(cat build/.rc-$name)
	# pytest: "3 passed, 1 failed in 2.0s" / "2 failed, 3 passed"; ours: "N passed, N failed"
	last=$(grep -E '[0-9]+ (passed|failed)' "$log" | tail -n1)
	p=$(echo "$last" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+'); p=${p:-0}
	f=$(echo "$last" | grep -Eo '[0-9]+ (failed|errors?)' | awk '{s += $1} END {print s + 0}')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	total_p=$((total_p + p)); total_f=$((total_f + f))
	[ "$rc" -eq 0 ] || status=1
}

suite unit tests/run-unit.sh build/rel/tests
suite unit-san tests/run-unit.sh build/san/tests
suite integration make --no-print-directory test-integration
suite integration-san make --no-print-directory SAN=1 test-integration
suite fuzz tests/run-fuzz.sh build/fuzz
echo "total: $total_p passed, $total_f failed"
exit $status
