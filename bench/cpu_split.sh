#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# cpu_split.sh — one load run against a proxy started by `bench.py --serve`,
# printing the proxy's user and system CPU time per request separately
# (bench.py reports only their sum).  For profiling work on issue 6: the
# system part is mostly the kernel's TCP work that every proxy pays alike.
#
#   python3 bench/bench.py --serve > /tmp/serve.json < some-fifo &
#   bench/cpu_split.sh /tmp/serve.json limen http /small.txt 50 5
#   bench/cpu_split.sh /tmp/serve.json nginx https /small.txt 16 5 h2load
#
# Arguments: serve JSON, proxy, scheme (http|https), path, connections,
# seconds, tool (wrk, the default, or h2load with 16 streams each).
set -eu
J=$1 n=$2 sch=$3 path=$4 c=$5 d=$6 tool=${7:-wrk}
get() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))$1)" "$J"; }
pid=$(get "['proxies']['$n']['pid']")
port=$(get "['proxies']['$n']['${sch}_port']")
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
if [ "$tool" = h2load ]; then
	out=$(taskset -c 1 h2load -c"$c" -m16 -t1 -D "$d" "https://127.0.0.1:$port$path" 2>&1)
	req=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
else
	out=$(taskset -c 1 wrk -t1 -c"$c" -d"${d}s" "$sch://127.0.0.1:$port$path")
	req=$(echo "$out" | awk '/requests in/{print $1}')
fi
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
tck=$(getconf CLK_TCK)
python3 - "$n" "$req" "$u0" "$u1" "$s0" "$s1" "$tck" <<'PY'
import sys
n, r, u0, u1, s0, s1, t = sys.argv[1], *map(int, sys.argv[2:])
us = 1e6 / t / max(r, 1)
print("%-8s %d requests  user %.1f us  sys %.1f us  total %.1f us per request"
      % (n, r, (u1 - u0) * us, (s1 - s0) * us, (u1 - u0 + s1 - s0) * us))
PY
