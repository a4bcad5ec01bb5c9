#!/bin/sh
# SPDX-License-Identifier: MIT
# Group commit through the daemon, counted by itself (/metrics): concurrent `cairn issue`
# clients, each certificate pre-signed for OCSP by the refresher. The refresher's stores
# of those answers are background writes: they share the commits of the clients' writes
# instead of each forcing a durable commit of its own: one waits at most 200 ms for
# company, and only then commits alone (the daemon counts those). Every answer still
# lands. Bounded: CLIENTS x PER_CLIENT issuances.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

CLIENTS=4
PER_CLIENT=8
N=$((CLIENTS * PER_CLIENT))
D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"

# metric NAME [FILE]: the daemon's counter NAME (0 when absent), from FILE when given
# (one scrape read for several counters), else from a new scrape.
metric() {
	if [ $# -gt 1 ]; then cat "$2"; else curl -s "$HTTP_URL/metrics"; fi |
		awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }'
}

# client N: PER_CLIENT certificates, one after the other.
client() {
	make_csr "c$1" ec:P-256 "/CN=c$1.example.test" "DNS:c$1.example.test"
	i=0
	while [ $i -lt $PER_CLIENT ]; do
		i=$((i + 1))
		"$CAIRN" issue --dir "$D" --csr "$WORK/c$1.csr" --profile tls-server \
			--out "$WORK/got-c$1-$i.pem" 2>>"$WORK/issue.err"
	done
}

# The daemon's own start-up work (the refresher's first scan) is done first.
ok "the daemon settles after start" quiet
curl -s "$HTTP_URL/metrics" >"$WORK/m0"
W0=$(metric cairn_db_writes_total "$WORK/m0")
C0=$(metric cairn_db_commits_total "$WORK/m0")
O0=$(metric cairn_ocsp_cache_writes_total "$WORK/m0")
L0=$(metric cairn_db_lone_background_commits_total "$WORK/m0")
P0=$(metric cairn_ocsp_presigned_total "$WORK/m0")
PIDS=""
for n in $(seq 1 $CLIENTS); do
	client "$n" &
	PIDS="$PIDS $!"
done
for p in $PIDS; do wait "$p"; done
got=$(ls "$WORK"/got-*.pem 2>/dev/null | wc -l)
tap "$([ "$got" -eq $N ] && echo 1 || echo 0)" "$N concurrent issuances answered ($got)"

# presigned moves after its store is committed: all N answers are durable once it is N.
i=0
while [ $(($(metric cairn_ocsp_presigned_total) - P0)) -lt $N ] && [ $i -lt 200 ]; do
	sleep 0.1
	i=$((i + 1))
done
P=$(($(metric cairn_ocsp_presigned_total) - P0))
tap "$([ "$P" -ge $N ] && echo 1 || echo 0)" "the refresher pre-signed an answer for each new certificate ($P)"
curl -s "$HTTP_URL/metrics" >"$WORK/m1"
W=$(($(metric cairn_db_writes_total "$WORK/m1") - W0))
C=$(($(metric cairn_db_commits_total "$WORK/m1") - C0))
O=$(($(metric cairn_ocsp_cache_writes_total "$WORK/m1") - O0))
L=$(($(metric cairn_db_lone_background_commits_total "$WORK/m1") - L0))
echo "# $W writes ($O of them OCSP cache stores) in $C durable commits ($L of them lone store commits)"
tap "$([ "$O" -ge 1 ] && echo 1 || echo 0)" "the pre-signed answers were stored ($O cache writes)"
# A store commits alone only when no client write came within its 200 ms (the last one,
# or a gap on a loaded machine, where an ASan `cairn issue` can take a second): the
# daemon counts those lone commits itself, each made after the full wait. Every commit
# beyond the client writes must be one of them (before: 51 commits for 32 client writes
# and 25 stores, none of which waited), and not all of them may be lone.
EXCESS=$((C - (W - O)))
tap "$([ "$EXCESS" -le "$L" ] && echo 1 || echo 0)" \
	"every commit beyond the $((W - O)) client writes is a store that waited 200 ms in vain ($EXCESS beyond, $L lone)"
tap "$([ "$L" -lt "$O" ] && echo 1 || echo 0)" \
	"not every store committed alone: $L of $O waited 200 ms for a client's write in vain"

# The certificates themselves are there and well-formed.
SERIAL=$(openssl x509 -in "$WORK/got-c1-1.pem" -noout -serial | cut -d= -f2)
ok "cairn show finds an issued certificate" "$CAIRN" show --dir "$D" "$SERIAL"
ok "every certificate in the database passes certlint" lint_db "$D"
done_testing
