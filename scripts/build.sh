#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds cairn in the source tree: autoreconf, configure (once, or when asked), make.
# Extra arguments go to ./configure (e.g. --enable-sanitizers).
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
[ -x configure ] || autoreconf -fi
if [ ! -f Makefile ] || [ $# -gt 0 ]; then
	./configure -q "$@"
fi
make -j"$(nproc)" >/dev/null
