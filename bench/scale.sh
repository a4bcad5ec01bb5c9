#!/bin/sh
# SPDX-License-Identifier: MIT
# Scale benchmark: one CA seeded with N certificates through the db layer (bench/ocsp_seed),
# then start-up, list/search (CLI and admin API), OCSP (cache hits and live misses), RSS,
# pre-signing and the refresher's steady-state scan, for each N. See bench/README.md.
#
# usage: sh bench/scale.sh [-n "100000 1000000"] [-d SECONDS] [-r RUNS] [-w DIR] [-p CAP] [-k]
#                          [-b BATCH] [-s SAMPLE [-H HOURS]]
#   -n sizes (default "100000 1000000"), -d seconds per wrk run (5), -r runs of each
#   timed step, medians reported (3), -w where the CAs go (default /tmp; the data of one
#   size is deleted before the next), -p cap in seconds on waiting for pre-signing (1800),
#   -b records per seeding transaction (50000).
#   -s SAMPLE: OCSP only, on a sample — every size gets SAMPLE certificates spread over its
#   key space pre-signed (nothing else is due), one daemon per size, and the wrk runs
#   alternate between the sizes (RUNS rounds); each size's CA is kept in DIR/sample-N and
#   reused by the next -s run with the same SAMPLE. -H HOURS then also steps each
#   daemon's clock forward an hour at a time (libfaketime, a restart per hour) and prints
#   the refresher's CPU, re-signs and entries walked per simulated hour (HOURS: a count,
#   hours 0..HOURS, or a list such as 0,1,47,48,49,50).
#   Run from the build directory (needs ./cairn and ./bench/ocsp_seed); loopback only.
set -eu

SIZES="100000 1000000" DUR=5 RUNS=3 BASE=${TMPDIR:-/tmp} KEEP=0 CAP=1800 BATCH=50000 SAMPLE=0 HOURS=0
while getopts n:d:r:w:p:kb:s:H: opt; do
	case $opt in
	b) BATCH=$OPTARG ;;
	s) SAMPLE=$OPTARG ;;
	H) HOURS=$OPTARG ;;
	n) SIZES=$OPTARG ;;
	d) DUR=$OPTARG ;;
	r) RUNS=$OPTARG ;;
	w) BASE=$OPTARG ;;
	p) CAP=$OPTARG ;;
	k) KEEP=1 ;;
	*) echo "usage: $0 [-n SIZES] [-d SECONDS] [-r RUNS] [-w DIR] [-p CAP] [-k] [-b BATCH] [-s SAMPLE [-H HOURS]]" >&2; exit 2 ;;
	esac
done
B=$(pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
CAIRN=$B/cairn
DOM=bench.example
for t in wrk curl jq taskset; do
	command -v $t >/dev/null || { echo "$t missing (scripts/deps.sh)" >&2; exit 1; }
done
[ -x "$CAIRN" ] && [ -x "$B/bench/ocsp_seed" ] || { echo "build first (make -j2)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs (daemon on 0, clients on 1)" >&2; exit 1; }

W=""
PID=""
PIDS=""
SERVE_ENV="" # NAME=VALUE... for the daemon only (-H: libfaketime)
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	for p in $PIDS; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	[ -n "$W" ] && { [ "$KEEP" = 1 ] && echo "kept $W" >&2 || rm -rf "$W"; }
}
trap cleanup EXIT INT TERM

now_ms() { date +%s%3N; }
load() { uptime | sed 's/.*load average: //'; }
. "$(dirname "$0")/lib.sh" # median
# cpu_ms PID: utime + stime of PID in ms
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$1/stat"; }
rss() { awk '/^(VmRSS|VmHWM|RssAnon|RssFile):/ { printf "%s %d MiB  ", $1, $2 / 1024 }' "/proc/$1/status"; }
api() { p=$1; shift; curl -s --cacert "$CA/ca/root.pem" -H "Authorization: Bearer $(cat "$CA/admin.token")" "$@" "$HTTPS$p"; }
metric() { curl -s "$HTTP/metrics" | sed -n "s/^$1 //p"; }

