#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ACME objects across their retention (acme_retention.sh drives the clock and restarts).

usage: acme_retention.py make  DIRECTORY_URL CAFILE HTTP01_PORT STATE_FILE
         (an account with five orders: valid with a certificate, one reusing its
          authorization left ready, one abandoned pending, one whose validation failed,
          one parked for an approver; their URLs kept in STATE_FILE)
       acme_retention.py look  DIRECTORY_URL CAFILE HTTP01_PORT STATE_FILE kept|gone
         (kept: every order and authorization is served; gone: those past their
          retention answer 404 and leave the account's list, the parked one stays; the
          certificate downloads either way)
       acme_retention.py parked DIRECTORY_URL CAFILE HTTP01_PORT STATE_FILE SERIAL
         (the parked order, approved but not fetched since, gone past its retention; its
          certificate, SERIAL, downloads)
       acme_retention.py after DIRECTORY_URL CAFILE HTTP01_PORT STATE_FILE
         (after the sweep: a new order for the swept name gets a new authorization and a
          certificate; the account still revokes the certificate of a swept order)
Prints "pass: NAME" or "fail: NAME: detail" per check; exits 1 if any failed.
"""
import json
import sys

import acme_probe as p

NAMES = {"valid": "v.keep.test", "pending": "p.keep.test", "failed": "f.keep.test",
         "parked": "a.wait.test"}


def account(directory, cafile, state):
    s = json.load(open(state))
    c = p.Client(directory, cafile)
    c.kid = s["kid"]
    return c, p.Key(s["key"]), s


def brief(st, doc):
    """A failed check's detail: the status and what the answer says, not all of it."""
    if isinstance(doc, dict):
        return st, doc.get("status"), p.ptype(doc), doc.get("detail")
    return st, doc[:100] if doc else doc


def orders_list(c, k):
    """Every order URL of the account's list (RFC 8555 §7.1.2.1), pages followed."""
    st, h, acct = c.post(k, c.kid, None)
    url, got = acct.get("orders"), []
    while url:
        st, h, doc = c.post(k, url, None)
        if st != 200:
            return None
        got += doc.get("orders", [])
        link = [x for x in h.get_all("Link") or [] if 'rel="next"' in x]
        url = link[0].split(">")[0].lstrip("<") if link else None
    return got


def make(directory, cafile, port, state):
    p.serve_http01(port)
    c = p.Client(directory, cafile)
    k = p.Key()
    c.account(k)
    s = {"key": k.pem(), "kid": c.kid, "orders": {}, "authzs": {}}
    ourl, order, pem = p.obtain(c, k, [NAMES["valid"]])
    p.check("an order is issued (valid)", order.get("status") == "valid" and
            b"BEGIN CERTIFICATE" in pem, order)
    s["orders"]["valid"], s["authzs"]["valid"] = ourl, order["authorizations"][0]
    s["cert"], s["cert_pem"] = order.get("certificate"), pem.decode()
    st, h, doc = c.post(k, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                              "value": NAMES["valid"]}]})
    p.check("a second order for the name reuses the valid authorization (ready)",
            st == 201 and doc.get("status") == "ready" and
            doc.get("authorizations") == [s["authzs"]["valid"]], brief(st, doc))
    s["orders"]["reuse"] = h.get("Location")
    st, h, doc = c.post(k, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                              "value": NAMES["pending"]}]})
    p.check("an order is left pending", st == 201 and doc.get("status") == "pending", brief(st, doc))
    s["orders"]["pending"], s["authzs"]["pending"] = h.get("Location"), doc["authorizations"][0]
    st, h, doc = c.post(k, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                              "value": NAMES["failed"]}]})
    s["orders"]["failed"], az = h.get("Location"), doc["authorizations"][0]
    s["authzs"]["failed"] = az
    st, h, authz = c.post(k, az, None)
    ch = [x for x in authz["challenges"] if x["type"] == "http-01"][0]
    p.TOKENS[ch["token"]] = "wrong"
    c.post(k, ch["url"], {})
    authz = p.poll(c, k, az, None)
    p.check("an order's validation fails (invalid)", authz.get("status") == "invalid", authz)
    ourl, order = p.order_until_ready(c, k, NAMES["parked"])
    st, h, doc = c.post(k, order["finalize"], {"csr": p.make_csr([NAMES["parked"]])})
    p.check("an order is parked for an approver (processing)",
            st == 200 and doc.get("status") == "processing", brief(st, doc))
    s["orders"]["parked"], s["authzs"]["parked"] = ourl, order["authorizations"][0]
    json.dump(s, open(state, "w"))


