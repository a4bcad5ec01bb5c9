#!/bin/sh
# SPDX-License-Identifier: MIT
# Installing cairn: `make install` honours DESTDIR and prefix; scripts/package.sh builds a
# .deb that dpkg installs into a scratch root (dpkg --root, maintainer scripts run
# chrootless with DPKG_ROOT): files, the cairn system user, the data directory, the unit
# (systemd-analyze verify), the man pages (mandoc -Tlint; every subcommand and every
# config key present), bash completion (bash -n and a smoke test with COMP_WORDS); the CA
# survives reinstall, remove and purge, and even a purge asked to delete it only moves it.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

BUILD=$(dirname "$CAIRN")
unset MAKEFLAGS MFLAGS MAKELEVEL
for tool in dpkg-deb mandoc systemd-analyze useradd objdump; do
	command -v "$tool" >/dev/null || bail "$tool is missing (scripts/deps.sh installs it)"
done

# make install DESTDIR=... prefix=...
X=$WORK/inst
ok "make install DESTDIR=X prefix=/opt/cairn" make -C "$BUILD" -s install DESTDIR="$X" prefix=/opt/cairn
ok "  ... the binary, both pages, the completion, the unit and /etc under the prefix" sh -c "
	test -x '$X/opt/cairn/bin/cairn' && test -s '$X/opt/cairn/share/man/man1/cairn.1' &&
	test -s '$X/opt/cairn/share/man/man5/cairn.json.5' &&
	test -s '$X/opt/cairn/share/bash-completion/completions/cairn' &&
	test -s '$X/opt/cairn/lib/systemd/system/cairn.service' && test -s '$X/opt/cairn/etc/cairn/environment'"
