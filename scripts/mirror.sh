#!/bin/sh
# SPDX-License-Identifier: MIT
# mirror.sh DIR: copies the source tree (tracked and new files, plus the generated
# autotools files) into DIR with their modification times, for a second build with
# other flags (sanitizers, fuzzing) that leaves the normal in-tree build alone.
# (automake refuses a VPATH build once the source tree itself is configured, which
# scripts/build.sh does, so the second build gets a copy of the sources instead.)
set -eu
cd "$(dirname "$0")/.."
dest=${1:?usage: mirror.sh DIR}
mkdir -p "$dest"
{
	git ls-files -co --exclude-standard
	echo configure; echo Makefile.in; echo aclocal.m4; echo config.h.in
	find build-aux m4 -type f
} | grep -v -e '^build-san/' -e '^build-fuzz/' -e '^build-tsan/' | sort -u |
	while read -r f; do if [ -f "$f" ]; then echo "$f"; fi; done >"$dest/.mirror-files"
tar -cf - -T "$dest/.mirror-files" | tar -xf - -C "$dest"