def look(directory, cafile, port, state, want):
    c, k, s = account(directory, cafile, state)
    listed = orders_list(c, k) or []
    for what, url in sorted(s["orders"].items()):
        st, h, doc = c.post(k, url, None)
        gone = want == "gone" and what != "parked"
        if gone:
            p.check("the %s order past its retention answers 404" % what,
                    st == 404 and p.ptype(doc) == "malformed", brief(st, doc))
            p.check("  ... and left the account's orders list", url not in listed, listed)
        else:
            p.check("the %s order is still served" % what, st == 200 and
                    doc.get("status") in ("valid", "invalid", "processing"), brief(st, doc))
            p.check("  ... and listed in the account's orders", url in listed, listed)
    for what, url in sorted(s["authzs"].items()):
        st, h, doc = c.post(k, url, None)
        if want == "gone" and what != "parked":
            p.check("the %s order's authorization answers 404" % what, st == 404, brief(st, doc))
        else:
            p.check("the %s order's authorization is still served" % what,
                    st == 200 and doc.get("identifier", {}).get("value") == NAMES[what],
                    (st, doc))
    st, h, pem = c.post(k, s["cert"], None)
    p.check("the certificate of the valid order downloads (%s)" % want,
            st == 200 and pem.decode() == s["cert_pem"], (st, pem[:200]))


def parked(directory, cafile, port, state, serial):
    """The parked order, approved (its certificate SERIAL) but never fetched by its client,
    past its retention: it answers 404, and the account downloads the certificate."""
    c, k, s = account(directory, cafile, state)
    st, h, doc = c.post(k, s["orders"]["parked"], None)
    p.check("the approved order past its retention answers 404", st == 404, brief(st, doc))
    st, h, doc = c.post(k, s["authzs"]["parked"], None)
    p.check("  ... and its authorization", st == 404, brief(st, doc))
    url = s["cert"].rsplit("/", 1)[0] + "/" + serial
    st, h, pem = c.post(k, url, None)
    p.check("  ... its certificate downloads", bool(serial) and st == 200 and
            b"BEGIN CERTIFICATE" in pem, (url, st, pem[:200]))


def after(directory, cafile, port, state):
    p.serve_http01(port)
    c, k, s = account(directory, cafile, state)
    ourl, order, pem = p.obtain(c, k, [NAMES["valid"]])
    p.check("a new order for the swept name is issued", order.get("status") == "valid" and
            b"BEGIN CERTIFICATE" in pem, order)
    p.check("  ... through a new authorization",
            order.get("authorizations", [None])[0] not in (None, s["authzs"]["valid"]), order)
    der = p.x509.load_pem_x509_certificate(s["cert_pem"].encode()).public_bytes(
        p.serialization.Encoding.DER)
    st, h, doc = c.post(k, c.dir["revokeCert"], {"certificate": p.b64(der), "reason": 4})
    p.check("the account revokes the certificate of its swept order", st == 200, brief(st, doc))
    s["orders"]["new"] = ourl
    json.dump(s, open(state, "w"))


def main():
    mode, directory, cafile, port, state = sys.argv[1:6]
    if mode == "make":
        make(directory, cafile, int(port), state)
    elif mode == "look":
        look(directory, cafile, int(port), state, sys.argv[6])
    elif mode == "parked":
        parked(directory, cafile, int(port), state, sys.argv[6])
    elif mode == "after":
        after(directory, cafile, int(port), state)
    return 1 if p.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
