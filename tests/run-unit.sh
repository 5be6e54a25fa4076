#!/bin/sh
# Run every unit-test binary in DIR; print each one's closing line and a
# total "N passed, N failed" line.  Exit 1 if any test failed.
dir=${1:?usage: run-unit.sh DIR}
passed=0; failed=0
for t in "$dir"/test_*; do
	[ -x "$t" ] || continue
	out=$("$t" 2>&1); rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "--- $(basename "$t") failed (exit $rc); its whole output:"
		echo "$out" | grep -v '^ok ' | tail -n 60
	fi
	line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n1)
	if [ -z "$line" ]; then
		echo "$(basename "$t"): crashed (exit $rc)"; failed=$((failed + 1)); continue
	fi
	p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
	echo "$(basename "$t"): $line"
	passed=$((passed + p)); failed=$((failed + f))
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && failed=$((failed + 1))
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
