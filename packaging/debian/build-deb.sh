#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# build-deb.sh [OUTDIR] — build the limen Debian package.
#
# The debian/ directory lives in packaging/debian/ so the repository's root
# stays the project's own.  This script copies the source tree (without
# build products and git metadata) to a scratch directory, puts
# packaging/debian there as debian/, runs `dpkg-buildpackage -us -uc -b`
# and moves the .deb, .buildinfo and .changes to OUTDIR (default
# build/deb).  The repository itself is never written to, except OUTDIR.
# `make deb` calls it.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/limen-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
src=$work/limen

mkdir -p "$src"
# the working tree as it is, committed or not
(cd "$root" && tar -cf - --exclude=./build --exclude=./bin --exclude=./.git \
    --exclude=__pycache__ --exclude='*.pyc' --exclude=./debian .) |
    (cd "$src" && tar -xf -)
cp -R "$root/packaging/debian" "$src/debian"
rm -f "$src/debian/build-deb.sh"

jobs=$(nproc 2>/dev/null || echo 1)
(cd "$src" && DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) || {
	cat "$work/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed" >&2
	exit 1
}
rm -f "$out"/limen_*.deb "$out"/limen-dbgsym_*.deb "$out"/limen_*.buildinfo \
    "$out"/limen_*.changes
mv "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes "$out"/
cp "$work/build.log" "$out/build.log"
ls "$out"/*.deb
