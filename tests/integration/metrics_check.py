#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# For tests/integration/metrics.sh: reads a /metrics scrape (already passed through
# `promtool check metrics`) and compares it with the database as `cairn list --json` shows it.
#   get SCRAPE SERIES           prints the value of one series, e.g. 'cairn_up' or
#                               'cairn_certificates{status="valid",profile="tls-server"}'
#   db SCRAPE LIST NOW          every cairn_certificates and cairn_certificates_expiring row
#                               equals the count from LIST at unix time NOW (and no row is
#                               missing or extra); sum(cairn_issued_total) = certificates;
#                               each duration histogram cumulative, +Inf = _count
# Exit 0 when all match; prints each mismatch.
import datetime, json, re, sys

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$')


def scrape(path):
    out = {}
    for line in open(path):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            sys.exit("unparsable line: %r" % line)
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def get(path, series):
    s = scrape(path)
    if series not in s:
        sys.exit("no series %s" % series)
    v = s[series]
    print(int(v) if v == int(v) else v)


def db(path, listfile, now):
    s = scrape(path)
    page = json.load(open(listfile))  # the --json envelope (docs/cli.md); one page is enough here
    assert page["next"] is None, "more certificates than one --json page"
    certs = page["items"]
    want = {}
    for c in certs:
        na = datetime.datetime.strptime(c["not_after"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        p = c["profile"]
        status = "revoked" if c["status"] == "revoked" else "expired" if na < now else "valid"
        for st in ("valid", "revoked", "expired"):
            want.setdefault('cairn_certificates{status="%s",profile="%s"}' % (st, p), 0)
        want['cairn_certificates{status="%s",profile="%s"}' % (status, p)] += 1
        for w, days in (("7d", 7), ("30d", 30)):
            k = 'cairn_certificates_expiring{profile="%s",within="%s"}' % (p, w)
            want.setdefault(k, 0)
            if status == "valid" and na < now + days * 86400:
                want[k] += 1
    got = {k: v for k, v in s.items()
           if k.startswith("cairn_certificates{") or k.startswith("cairn_certificates_expiring{")}
    bad = 0
    for k in sorted(set(want) | set(got)):
        if want.get(k) != got.get(k):
            print("%s: database %s, /metrics %s" % (k, want.get(k), got.get(k)))
            bad += 1
    for ch in sorted({re.search(r'channel="([^"]*)"', k).group(1) for k in s
                      if k.startswith("cairn_http_request_duration_seconds_count{")}):
        rows = sorted((float(re.search(r'le="([^"]*)"', k).group(1)), v) for k, v in s.items()
                      if k.startswith('cairn_http_request_duration_seconds_bucket{channel="%s",' % ch))
        counts = [v for _, v in rows]
        total = s['cairn_http_request_duration_seconds_count{channel="%s"}' % ch]
        if counts != sorted(counts) or not rows or rows[-1][0] != float("inf") or counts[-1] != total:
            print("histogram of channel %s is not cumulative up to its count: %s" % (ch, rows))
            bad += 1
    issued = sum(v for k, v in s.items() if k.startswith("cairn_issued_total{"))
    if issued != len(certs):
        print("sum(cairn_issued_total) %s, certificates in the database %d" % (issued, len(certs)))
        bad += 1
    print("%d series compared, %d certificates, %d mismatches" % (len(want), len(certs), bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    if sys.argv[1] == "get":
        get(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "db":
        db(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit("usage: metrics_check.py get|db ...")
