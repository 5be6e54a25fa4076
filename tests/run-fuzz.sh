#!/bin/sh
# Run every libFuzzer target in DIR over its corpus (tests/fuzz/corpus/NAME)
# for FUZZ_SECONDS seconds each; a crash fails the run and leaves the
# input in build/fuzz/crashes/ (add it to the corpus as a regression).
dir=${1:?usage: run-fuzz.sh DIR}
secs=${FUZZ_SECONDS:-10}
passed=0; failed=0
mkdir -p "$dir/crashes"
for t in "$dir"/fuzz_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t"); corpus=tests/fuzz/corpus/${name#fuzz_}
	mkdir -p "$corpus" "$dir/work/$name"
	if "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="$dir/crashes/$name-" "$dir/work/$name" "$corpus" \
	    >"$dir/$name.log" 2>&1; then
		echo "ok - $name ($(grep -c . "$dir/$name.log") log lines, ${secs}s)"
		passed=$((passed + 1))
	else
		echo "not ok - $name: see $dir/$name.log"; tail -n 30 "$dir/$name.log"
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