# serve: starts the daemon on CPU 0; sets PID, HTTP, HTTPS, T_HEALTH, T_OCSP (ms from exec).
serve() {
	rm -f "$CA/serve.json"
	t0=$(now_ms)
	env $SERVE_ENV taskset -c 0 "$CAIRN" serve --dir "$CA" 2>>"$W/serve.log" &
	PID=$!
	i=0
	until [ -s "$CA/serve.json" ]; do
		i=$((i + 1)); [ $i -lt 3000 ] && kill -0 "$PID" 2>/dev/null || { tail "$W/serve.log" >&2; exit 1; }
		sleep 0.01
	done
	HTTP=$(jq -r .http "$CA/serve.json")
	HTTPS=$(jq -r .https "$CA/serve.json")
	until curl -sf -o /dev/null "$HTTP/healthz"; do
		i=$((i + 1)); [ $i -lt 6000 ] || exit 1
		sleep 0.01
	done
	T_HEALTH=$(($(now_ms) - t0))
	until curl -sf -o "$W/first.der" "$HTTP/ocsp/$FIRST" && [ -s "$W/first.der" ]; do
		i=$((i + 1)); [ $i -lt 6000 ] || exit 1
		sleep 0.01
	done
	T_OCSP=$(($(now_ms) - t0))
}
stop() {
	kill "$PID" && wait "$PID" 2>/dev/null || true
	PID=""
}
# idle_cpu: waits (bounded) until the daemon's CPU time stops growing for 2 s; prints it.
idle_cpu() {
	prev=-1 i=0
	while :; do
		c=$(cpu_ms "$PID")
		[ "$c" = "$prev" ] && break
		prev=$c i=$((i + 1))
		[ $i -lt 150 ] || break
		sleep 2
	done
	echo "$c"
}
# timed NAME CMD...: runs CMD RUNS times, output in $W/out; prints the median ms.
timed() {
	name=$1
	shift
	for r in $(seq "$RUNS"); do
		t=$(now_ms)
		"$@" >"$W/out" 2>/dev/null
		echo $(($(now_ms) - t))
	done | median
}
wrk_run() { # MODE PREFIX CONNS -> "req/s p99"
	taskset -c 1 wrk -t1 -c"$3" -d"${DUR}s" --latency --timeout 5s -s "$SRC/bench/ocsp.lua" "$HTTP" \
		-- "$W/reqs.lua" "$1" "$2" >"$W/wrk.txt" 2>&1 || true
	printf '%s %s\n' "$(sed -n 's/^Requests\/sec: *//p' "$W/wrk.txt")" "$(sed -n 's/^ *99% *//p' "$W/wrk.txt")"
}
wrk_median() { # MODE PREFIX CONNS: median req/s of RUNS runs, p99 of that run
	for r in $(seq "$RUNS"); do wrk_run "$@"; done | sort -n | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'
}

# ms NUM+UNIT (wrk's latency: 850.00us, 3.21ms, 1.02s) -> milliseconds
to_ms() { awk -v v="$1" 'BEGIN { u = v; sub(/^[0-9.]+/, "", u); n = v + 0;
	printf "%.2f\n", u == "us" ? n / 1000 : u == "s" ? n * 1000 : u == "m" ? n * 60000 : n }'; }

