#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds cairn_VERSION_ARCH.deb with dpkg-deb from `make install` into a staging tree
# (prefix /usr, /etc, /var): the binary, cairn(1) and cairn.json(5), bash completion,
# cairn.service, /etc/cairn/environment (a conffile) and the maintainer scripts of
# packaging/debian/. Run in a configured tree (after scripts/build.sh).
#   scripts/package.sh [OUTDIR]     (default: the current directory)
# Prints the path of the .deb.
set -eu

OUT=$(cd "${1:-.}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CAIRN_BUILDDIR:-$SRC}
[ -f "$BUILD/Makefile" ] || { echo "package.sh: no Makefile in $BUILD (run scripts/build.sh)" >&2; exit 1; }

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/cairn-pkg.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT INT TERM

make -C "$BUILD" -s cairn >/dev/null
make -C "$BUILD" -s install DESTDIR="$STAGE/root" prefix=/usr sysconfdir=/etc \
	localstatedir=/var >/dev/null
R=$STAGE/root
# Debian keeps manual pages compressed; the binary without debug symbols.
gzip -9n "$R/usr/share/man/man1/cairn.1" "$R/usr/share/man/man5/cairn.json.5"
strip --strip-unneeded "$R/usr/bin/cairn"
rm -rf "$R/usr/share/doc" # no docs installed today beyond the man pages
install -d -m 0755 "$R/usr/share/doc/cairn"
install -m 0644 "$SRC/LICENSE" "$R/usr/share/doc/cairn/copyright"

VERSION=$(sed -n 's/^PACKAGE_VERSION = //p' "$BUILD/Makefile")
ARCH=$(dpkg --print-architecture)
# Shared-library dependencies: the packages that ship the libraries the binary itself
# links (DT_NEEDED; what those need is their packages' business).
DEPENDS=$(objdump -p "$R/usr/bin/cairn" | awk '$1 == "NEEDED" { print $2 }' |
	while read -r soname; do
		lib=$(ldd "$R/usr/bin/cairn" | awk -v so="$soname" '$1 == so { print $3 }')
		[ -n "$lib" ] || continue
		dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null ||
			dpkg -S "/usr$lib" 2>/dev/null || true
	done | cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g')
SIZE=$(du -sk "$R" | cut -f1)

install -d -m 0755 "$R/DEBIAN"
cat >"$R/DEBIAN/control" <<CONTROL
Package: cairn
Version: $VERSION
Architecture: $ARCH
Maintainer: cairn maintainers <cairn@localhost>
Installed-Size: $SIZE
Depends: $DEPENDS, passwd
Recommends: softhsm2
Section: net
Priority: optional
Homepage: https://localhost/cairn
Description: private certificate authority (ACME, EST, OCSP, CRL, admin API)
 cairn keeps CA keys in a PKCS#11 token, every certificate in LMDB, and serves
 ACME for certbot and lego, EST for devices, OCSP and CRLs for relying parties
 and an admin REST API with approvals and an audit log.
CONTROL
echo /etc/cairn/environment >"$R/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "$SRC/packaging/debian/$s" "$R/DEBIAN/$s"
done

DEB=$OUT/cairn_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$R" "$DEB" >/dev/null
echo "$DEB"
