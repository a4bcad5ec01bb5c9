#!/bin/sh
# SPDX-License-Identifier: MIT
# Crash consistency: concurrent clients issue through the daemon while it is killed
# with SIGKILL at random moments and restarted. Afterwards every certificate a client
# received is in the database and in the audit log, the chain verifies, no serial
# appears twice, and the token still signs. Bounded: ROUNDS kills, each after at most
# ~1 s of issuing, and each client stops after MAX_PER_CLIENT certificates.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

ROUNDS=${CRASH_ROUNDS:-10}
CLIENTS=3
MAX_PER_CLIENT=200
D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"

# rand N: a random number in 0..N-1.
rand() { echo $(( $(od -An -N2 -tu2 /dev/urandom) % $1 )); }

# client N: issues until $WORK/stop exists; keeps what it received in $WORK/got$N/.
client() {
	mkdir -p "$WORK/got$1"
	make_csr "c$1" ec:P-256 "/CN=c$1.example.test" "DNS:c$1.example.test"
	i=0
	while [ ! -e "$WORK/stop" ] && [ $i -lt $MAX_PER_CLIENT ]; do
		i=$((i + 1))
		if "$CAIRN" issue --dir "$D" --csr "$WORK/c$1.csr" --profile tls-server \
			--out "$WORK/got$1/try$i.pem" 2>/dev/null; then
			s=$(openssl x509 -in "$WORK/got$1/try$i.pem" -noout -serial | cut -d= -f2 |
				tr 'A-F' 'a-f')
			openssl x509 -in "$WORK/got$1/try$i.pem" -out "$WORK/got$1/$s.pem"
		else
			sleep 0.05 # the daemon is down or restarting
		fi
		rm -f "$WORK/got$1/try$i.pem"
	done
}

CLIENT_PIDS=""
for n in $(seq 1 $CLIENTS); do
	client "$n" &
	CLIENT_PIDS="$CLIENT_PIDS $!"
done

kills=0 restarted=0
for r in $(seq 1 "$ROUNDS"); do
	sleep "0.$(rand 9)$(rand 10)"
	kill -KILL "$SERVE_PID" 2>/dev/null && kills=$((kills + 1))
	wait "$SERVE_PID" 2>/dev/null
	ca_serve "$D" && restarted=$((restarted + 1))
done
touch "$WORK/stop"
for pid in $CLIENT_PIDS; do wait "$pid"; done

tap "$([ $kills -eq "$ROUNDS" ] && echo 1 || echo 0)" "daemon killed with SIGKILL $kills times while issuing"
tap "$([ $restarted -eq "$ROUNDS" ] && echo 1 || echo 0)" "daemon restarted after every kill ($restarted)"
ls "$WORK"/got*/*.pem 2>/dev/null | sed 's|.*/||; s|\.pem$||' | sort >"$WORK/received"
echo "# clients received $(wc -l <"$WORK/received") certificates across $kills kills"
ok "clients received certificates" test -s "$WORK/received"
ok "no serial was received twice" sh -c "[ -z \"\$(uniq -d '$WORK/received')\" ]"

missing=0
for f in "$WORK"/got*/*.pem; do
	s=$(basename "$f" .pem)
	"$CAIRN" show --dir "$D" --pem "$s" >"$WORK/stored.pem" 2>/dev/null &&
		cmp -s "$WORK/stored.pem" "$f" || { echo "# $s not stored as received"; missing=$((missing + 1)); }
done
tap "$([ $missing -eq 0 ] && echo 1 || echo 0)" "every received certificate is in the database, byte for byte"

ok "audit export works after the kills" sh -c "'$CAIRN' audit export --dir '$D' --format jsonl \
	>'$WORK/audit.jsonl'"
grep '"action":"cert.issue"' "$WORK/audit.jsonl" |
	sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p' | sort >"$WORK/audited"
ok "every received certificate has its issuance event" sh -c "
	[ -z \"\$(comm -23 '$WORK/received' '$WORK/audited')\" ]"
ok "no serial has two issuance events" sh -c "[ -z \"\$(uniq -d '$WORK/audited')\" ]"
"$CAIRN" list --dir "$D" --json 2>/dev/null | jq -r '.items[].serial' |
	sort >"$WORK/listed"
ok "no serial appears twice in the database" sh -c "[ -z \"\$(uniq -d '$WORK/listed')\" ]"
ok "every issuance event has its certificate (one transaction)" sh -c "
	[ -z \"\$(comm -23 '$WORK/audited' '$WORK/listed')\" ]"
ok "audit verify passes" "$CAIRN" audit verify --dir "$D"
make_csr after ec:P-256 /CN=after.example.test "DNS:after.example.test"
ok "the token still signs after the kills" "$CAIRN" issue --dir "$D" --csr "$WORK/after.csr" \
	--profile tls-server --out "$WORK/after.pem"
ok "  ... and the certificate verifies" openssl verify -CAfile "$D/ca/root.pem" \
	-untrusted "$D/ca/issuing.pem" "$WORK/after.pem"
ok "every certificate in the database passes certlint" lint_db "$D"
ca_stop
ok "a clean restart still works" ca_serve "$D"
ca_stop
done_testing
