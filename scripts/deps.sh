#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages cairn builds and tests with, when any is missing.
set -eu

PACKAGES="build-essential autoconf automake libtool pkg-config
libssl-dev openssl libmicrohttpd-dev libgnutls28-dev liblmdb-dev libjansson-dev
libpkcs11-helper1-dev softhsm2 opensc libcurl4-openssl-dev curl libc-ares-dev libcmocka-dev wrk strace
ca-certificates certbot lego pebble uacme dehydrated caddy python3 python3-cryptography python3-acme
clang libclang-rt-14-dev jq faketime xz-utils
mandoc systemd binutils passwd dpkg prometheus python3-aiosmtpd
chromium chromium-driver python3-selenium libnss3-tools
nginx"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "cairn: installing missing packages:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