# -s SAMPLE: OCSP hits and misses at every size on the same number of certificates,
# spread over each size's key space (every N/SAMPLE-th serial in seeding order: random
# serials, so random places in every tree). Only the sample is pre-signed (ocsp_seed -P);
# a hit reads the certificate's status in the N-record tree and the answer from the
# answer table (the sample's answers only). The sizes' daemons all run; the wrk runs
# go round the sizes RUNS times (100k, 10M, 100k, 10M, ...), so both see the same load.
sample_mode() {
	KEEP=1
	CONNS=64
	for N in $SIZES; do
		W=$BASE/sample-$N
		CA=$W/ca
		if [ -s "$W/prune.json" ] && [ "$(jq .queried "$W/seed.json")" = "$SAMPLE" ]; then
			echo "## N = $N: reusing $W"
		else
			rm -rf "$W"
			mkdir -p "$W"
			echo "## N = $N: seeding (load before: $(load))"
			"$CAIRN" init --dir "$CA" --listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0 --public-http http://init.invalid >"$W/init.out" 2>&1
			jq '.log_level = "info" | .server.threads = 2 | .crl.debounce = 0 | .public_urls.http = ""' "$CA/cairn.json" >"$W/c.json" && mv "$W/c.json" "$CA/cairn.json"
			"$B/bench/ocsp_seed" -b "$BATCH" -e 365 -N "$DOM" -T -O "$CA" "$N" "$SAMPLE" "$W" >"$W/seed.json"
			"$B/bench/ocsp_seed" -P "$CA" "$W" >"$W/prune.json"
		fi
		echo "seed: $(jq -r '"\(.seeded) certificates (\(.revoked) revoked) in \(.seconds) s = \(.per_second)/s; sample \(.queried)"' "$W/seed.json"); due index pruned to the sample: $(jq -r '"\(.due_dropped) entries dropped, \(.due_kept) kept"' "$W/prune.json")"
		echo "db: data.mdb $(($(stat -c %s "$CA/db/data.mdb") / 1048576)) MiB"
		FIRST=$(sed -n '/^paths = {/{n;s/[",]//g;p;q}' "$W/reqs.lua")
		serve
		echo "start-up: /healthz 200 after $T_HEALTH ms, first OCSP answer after $T_OCSP ms (load $(load)); $(rss "$PID")"
		t=$(now_ms)
		cpu0=$(cpu_ms "$PID")
		while :; do
			have=$(metric cairn_ocsp_cached_responses) # pre-signed, or signed live (the probe)
			[ "${have:-0}" -ge "$SAMPLE" ] && break
			[ $(($(now_ms) - t)) -lt $((CAP * 1000)) ] || break
			sleep 1
		done
		dt=$(($(now_ms) - t))
		echo "pre-signing the sample: ${have:-0} of $SAMPLE after $dt ms = $((${have:-0} * 1000 / (dt + 1)))/s (daemon CPU $(($(cpu_ms "$PID") - cpu0)) ms); $(rss "$PID")"
		echo "$PID $HTTP" >"$W/daemon"
		PIDS="$PIDS $PID"
		PID=""
		wrk_run get /ocsp/ "$CONNS" >/dev/null # page cache: the sample's pages once
	done
	RES=$(mktemp "$BASE/scale-sample.XXXXXX")
	for r in $(seq "$RUNS"); do
		for N in $SIZES; do
			W=$BASE/sample-$N
			read -r PID HTTP <"$W/daemon"
			for m in get post nonce; do
				(sleep $((DUR / 2)); awk '/^VmRSS:/ { v = $2 } /^RssAnon:/ { a = $2 } END { print int(v / 1024), int(a / 1024) }' \
					"/proc/$PID/status" >"$W/rss.$m") &
				set -- $(wrk_run "$m" "$([ $m = get ] && echo /ocsp/ || echo /ocsp)" "$CONNS")
				wait $!
				echo "$N $m $r ${1:-0} $(to_ms "${2:-0}") $(cut -d' ' -f1 "$W/rss.$m") $(cut -d' ' -f2 "$W/rss.$m") $(load | cut -d, -f1)" >>"$RES"
			done
		done
	done
	echo "## OCSP over the sample, c=$CONNS, $RUNS rounds of ${DUR} s runs alternating between the sizes"
	echo "size mode: median req/s (runs) | median p99 ms (runs) | RSS under load MiB (anon) | load (runs)"
	for N in $SIZES; do
		for m in get post nonce; do
			awk -v n="$N" -v m="$m" '$1 == n && $2 == m' "$RES" >"$RES.1"
			rq=$(cut -d' ' -f4 "$RES.1" | median)
			p99=$(cut -d' ' -f5 "$RES.1" | median)
			echo "$N $m: $rq ($(cut -d' ' -f4 "$RES.1" | tr '\n' ' ' | sed 's/ $//')) | $p99 ($(cut -d' ' -f5 "$RES.1" | tr '\n' ' ' | sed 's/ $//')) | $(cut -d' ' -f6 "$RES.1" | median) ($(cut -d' ' -f7 "$RES.1" | median)) | $(cut -d' ' -f8 "$RES.1" | tr '\n' ' ' | sed 's/ $//')"
			echo "$N $m $rq $p99" >>"$RES.m"
		done
	done
	FIRSTN=${SIZES%% *}
	for N in $SIZES; do
		[ "$N" = "$FIRSTN" ] && continue
		for m in get post nonce; do
			awk -v a="$FIRSTN" -v b="$N" -v m="$m" '$2 == m && $1 == a { ra = $3; pa = $4 } $2 == m && $1 == b { rb = $3; pb = $4 }
				END { printf "%s against %s, %s: req/s %+.1f %%, p99 %+.1f %%\n", b, a, m, (rb / ra - 1) * 100, (pb / pa - 1) * 100 }' "$RES.m"
		done
	done
	for N in $SIZES; do
		read -r PID HTTP <"$BASE/sample-$N/daemon"
		echo "$N: $(curl -s "$HTTP/metrics" | grep '^cairn_ocsp_responses_total' | sed 's/cairn_ocsp_responses_total//' | tr '\n' ' '); $(rss "$PID")"
	done
	rm -f "$RES" "$RES.1" "$RES.m"
	for N in $SIZES; do
		read -r PID HTTP <"$BASE/sample-$N/daemon"
		stop
	done
	PIDS=""
	[ "$HOURS" != 0 ] || return 0
	case $HOURS in # a count (0..HOURS) or a list of hours ("0,1,47,48,49,50": hour 0 first)
	*[!0-9]*) HLIST=$(echo "$HOURS" | tr ',' ' ') ;;
	*) HLIST=$(seq 0 "$HOURS") ;;
	esac
	# The refresher per simulated hour: a restart at each whole hour (FAKETIME=+Nh), CPU
	# from exec until idle, re-signs, drops and entries walked. Hour 0 (nothing due) is
	# the start-up's own cost, subtracted in the per-hour figures.
	FAKE=$(dpkg -L libfaketime 2>/dev/null | grep -m1 'libfaketime.so.1$' || true)
	[ -n "$FAKE" ] || { echo "libfaketime missing (scripts/deps.sh)" >&2; exit 1; }
	for N in $SIZES; do
		W=$BASE/sample-$N
		CA=$W/ca
		FIRST=$(sed -n '/^paths = {/{n;s/[",]//g;p;q}' "$W/reqs.lua")
		echo "## N = $N: the refresher per simulated hour (restart at +h hours under libfaketime; load $(load))"
		echo "hour cpu_ms refresher_cpu_ms resigned dropped walked"
		for h in $HLIST; do
			SERVE_ENV="LD_PRELOAD=$FAKE FAKETIME=+${h}h"
			serve
			c=$(idle_cpu)
			rc=0 # the refresher thread's own CPU (named ocsp-refresh)
			for t in /proc/"$PID"/task/*; do
				[ "$(cat "$t/comm" 2>/dev/null)" = ocsp-refresh ] && rc=$(cpu_ms "$PID/task/${t##*/}")
			done
			mt=$(curl -s "$HTTP/metrics")
			echo "$h $c $rc $(echo "$mt" | sed -n 's/^cairn_ocsp_presigned_total //p') $(echo "$mt" | sed -n 's/^cairn_ocsp_swept_total //p') $(echo "$mt" | sed -n 's/^cairn_db_entries_walked_total //p')"
			stop
		done | tee "$W/hours.txt"
		SERVE_ENV=""
		awk 'NR == 1 { c0 = $2; r0 = $3; w0 = $6; next }
			{ c += $2 - c0; r += $3 - r0; s += $4; d += $5; w += $6 - w0; n++ }
			END { printf "the %d hours after hour 0, beyond it (start-up): daemon %d ms CPU, refresher thread %d ms, %d re-signed, %d dropped, %d entries walked\n", n, c, r, s, d, w }' "$W/hours.txt"
	done
}

