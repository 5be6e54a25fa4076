#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# bench/run.sh [bench.py options] — `make bench`: limen beside nginx and
# HAProxy.  Installs the packages of bench/deps.txt that are missing
# (without letting Debian start nginx or HAProxy as services: a temporary
# policy-rc.d refuses that), then runs bench/bench.py with Debian's
# python3.  The table goes to stdout and build/bench/results.{md,json};
# docs/performance.md explains how to read it.
set -eu
cd "$(dirname "$0")/.."

missing=""
# shellcheck disable=SC2013  # one package name per line
for p in $(sed -e '/^#/d' -e '/^$/d' bench/deps.txt); do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "bench: installing:$missing" >&2
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee $policy >/dev/null
		$SUDO chmod 0755 $policy
	fi
	export DEBIAN_FRONTEND=noninteractive
	rc=0
	# shellcheck disable=SC2086
	{ $SUDO apt-get update -qq &&
	  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null; } || rc=$?
	[ -n "$policy" ] && $SUDO rm -f $policy
	[ $rc -eq 0 ] || exit $rc
fi

exec /usr/bin/python3 bench/bench.py "$@"