ok "  ... nothing outside DESTDIR/prefix" sh -c "[ -z \"\$(find '$X' -mindepth 1 -maxdepth 1 ! -name opt)\" ] &&
	[ -z \"\$(find '$X/opt' -mindepth 1 -maxdepth 1 ! -name cairn)\" ]"
ok "  ... the unit names the installed paths" sh -c "
	grep -qx 'ExecStart=/opt/cairn/bin/cairn serve --dir /opt/cairn/var/lib/cairn' '$X/opt/cairn/lib/systemd/system/cairn.service' &&
	grep -qx 'EnvironmentFile=-/opt/cairn/etc/cairn/environment' '$X/opt/cairn/lib/systemd/system/cairn.service' &&
	! grep -q '%[a-z]*%' '$X/opt/cairn/lib/systemd/system/cairn.service'"

# The package.
ok "scripts/package.sh builds a .deb" sh -c "CAIRN_BUILDDIR='$BUILD' sh '$CAIRN_SRCDIR/scripts/package.sh' '$WORK' >'$WORK/deb.path'"
DEB=$(cat "$WORK/deb.path")
[ -f "$DEB" ] || bail "no package: $(cat "$WORK/last.out")"
dpkg-deb -c "$DEB" | awk '{ print $6 }' >"$WORK/contents"
for f in ./usr/bin/cairn ./usr/share/man/man1/cairn.1.gz ./usr/share/man/man5/cairn.json.5.gz \
	./usr/share/bash-completion/completions/cairn ./usr/lib/systemd/system/cairn.service \
	./etc/cairn/environment; do
	ok "  ... ships $f" grep -qx "$f" "$WORK/contents"
done
ok "  ... /etc/cairn/environment is a conffile" sh -c "dpkg-deb --ctrl-tarfile '$DEB' | tar -xO ./conffiles | grep -qx /etc/cairn/environment"
ok "  ... depends on the libraries it links" sh -c "dpkg-deb -f '$DEB' Depends | grep -q libssl3 &&
	dpkg-deb -f '$DEB' Depends | grep -q liblmdb0 && dpkg-deb -f '$DEB' Depends | grep -q libmicrohttpd"
ok "  ... the maintainer scripts parse" sh -c "mkdir '$WORK/ctrl' && dpkg-deb -e '$DEB' '$WORK/ctrl' &&
	sh -n '$WORK/ctrl/postinst' && sh -n '$WORK/ctrl/prerm' && sh -n '$WORK/ctrl/postrm'"

# A scratch root with what dpkg and useradd need.
R=$WORK/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/etc"
: >"$R/var/lib/dpkg/status"
: >"$R/var/lib/dpkg/available"
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"
echo 'root:*:19000:0:99999:7:::' >"$R/etc/shadow"
echo 'root:*::' >"$R/etc/gshadow"
chmod 600 "$R/etc/shadow" "$R/etc/gshadow"
# dpkg_root ARGS...: dpkg on the scratch root; maintainer scripts see DPKG_ROOT.
dpkg_root() { dpkg --root="$R" --force-script-chrootless --force-depends --log=/dev/null "$@"; }

ok "dpkg --root installs it" dpkg_root -i "$DEB"
ok "  ... the binary runs and names its libraries' versions" sh -c "'$R/usr/bin/cairn' --version >'$WORK/version' &&
	grep -q '^cairn ' '$WORK/version' && grep -q '^OpenSSL 3' '$WORK/version' &&
	grep -q '^LMDB 0' '$WORK/version' && grep -q '^libmicrohttpd 0' '$WORK/version'"
ok "  ... a cairn system user: system uid, own group, home /var/lib/cairn, no login" sh -c "
	IFS=: read -r name x uid gid gecos home shell <<EOT
\$(grep '^cairn:' '$R/etc/passwd')
EOT
	[ \"\$uid\" -lt 1000 ] && [ \"\$uid\" -gt 0 ] && [ \"\$home\" = /var/lib/cairn ] &&
	[ \"\$shell\" = /usr/sbin/nologin ] && grep -q \"^cairn:x:\$gid:\" '$R/etc/group'"
UID_C=$(awk -F: '$1 == "cairn" { print $3 }' "$R/etc/passwd")
ok "  ... the data directory, 0700, owned by cairn" sh -c "[ \"\$(stat -c '%a %u' '$R/var/lib/cairn')\" = '700 $UID_C' ]"
printf '.Dd x\n.Dt X 1\n.Os\n.Sh NAME\n.Bl -tag\n.It x\n' >"$WORK/broken.1"
fails "  ... (a broken page fails that check)" mandoc -Tlint -Wwarning "$WORK/broken.1"
"$CAIRN" --help | sed -n 's/^usage: cairn \([a-z]*\).*/\1/p' >"$WORK/commands"
zcat "$R/usr/share/man/man1/cairn.1.gz" >"$WORK/cairn.1"
zcat "$R/usr/share/man/man5/cairn.json.5.gz" >"$WORK/cairn.json.5"
ok "  ... the pages pass mandoc -Tlint (warnings and worse)" mandoc -Tlint -Wwarning "$WORK/cairn.1" "$WORK/cairn.json.5"
ok "  ... cairn(1) has a section for every subcommand of cairn --help" sh -c "
	[ \$(wc -l <'$WORK/commands') -gt 15 ] &&
	while read -r c; do grep -qx \".Ss \$c\" '$WORK/cairn.1' || { echo \"missing \$c\"; exit 1; }; done <'$WORK/commands'"
ok "  ... with every option line of its help" sh -c "
	while read -r c; do '$CAIRN' \"\$c\" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u |
		while read -r o; do grep -q -- \"\$o\" '$WORK/cairn.1' || { echo \"missing \$c \$o\"; exit 1; }; done || exit 1
	done <'$WORK/commands'"
ok "  ... cairn.json(5) has every key of the config table" sh -c "
	'$CAIRN' config keys --json | jq -r '.items[].key' >'$WORK/keys' && [ \$(wc -l <'$WORK/keys') -gt 50 ] &&
	while read -r k; do grep -qxF \".It Cm \$k\" '$WORK/cairn.json.5' || { echo \"missing \$k\"; exit 1; }; done <'$WORK/keys'"
ok "  ... the installed pages are what this binary generates (no stale copy)" sh -c "
	'$CAIRN' man 1 | cmp -s - '$WORK/cairn.1' && '$CAIRN' man 5 | cmp -s - '$WORK/cairn.json.5'"

# The unit.
U=$R/usr/lib/systemd/system/cairn.service
# systemd-analyze verify --root resolves the unit's dependencies and executables in the
# root: give it the system's targets and kill(1), as a real system has them.
for t in /usr/lib/systemd/system/*.target /lib/systemd/system/*.target; do
	[ -e "$t" ] && [ ! -e "$R/usr/lib/systemd/system/${t##*/}" ] && cp -P "$t" "$R/usr/lib/systemd/system/"
done
mkdir -p "$R/usr/bin"
cp /bin/kill "$R/usr/bin/kill"
ln -sfn usr/bin "$R/bin"
ok "systemd-analyze verify accepts the unit, without a word" sh -c "
	systemd-analyze verify --man=no --root='$R' cairn.service >'$WORK/verify.out' 2>&1; rc=\$?
	cat '$WORK/verify.out'; [ \$rc -eq 0 ] && [ ! -s '$WORK/verify.out' ]"
sed 's|^ExecStart=/usr/bin/cairn|ExecStart=/usr/bin/cairn-missing|' "$U" >"$R/usr/lib/systemd/system/cairn-bad.service"
fails "  ... (and refuses one whose binary is missing)" systemd-analyze verify --man=no --root="$R" cairn-bad.service
rm -f "$R/usr/lib/systemd/system/cairn-bad.service"
for line in Type=notify User=cairn Group=cairn ProtectSystem=strict ReadWritePaths=/var/lib/cairn \
	NoNewPrivileges=yes PrivateTmp=yes CapabilityBoundingSet= 'ExecReload=/bin/kill -HUP $MAINPID' \
	'ExecStart=/usr/bin/cairn serve --dir /var/lib/cairn'; do
	ok "  ... $line" grep -qxF "$line" "$U"
done

# Completion.
COMP=$R/usr/share/bash-completion/completions/cairn
ok "the completion parses (bash -n)" bash -n "$COMP"
# complete WORDS...: runs the completion function on the words (the last one being typed).
cat >"$WORK/complete.bash" <<'EOS'
. "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_cairn
printf '%s\n' "${COMPREPLY[@]}"
EOS
complete() { PATH="$R/usr/bin:$PATH" bash "$WORK/complete.bash" "$COMP" "$@" >"$WORK/comp.out"; }
ok "cairn <TAB> offers every subcommand" sh -c "
	PATH='$R/usr/bin:'\"\$PATH\" bash '$WORK/complete.bash' '$COMP' cairn '' | sort >'$WORK/comp.all' &&
	while read -r c; do grep -qx \"\$c\" '$WORK/comp.all' || exit 1; done <'$WORK/commands'"
ok "cairn req<TAB>" complete cairn req
ok "  ... requests" sh -c "[ \"\$(cat '$WORK/comp.out')\" = requests ]"
ok "cairn requests <TAB>" complete cairn requests ''
ok "  ... list show approve reject" sh -c "[ \"\$(sort '$WORK/comp.out' | paste -sd' ')\" = 'approve list reject show' ]"
ok "cairn list --exp<TAB>" complete cairn list --exp
ok "  ... --expiring-within" sh -c "[ \"\$(cat '$WORK/comp.out')\" = --expiring-within ]"
ok "cairn revoke --reason key<TAB>" complete cairn revoke --reason key
ok "  ... keyCompromise" sh -c "[ \"\$(cat '$WORK/comp.out')\" = keyCompromise ]"

# A CA in the packaged data directory, with a profile of its own, for profile completion
# and to see that nothing the package does touches it.
ok "cairn init in /var/lib/cairn of the root" ca_init "$R/var/lib/cairn"
jq '.profiles["vpn-client"] = .profiles["tls-client"]' "$R/var/lib/cairn/cairn.json" >"$WORK/c.json" &&
	cat "$WORK/c.json" >"$R/var/lib/cairn/cairn.json"
ok "cairn issue --dir DIR --profile v<TAB> offers the CA's own profile" complete cairn issue --dir "$R/var/lib/cairn" --profile v
ok "  ... vpn-client" sh -c "[ \"\$(cat '$WORK/comp.out')\" = vpn-client ]"
ok "cairn issue --profile <TAB> without --dir: init's profiles" complete cairn issue --profile ''
ok "  ... tls-server among them" grep -qx tls-server "$WORK/comp.out"
ca_sums() { (cd "$R/var/lib/cairn" && find . -type f ! -name '*.lock' | sort | xargs sha256sum); }
ca_sums >"$WORK/ca.sums"
grep -q ' ./db/data.mdb$' "$WORK/ca.sums" || bail "no database in the CA: $(cat "$WORK/ca.sums")"

ok "reinstalling (dpkg -i again)" dpkg_root -i "$DEB"
ok "  ... leaves the CA byte for byte" sh -c "ca_sums() { (cd '$R/var/lib/cairn' && find . -type f ! -name '*.lock' | sort | xargs sha256sum); }
	ca_sums | cmp -s - '$WORK/ca.sums'"
ok "  ... and one cairn user" sh -c "[ \$(grep -c '^cairn:' '$R/etc/passwd') -eq 1 ] && [ \$(grep -c '^cairn:' '$R/etc/group') -eq 1 ]"

ok "dpkg -r removes it" dpkg_root -r cairn
ok "  ... the binary is gone" test ! -e "$R/usr/bin/cairn"
ok "  ... the CA is untouched" sh -c "(cd '$R/var/lib/cairn' && find . -type f ! -name '*.lock' | sort | xargs sha256sum) | cmp -s - '$WORK/ca.sums'"
ok "  ... the conffile stays until purge" test -f "$R/etc/cairn/environment"
ok "dpkg --purge" dpkg_root --purge cairn
ok "  ... /etc/cairn is gone" test ! -e "$R/etc/cairn/environment"
ok "  ... the CA is still untouched" sh -c "(cd '$R/var/lib/cairn' && find . -type f ! -name '*.lock' | sort | xargs sha256sum) | cmp -s - '$WORK/ca.sums'"

ok "install again, then purge with CAIRN_PURGE_DATA=yes" sh -c "
	dpkg --root='$R' --force-script-chrootless --force-depends --log=/dev/null -i '$DEB' &&
	CAIRN_PURGE_DATA=yes dpkg --root='$R' --force-script-chrootless --force-depends --log=/dev/null --purge cairn"
last_has "  ... saying where, and that it was not deleted" "moved to /var/lib/cairn.removed-.*not deleted"
ok "  ... the CA is not deleted but moved aside, whole" sh -c "
	test ! -e '$R/var/lib/cairn' && set -- '$R'/var/lib/cairn.removed-* && [ \$# -eq 1 ] && test -d \"\$1\" &&
	(cd \"\$1\" && find . -type f ! -name '*.lock' | sort | xargs sha256sum) | cmp -s - '$WORK/ca.sums'"
ok "install again (a new, empty data directory)" dpkg_root -i "$DEB"
ok "  ... purge with CAIRN_PURGE_DATA=yes deletes a directory that holds no CA" sh -c "
	CAIRN_PURGE_DATA=yes dpkg --root='$R' --force-script-chrootless --force-depends --log=/dev/null --purge cairn &&
	test ! -e '$R/var/lib/cairn'"

done_testing