echo "# scale bench: $(nproc) CPUs, $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, cairn $("$CAIRN" --version | head -n 1 | cut -d' ' -f2)"
[ "$SAMPLE" -gt 0 ] && { sample_mode; exit 0; }
for N in $SIZES; do
	W=$(mktemp -d "$BASE/cairn-scale.XXXXXX")
	CA=$W/ca
	echo "## N = $N (load before: $(load))"
	"$CAIRN" init --dir "$CA" --listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0 --public-http http://init.invalid >"$W/init.out" 2>&1
	jq '.log_level = "info" | .server.threads = 2 | .crl.debounce = 0 | .public_urls.http = ""' "$CA/cairn.json" >"$W/c.json" && mv "$W/c.json" "$CA/cairn.json"
	size0=$(stat -c %s "$CA/db/data.mdb")
	"$B/bench/ocsp_seed" -b "$BATCH" -e 365 -N "$DOM" -T -O "$CA" "$N" 1000 "$W" >"$W/seed.json"
	size1=$(stat -c %s "$CA/db/data.mdb")
	FIRST=$(sed -n '/^paths = {/{n;s/[",]//g;p;q}' "$W/reqs.lua")
	EXP=$(jq .expiring_30d "$W/seed.json")
	GRP=$(jq -r .group "$W/seed.json")
	GRPN=$(jq .group_count "$W/seed.json")
	echo "seed: $(jq -r '"\(.seeded) certificates (\(.revoked) revoked) in \(.seconds) s = \(.per_second)/s, template DER \(.der_bytes) B"' "$W/seed.json")"
	echo "db: data.mdb $((size1 / 1048576)) MiB = $(((size1 - size0) / N)) B per certificate (records, by_expiry, by_name, revoked; no OCSP answers yet)"

	# Cold start: nothing pre-signed; the first OCSP answer is signed live.
	serve
	echo "start-up (cold, empty OCSP cache): /healthz 200 after $T_HEALTH ms, first OCSP answer after $T_OCSP ms; $(rss "$PID")"
	t=$(now_ms)
	cpu0=$(cpu_ms "$PID")
	want=$((N + 1))
	while :; do
		have=$(metric cairn_ocsp_cached_responses)
		[ "${have:-0}" -ge "$want" ] && break
		[ $(($(now_ms) - t)) -lt $((CAP * 1000)) ] || break
		sleep 1
	done
	dt=$(($(now_ms) - t))
	dc=$(($(cpu_ms "$PID") - cpu0))
	echo "pre-signing: ${have:-0} of $want responses after $dt ms since /healthz = $(( ${have:-0} * 1000 / (dt + 1) ))/s (daemon CPU $dc ms); $(rss "$PID")"
	size2=$(stat -c %s "$CA/db/data.mdb")
	echo "db with OCSP answers: data.mdb $((size2 / 1048576)) MiB = $(((size2 - size0) / N)) B per certificate"

	# list and search, CLI (reads LMDB directly) and admin API (paged), with the daemon up.
	ms=$(timed list "$CAIRN" list --dir "$CA" --expiring-within 30d); rows=$(($(wc -l <"$W/out") - 1))
	echo "cairn list --expiring-within 30d: $rows rows (expected $EXP) in $ms ms"
	ms=$(timed list "$CAIRN" list --dir "$CA" --expiring-within 30d --json --limit 100); tot=$(jq .total "$W/out")
	echo "cairn list --expiring-within 30d --json --limit 100: $(jq '.items | length' "$W/out") rows (total $tot) in $ms ms"
	ms=$(timed list "$CAIRN" list --dir "$CA" --name "$GRP"); rows=$(($(wc -l <"$W/out") - 1))
	echo "cairn list --name $GRP (suffix): $rows rows (expected $GRPN) in $ms ms"
	ms=$(timed list "$CAIRN" list --dir "$CA" --name "h7.z7.$DOM"); rows=$(($(wc -l <"$W/out") - 1))
	echo "cairn list --name h7.z7.$DOM (exact): $rows rows in $ms ms"
	ms=$(timed api api "/admin/v1/certificates?expiring_within=30d&limit=1000"); tot=$(jq .total "$W/out")
	echo "admin API expiring_within=30d limit=1000, first page: $(jq '.items | length' "$W/out") rows (total $tot) in $ms ms"
	next=$(jq -r '.next // empty' "$W/out")
	ms=$(timed api api "/admin/v1/certificates?expiring_within=30d&limit=1000&after=$next")
	echo "admin API expiring_within=30d limit=1000, second page (after the first's next): $(jq '.items | length' "$W/out") rows in $ms ms"
	ms=$(timed api api "/admin/v1/certificates?expiring_within=30d&limit=1000&count=true"); tot=$(jq .total "$W/out")
	echo "admin API expiring_within=30d limit=1000 count=true (every match walked): total $tot in $ms ms"
	echo "walked by the daemon so far: $(metric cairn_db_entries_walked_total) entries"
	ms=$(timed api api "/admin/v1/certificates?name=$GRP&limit=100")
	echo "admin API name=$GRP limit=100: $(jq '.items | length' "$W/out") rows (total $(jq .total "$W/out")) in $ms ms"

	# OCSP: cache hits (GET and POST, no nonce) and misses (POST with a nonce: signed live).
	# A first pass over the queried set stores a live answer for any the refresher has not
	# reached yet (when -p cut pre-signing short), so the get/post runs are cache hits.
	DUR0=$DUR DUR=2
	wrk_run get /ocsp/ 16 >/dev/null
	DUR=$DUR0
	for m in get post nonce; do
		for c in 16 64; do
			set -- $(wrk_median "$m" "$([ $m = get ] && echo /ocsp/ || echo /ocsp)" "$c")
			echo "OCSP $m c=$c: ${1:-?} req/s, p99 ${2:-?} (median of $RUNS x ${DUR} s; load $(load))"
		done
	done
	echo "after OCSP load: $(rss "$PID"); cache hits $(metric cairn_ocsp_responses_total\{source=\"cache\"\} || true)"
	curl -s "$HTTP/metrics" | grep '^cairn_ocsp_' | sed 's/^/# /'

	# CRL of the issuing CA: one more revocation (debounce 0) rebuilds it from the revoked index.
	curl -s -o "$W/crl.0" "$HTTP/crl/issuing.crl" || true
	serial=$(awk '$2 == "good" { print $1; exit }' "$W/queried.txt")
	t=$(now_ms)
	code=$(api "/admin/v1/certificates/$serial/revoke" -X POST -H 'Content-Type: application/json' \
		-d '{"reason": "keyCompromise"}' -o /dev/null -w '%{http_code}')
	i=0
	while curl -s -o "$W/crl.1" "$HTTP/crl/issuing.crl" && cmp -s "$W/crl.0" "$W/crl.1"; do
		i=$((i + 1)); [ $i -lt 6000 ] || break
		sleep 0.05
	done
	echo "CRL rebuild after one revocation (HTTP $code): $(($(now_ms) - t)) ms from the revoke call to the new CRL served, $(stat -c %s "$W/crl.1") bytes, $(jq .revoked "$W/seed.json")+1 entries"
	stop
	# Warm starts: everything pre-signed; the refresher's first scan walks every certificate
	# and finds nothing to sign: that scan is what it costs every scan interval at steady state.
	presigned=$([ "${have:-0}" -ge "$want" ] && echo 1 || echo 0)
	for r in $(seq "$RUNS"); do
		serve
		c1=-1
		[ "$presigned" = 1 ] && c1=$(idle_cpu)
		echo "$T_HEALTH $T_OCSP $c1 $(awk '/^VmRSS:/ { print int($2 / 1024) }' "/proc/$PID/status")"
		stop
	done >"$W/warm.txt"
	echo "start-up (warm, cache full): /healthz 200 after $(cut -d' ' -f1 "$W/warm.txt" | median) ms, first OCSP answer after $(cut -d' ' -f2 "$W/warm.txt" | median) ms (medians of $RUNS)"
	[ "$presigned" = 1 ] || echo "(pre-signing was cut short at ${have:-0} of $want by -p $CAP: the starts above are not warm, and no idle figure)"
	[ "$presigned" = 1 ] && echo "warm start until idle (start-up, expiry scan, and the refresher's scan of every certificate finding nothing to sign): $(cut -d' ' -f3 "$W/warm.txt" | median) ms CPU; RSS then $(cut -d' ' -f4 "$W/warm.txt" | median) MiB"
	echo "## N = $N done (load after: $(load))"
	[ "$KEEP" = 1 ] || rm -rf "$W"
	W=""
done
