#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A small raw ACME client for tests that real clients cannot express: malformed and
hostile requests (negative checks) and a flow split across a daemon restart.

usage: acme_probe.py negative DIRECTORY_URL CAFILE HTTP01_PORT
       acme_probe.py policy   DIRECTORY_URL CAFILE HTTP01_PORT
       acme_probe.py held_order DIRECTORY_URL CAFILE HTTP01_PORT NAME
         (an order for NAME validated now, finalized: it waits for approvers)
       acme_probe.py approval_authz DIRECTORY_URL CAFILE HTTP01_PORT CAIRN CA_DIR
         (an authorization deactivated while its order waits for approvers)
       acme_probe.py begin    DIRECTORY_URL CAFILE HTTP01_PORT STATE_FILE
       acme_probe.py finish   DIRECTORY_URL CAFILE HTTP01_PORT STATE_FILE
       acme_probe.py chain    DIRECTORY_URL CAFILE HTTP01_PORT NAME ISSUER_PEM
       acme_probe.py bounds   DIRECTORY_URL CAFILE HTTP01_PORT EAB_KID EAB_HMAC_KEY
       acme_probe.py commits  DIRECTORY_URL CAFILE HTTP01_PORT METRICS_URL STATE_FILE
       acme_probe.py nonces   DIRECTORY_URL CAFILE HTTP01_PORT STATE_FILE
       acme_probe.py keys     DIRECTORY_URL CAFILE HTTP01_PORT
       acme_probe.py lookalikes DIRECTORY_URL CAFILE HTTP01_PORT
       acme_probe.py revoke_names DIRECTORY_URL CAFILE HTTP01_PORT CERT_PEM CERT_PEM
       acme_probe.py slow_peers DIRECTORY_URL CAFILE HTTP01_PORT TLSALPN01_PORT WORKERS TIMEOUT_MS
         (peers that answer a byte a second: each validation ends within its timeout)
       acme_probe.py fresh    DIRECTORY_URL CAFILE HTTP01_PORT DNS_MGMT_URL
         (stored objects read again are as stored now; each http-01 validation opens a
          connection of its own, to the address resolved for it)
       acme_probe.py inflight|killed|park|parked DIRECTORY_URL CAFILE HTTP01_PORT STATE_FILE TOKEN_DIR
         (validations under way across a kill -9 and a clean stop; http-01 answers come
          from TOKEN_DIR/TOKEN, served by the test)
Prints "pass: NAME" or "fail: NAME: detail" per check; exits 1 if any failed.
"""
import base64
import http.client
import ipaddress
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509.oid import NameOID

FAILED = []


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def check(name, cond, detail=""):
    if cond:
        print("pass: " + name)
    else:
        print("fail: %s: %s" % (name, detail))
        FAILED.append(name)


class Key:
    def __init__(self, pem=None, kind="ES256"):
        self.alg = kind
        if pem:
            self.k = serialization.load_pem_private_key(pem.encode(), None)
        elif kind == "ES384":
            self.k = ec.generate_private_key(ec.SECP384R1())
        elif kind == "EdDSA":
            self.k = ed25519.Ed25519PrivateKey.generate()
        else:
            self.k = ec.generate_private_key(ec.SECP256R1())

    def pem(self):
        return self.k.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()

    def jwk(self):
        if self.alg == "EdDSA":
            raw = self.k.public_key().public_bytes(serialization.Encoding.Raw,
                                                   serialization.PublicFormat.Raw)
            return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
        n = self.k.public_key().public_numbers()
        size, crv = (48, "P-384") if self.alg == "ES384" else (32, "P-256")
        return {"kty": "EC", "crv": crv, "x": b64(n.x.to_bytes(size, "big")),
                "y": b64(n.y.to_bytes(size, "big"))}

    def thumb(self):
        j = json.dumps(self.jwk(), sort_keys=True, separators=(",", ":")).encode()
        h = hashes.Hash(hashes.SHA256())
        h.update(j)
        return b64(h.finalize())

    def sign(self, data):
        if self.alg == "EdDSA":
            return self.k.sign(data)
        if self.alg == "ES384":
            r, s = utils.decode_dss_signature(self.k.sign(data, ec.ECDSA(hashes.SHA384())))
            return r.to_bytes(48, "big") + s.to_bytes(48, "big")
        r, s = utils.decode_dss_signature(self.k.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class Client:
    def __init__(self, directory, cafile, source=None):
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.source = source  # a local address to connect from (127.0.0.2, ...)
        self.dir = json.loads(self.raw("GET", directory)[2])
        self.nonce = None
        self.kid = None

    def raw(self, method, url, body=None, ctype="application/jose+json"):
        if self.source:
            u = urllib.parse.urlsplit(url)
            conn = http.client.HTTPSConnection(u.hostname, u.port, context=self.ctx,
                                               timeout=30, source_address=(self.source, 0))
            conn.request(method, u.path + ("?" + u.query if u.query else ""), body,
                         {"Content-Type": ctype} if body is not None else {})
            r = conn.getresponse()
            out = (r.status, r.headers, r.read())
            conn.close()
            return out
        req = urllib.request.Request(url, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def new_nonce(self):
        st, h, _ = self.raw("HEAD", self.dir["newNonce"])
        return h["Replay-Nonce"]

    def jws(self, key, url, payload, kid=None, nonce=None, alg=None, hdr_url=None, extra=None,
            jwk=None):
        prot = {"alg": alg or key.alg, "nonce": nonce or self.nonce or self.new_nonce(),
                "url": hdr_url or url}
        prot.update(extra or {})
        if kid:
            prot["kid"] = kid
        else:
            prot["jwk"] = jwk or key.jwk()
        p64 = b64(json.dumps(prot).encode())
        y64 = "" if payload is None else b64(json.dumps(payload).encode())
        sig = key.sign((p64 + "." + y64).encode())
        self.nonce = None
        return json.dumps({"protected": p64, "payload": y64, "signature": b64(sig)},
                          separators=(",", ":")).encode()

    def post(self, key, url, payload, kid=None, **kw):
        body = self.jws(key, url, payload, kid=kid if kid is not None else self.kid, **kw)
        st, h, data = self.raw("POST", url, body)
        self.nonce = h.get("Replay-Nonce")
        try:
            doc = json.loads(data) if data and data[:1] in (b"{", b"[") else data
        except ValueError:
            doc = data
        return st, h, doc

    def account(self, key):
        st, h, doc = self.post(key, self.dir["newAccount"], {"termsOfServiceAgreed": True},
                               kid=False)
        self.kid = h.get("Location")
        self.last_headers = h
        return st, doc


def ptype(doc):
    t = doc.get("type", "") if isinstance(doc, dict) else ""
    return t.replace("urn:ietf:params:acme:error:", "")


TOKENS = {}


class Http01(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        tok = self.path.rsplit("/", 1)[-1]
        body = TOKENS.get(tok, "").encode()
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def serve_http01(port):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Http01)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def make_csr(names, key=None, org=None, cn=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn or names[0])]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
    return b64(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))


def poll(c, key, url, want, tries=100):
    import time
    for _ in range(tries):
        st, h, doc = c.post(key, url, None)
        if isinstance(doc, dict) and doc.get("status") not in ("pending", "processing"):
            return doc
        time.sleep(0.1)
    return doc


def obtain(c, key, names, thumb=None):
    """Full order with http-01; returns (order_url, order, cert_pem)."""
    st, h, order = c.post(key, c.dir["newOrder"],
                          {"identifiers": [{"type": "dns", "value": n} for n in names]})
    ourl = h.get("Location")
    for az in order["authorizations"]:
        st, h, authz = c.post(key, az, None)
        ch = [x for x in authz["challenges"] if x["type"] == "http-01"][0]
        TOKENS[ch["token"]] = ch["token"] + "." + (thumb or key.thumb())
        c.post(key, ch["url"], {})
        poll(c, key, az, "valid")
    st, h, fin = c.post(key, order["finalize"], {"csr": make_csr(names)})
    order = poll(c, key, ourl, "valid")
    st, h, pem = c.post(key, order["certificate"], None)
    return ourl, order, pem


def key_change(c, old, kid, new, jwk=None, extra=None):
    """keyChange of account kid from key old to key new (RFC 8555 §7.3.5); jwk: what the
    inner header says instead of new's jwk; extra: more inner header members."""
    hdr = {"alg": new.alg, "jwk": jwk or new.jwk(), "url": c.dir["keyChange"]}
    hdr.update(extra or {})
    prot = b64(json.dumps(hdr).encode())
    pay = b64(json.dumps({"account": kid, "oldKey": old.jwk()}).encode())
    inner = {"protected": prot, "payload": pay,
             "signature": b64(new.sign((prot + "." + pay).encode()))}
    return c.post(old, c.dir["keyChange"], inner, kid=kid)


def negative(directory, cafile, port):
    serve_http01(port)
    c = Client(directory, cafile)
    ka, kb = Key(), Key()

    # two accounts
    st, doc = c.account(ka)
    check("newAccount creates an account (201)", st == 201, st)
    kid_a = c.kid
    st, doc = c.account(ka)
    check("newAccount with the same key returns it (200)", st == 200 and c.kid == kid_a, st)
    st, doc = c.account(kb)
    kid_b = c.kid

    # JWS and nonce failures
    c.kid = kid_a
    n = c.new_nonce()
    st, h, doc = c.post(ka, kid_a, None, nonce=n)
    st, h, doc = c.post(ka, kid_a, None, nonce=n)
    check("replayed nonce gives badNonce", st == 400 and ptype(doc) == "badNonce", (st, doc))
    check("badNonce carries a fresh Replay-Nonce", bool(h.get("Replay-Nonce")))
    st, h, doc = c.post(ka, kid_a, None, nonce="AAAAAAAAAAAAAAAAAAAAAA")
    check("unknown nonce gives badNonce", ptype(doc) == "badNonce", (st, doc))
    st, h, doc = c.post(ka, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                               "value": "x.example.test"}]},
                        hdr_url=c.dir["newOrder"] + "x")
    check("wrong url in protected header gives unauthorized",
          st == 401 and ptype(doc) == "unauthorized", (st, doc))
    st, h, doc = c.post(ka, kid_a, None, extra={"crit": ["b64"], "b64": True})
    check("a protected header with crit is refused (malformed)",
          st == 400 and ptype(doc) == "malformed" and "crit" in doc.get("detail", ""), (st, doc))
    st, h, doc = c.post(ka, kid_a, None, alg="RS384")
    check("unsupported alg gives badSignatureAlgorithm",
          st == 400 and ptype(doc) == "badSignatureAlgorithm" and doc.get("status") == 400
          and doc.get("algorithms") == ["RS256", "ES256", "ES384", "EdDSA"]
          and "RS256" in doc.get("detail", ""), (st, doc))
    st, h, doc = c.post(kb, kid_a, None, kid=kid_a)
    check("kid of another account (signed with a different key) is refused",
          st == 400 and ptype(doc) == "malformed" and "signature" in doc.get("detail", ""),
          (st, doc))
    st, h, doc = c.post(ka, kid_a + "zz", None, kid=kid_a[:-2] + "zz")
    check("unknown account gives accountDoesNotExist",
          st == 400 and ptype(doc) == "accountDoesNotExist", (st, doc))
    st, h, data = c.raw("POST", c.dir["newOrder"], b"{not json")
    check("malformed JSON gives malformed", st == 400 and b"malformed" in data, (st, data))
    st, h, data = c.raw("POST", c.dir["newOrder"], c.jws(ka, c.dir["newOrder"], {}, kid=kid_a),
                        ctype="application/json")
    check("wrong Content-Type gives 415", st == 415, st)
    got = [c.raw("POST", c.dir["newOrder"], c.jws(ka, c.dir["newOrder"], {}, kid=kid_a),
                 ctype=t)[0] for t in ("application/jose+jsonx", "application/jose+json-x")]
    check("  ... and so does a media type that only begins with application/jose+json",
          got == [415, 415], got)
    got = [c.raw("POST", kid_a, c.jws(ka, kid_a, None, kid=kid_a), ctype=t)[0]
           for t in ("Application/JOSE+JSON", "application/jose+json; charset=utf-8")]
    check("  ... while any case and parameters are the media type (accepted)",
          got == [200, 200], got)
    st, h, doc = c.post(ka, c.dir["newAccount"], {"onlyReturnExisting": True}, kid=False,
                        nonce=None) if False else (None, None, None)
    k3 = Key()
    st, h, doc = c.post(k3, c.dir["newAccount"], {"onlyReturnExisting": True}, kid=False)
    check("onlyReturnExisting for an unknown key gives accountDoesNotExist",
          st == 400 and ptype(doc) == "accountDoesNotExist", (st, doc))

    # identifiers
    c.kid = kid_a
    st, h, doc = c.post(ka, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                               "value": "bad_name!.test"}]})
    check("invalid DNS name gives rejectedIdentifier with subproblems",
          st == 400 and ptype(doc) == "rejectedIdentifier" and doc.get("subproblems"), (st, doc))
    # A name outside ASCII (given as a U-label) or with a control character: refused with
    # a subproblem that says so. Such a refusal once built its message from the raw byte,
    # lost it (not UTF-8), and created a "ready" order for no names at all.
    for value, says in (("b\u00fccher.example.test", "A-labels (xn--"),
                        ("n1.example.test\u0001", "other than letters, digits"),
                        ("\u00e9.example.test", "A-labels (xn--")):
        st, h, doc = c.post(ka, c.dir["newOrder"], {"identifiers": [
            {"type": "dns", "value": "n1.example.test"}, {"type": "dns", "value": value}]})
        subs = doc.get("subproblems", []) if isinstance(doc, dict) else []
        check("newOrder with %r beside a good name is refused whole (rejectedIdentifier)" % value,
              st == 400 and ptype(doc) == "rejectedIdentifier" and len(subs) == 1 and
              subs[0].get("identifier", {}).get("value") == value and
              says in subs[0].get("detail", ""), (st, doc))
    # An A-label must be Punycode (RFC 3492) that decodes to a name outside ASCII (RFC 5890
    # §2.3.2.1): xn--zz is not (its last digit is cut short). One check (ca_dns_problem)
    # for ACME, CSRs, EST and the policy.
    for value in ("xn--zz.example.test", "www.xn--a.example.test"):
        st, h, doc = c.post(ka, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                   "value": value}]})
        subs = doc.get("subproblems", []) if isinstance(doc, dict) else []
        check("newOrder for %s (not an A-label) gives rejectedIdentifier saying why" % value,
              st == 400 and ptype(doc) == "rejectedIdentifier" and len(subs) == 1 and
              "has an xn-- label that" in subs[0].get("detail", ""), (st, doc))
    st, h, doc = c.post(ka, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                               "value": "xn--bcher-kva.test"}]})
    check("newOrder for xn--bcher-kva.test (b\u00fccher, a valid A-label) is accepted (201)",
          st == 201, (st, doc))
    st, h, doc = c.post(ka, c.dir["newOrder"], {"identifiers": [{"type": "email",
                                                               "value": "a@b.test"}]})
    check("email identifier gives unsupportedIdentifier",
          st == 400 and ptype(doc) == "unsupportedIdentifier", (st, doc))

    # order flow failures
    st, h, order = c.post(ka, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                 "value": "n1.example.test"}]})
    check("newOrder gives 201 pending", st == 201 and order.get("status") == "pending",
          (st, order))
    ourl = h.get("Location")
    st, h, doc = c.post(ka, order["finalize"], {"csr": make_csr(["n1.example.test"])})
    check("finalize before ready gives orderNotReady",
          st == 403 and ptype(doc) == "orderNotReady", (st, doc))
    c.kid = kid_b
    st, h, doc = c.post(kb, ourl, None)
    check("another account cannot read the order (unauthorized)",
          st == 403 and ptype(doc) == "unauthorized", (st, doc))
    c.kid = kid_a
    st, h, authz = c.post(ka, order["authorizations"][0], None)
    ch = [x for x in authz["challenges"] if x["type"] == "http-01"][0]
    TOKENS[ch["token"]] = "wrong"
    st, h, doc = c.post(ka, ch["url"], {})
    check("challenge POST answers with the challenge and Retry-After",
          st == 200 and doc.get("type") == "http-01" and h.get("Retry-After") is not None
          and "rel=\"up\"" in (h.get("Link") or "") or "up" in str(h.get_all("Link")),
          (st, doc, dict(h)))
    az = poll(c, ka, order["authorizations"][0], "invalid")
    err = [x for x in az["challenges"] if x.get("error")]
    check("wrong key authorization makes the authorization invalid (incorrectResponse)",
          az.get("status") == "invalid" and err and
          ptype(err[0]["error"]) == "incorrectResponse", az)
    st, h, doc = c.post(ka, ourl, None)
    check("the order turns invalid", doc.get("status") == "invalid", doc)

    # a good order, then a CSR with an extra name
    st, h, order = c.post(ka, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                 "value": "n2.example.test"}]})
    ourl = h.get("Location")
    az_url = order["authorizations"][0]
    st, h, authz = c.post(ka, order["authorizations"][0], None)
    ch = [x for x in authz["challenges"] if x["type"] == "http-01"][0]
    TOKENS[ch["token"]] = ch["token"] + "." + ka.thumb()
    c.post(ka, ch["url"], {})
    az = poll(c, ka, order["authorizations"][0], "valid")
    check("http-01 validates", az.get("status") == "valid", az)
    st, h, doc = c.post(ka, ourl, None)
    check("the order is ready", doc.get("status") == "ready", doc)
    st, h, doc = c.post(ka, order["finalize"], {"csr": make_csr(["n2.example.test"], ka.k)})
    check("a CSR for the account's own key gives badCSR",
          st == 400 and ptype(doc) == "badCSR" and "account key" in doc.get("detail", ""),
          (st, doc))
    st, h, doc = c.post(ka, order["finalize"],
                        {"csr": make_csr(["n2.example.test", "extra.example.test"])})
    check("CSR with an extra name gives badCSR", st == 400 and ptype(doc) == "badCSR",
          (st, doc))
    st, h, doc = c.post(ka, order["finalize"],
                        {"csr": make_csr(["n2.example.test"], org="Unvalidated Org Inc",
                                         cn="N2.Example.TEST")})
    check("finalize with the right CSR issues", st == 200 and doc.get("status") == "valid",
          (st, doc))
    st, h, pem = c.post(ka, doc["certificate"], None)
    check("certificate download is a PEM chain with Link rel=up",
          st == 200 and pem.count(b"BEGIN CERTIFICATE") == 2 and
          "rel=\"up\"" in str(h.get_all("Link")), (st, dict(h)))
    # RFC 8555 §6.3: POST-as-GET is a JWS whose payload is empty; "{}" is not one. The
    # resources that are only read refuse it; {} to the account URL is a fetch
    # (§7.3.2) and to a challenge the answer that starts the validation (§7.5.1).
    got = {}
    for what, u in (("certificate", doc["certificate"]), ("order", ourl),
                    ("orders list", kid_a + "/orders"), ("authorization", az_url)):
        st, h, d = c.post(ka, u, {})
        got[what] = (st, ptype(d), d.get("detail", "") if isinstance(d, dict) else d[:60])
    check("a payload of {} to the certificate, the order, the orders list and an "
          "authorization is refused (400 malformed)",
          all(v[0] == 400 and v[1] == "malformed" for v in got.values()) and
          all("POST-as-GET" in v[2] for k, v in got.items() if k != "authorization"), got)
    st, h, d = c.post(ka, kid_a, {})
    check("  ... while {} to the account URL answers the account (200)",
          st == 200 and isinstance(d, dict) and d.get("status") == "valid", (st, d))
    subj = x509.load_pem_x509_certificate(pem).subject
    check("the certificate's subject is the validated CN only (the CSR's O is not "
          "certified), written as its SAN (the CSR's N2.Example.TEST lower-cased)",
          subj.rfc4514_string() == "CN=n2.example.test", subj.rfc4514_string())
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)

    # revocation
    c.kid = kid_b
    st, h, doc = c.post(kb, c.dir["revokeCert"], {"certificate": b64(der)})
    check("revoking another account's certificate gives unauthorized",
          st == 403 and ptype(doc) == "unauthorized", (st, doc))
    c.kid = kid_a
    st, h, doc = c.post(ka, c.dir["revokeCert"], {"certificate": b64(der), "reason": 7})
    check("reason 7 gives badRevocationReason",
          st == 400 and ptype(doc) == "badRevocationReason", (st, doc))
    st, h, doc = c.post(ka, c.dir["revokeCert"], {"certificate": b64(der), "reason": 1})
    check("the owner revokes (200)", st == 200, (st, doc))
    st, h, doc = c.post(ka, c.dir["revokeCert"], {"certificate": b64(der), "reason": 1})
    check("revoking again gives alreadyRevoked",
          st == 400 and ptype(doc) == "alreadyRevoked", (st, doc))

    # revocation signed by the certificate's own key (jwk, no account)
    ck = Key()
    st, h, o3 = c.post(ka, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                              "value": "n2.example.test"}]})
    st, h, doc = c.post(ka, o3["finalize"], {"csr": make_csr(["n2.example.test"], ck.k)})
    st, h, pem3 = c.post(ka, doc["certificate"], None)
    der3 = x509.load_pem_x509_certificate(pem3).public_bytes(serialization.Encoding.DER)
    st, h, doc = c.post(kb, c.dir["revokeCert"], {"certificate": b64(der3)}, kid=False)
    check("a jwk that is not the certificate key cannot revoke",
          st == 403 and ptype(doc) == "unauthorized", (st, doc))
    st, h, doc = c.post(ck, c.dir["revokeCert"], {"certificate": b64(der3), "reason": 1},
                        kid=False)
    check("the certificate's own key revokes it (jwk)", st == 200, (st, doc))
    # that key is blocked now (keyCompromise): whoever holds it makes no account with it
    st, h, doc = c.post(ck, c.dir["newAccount"], {"termsOfServiceAgreed": True}, kid=False)
    check("newAccount with a key revoked for keyCompromise gives badPublicKey",
          st == 400 and ptype(doc) == "badPublicKey" and "blocked" in doc.get("detail", ""),
          (st, doc))
    st, h, doc = key_change(c, ka, kid_a, ck)
    check("keyChange to a key revoked for keyCompromise gives badPublicKey",
          st == 400 and ptype(doc) == "badPublicKey" and "blocked" in doc.get("detail", ""),
          (st, doc))
    c.kid = kid_a
    st, h, doc = c.post(ka, kid_a, None)
    check("  ... and the account keeps its key", st == 200, (st, doc))

    # renewalInfo for an issued certificate
    cert = x509.load_der_x509_certificate(der)
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    sn = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 8) // 8, "big")
    st, h, data = c.raw("GET", c.dir["renewalInfo"] + "/" + b64(aki.key_identifier) + "." +
                        b64(sn))
    doc = json.loads(data) if st == 200 else {}
    check("renewalInfo gives a suggested window",
          st == 200 and "start" in doc.get("suggestedWindow", {}), (st, data))
    other_aki = bytes(b ^ 0xff for b in aki.key_identifier)
    st, h, data = c.raw("GET", c.dir["renewalInfo"] + "/" + b64(other_aki) + "." + b64(sn))
    check("renewalInfo for the serial under another issuer key identifier gives 404",
          st == 404, (st, data))
    # the serial is a DER INTEGER's content: zero bytes in front of it (0x00 before a byte
    # below 0x80) are not the serial, nor is nothing (RFC 9773 §4.1)
    ari = c.dir["renewalInfo"] + "/" + b64(aki.key_identifier) + "."
    for pad in (b"\x00", b"\x00\x00"):
        st, h, data = c.raw("GET", ari + b64(pad + sn))
        doc = json.loads(data) if st == 400 else {}
        check("renewalInfo for the serial with %d zero byte(s) in front gives 400 malformed"
              % len(pad), st == 400 and ptype(doc) == "malformed" and
              "leading zero byte" in doc.get("detail", ""), (st, data))
    st, h, data = c.raw("GET", ari)
    doc = json.loads(data) if st == 400 else {}
    check("renewalInfo for an empty serial gives 400 malformed",
          st == 400 and ptype(doc) == "malformed" and "empty" in doc.get("detail", ""),
          (st, data))
    st, h, data = c.raw("GET", ari + b64(sn))
    check("  ... and the canonical serial still gives its window", st == 200 and
          "start" in json.loads(data).get("suggestedWindow", {}), (st, data))

    # bounded fuzzing of the JWS parser: mutated bodies always give a problem document
    import random
    rnd = random.Random(8555)
    good = c.jws(ka, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                          "value": "f.example.test"}]},
                 kid=kid_a)
    shapes = [b"", b"null", b"[]", b"\"x\"", b"{}", b"{\"protected\":1}",
              b"{\"protected\":\"\",\"payload\":\"\",\"signature\":\"\"}",
              b"[" * 5000, b"{\"a\":" * 3000, b"\xff\xfe\x00"]
    bad_status = []
    for i in range(300):
        if i < len(shapes):
            body = shapes[i]
        else:
            b = bytearray(good)
            for _ in range(rnd.randint(1, 8)):
                op = rnd.randint(0, 2)
                pos = rnd.randrange(len(b))
                if op == 0:
                    b[pos] = rnd.randrange(256)
                elif op == 1:
                    del b[pos:pos + rnd.randint(1, 20)]
                else:
                    b[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 20)))
            body = bytes(b)
        st, h, data = c.raw("POST", c.dir["newOrder"], body)
        ok_doc = (400 <= st < 500 and (h.get("Content-Type") or "").startswith(
            "application/problem+json") and b"urn:ietf:params:acme:error:" in data)
        # a mutation that keeps the request meaning (e.g. unused base64 bits) may pass once
        if not ok_doc and st != 201:
            bad_status.append((i, st, data[:120]))
    check("300 mutated JWS bodies all get ACME problem documents", not bad_status,
          bad_status[:3])
    st, h, data = c.raw("POST", c.dir["newOrder"], b"{" + b" " * 70000 + b"}")
    doc = json.loads(data) if data[:1] == b"{" else {}
    check("an oversized body is refused with 413", st == 413, st)
    # RFC 8555 §6.5, §6.7: every answer to a POST carries a Replay-Nonce, errors are ACME
    # problems, so a client can retry at once (the refusal is the HTTP layer's, before
    # any JWS is read).
    check("  ... as an ACME problem (malformed) naming the limit, with a Replay-Nonce",
          ptype(doc) == "malformed" and "65536" in doc.get("detail", "") and
          h.get("Content-Type", "").startswith("application/problem+json") and
          bool(h.get("Replay-Nonce")), (st, dict(h), data[:200]))
    n413 = h.get("Replay-Nonce")
    st, h, doc = c.post(ka, kid_a, None, kid=kid_a, nonce=n413)
    check("  ... and that nonce is good for the retry", st == 200, (st, doc))
    st, h, data = c.raw("POST", c.dir["newOrder"].replace("new-order", "new-order%00x"),
                        c.jws(ka, c.dir["newOrder"], {}, kid=kid_a))
    doc = json.loads(data) if data[:1] == b"{" else {}
    check("a NUL (%00) in an ACME path gives 400 malformed with a Replay-Nonce",
          st == 400 and ptype(doc) == "malformed" and "NUL" in doc.get("detail", "") and
          bool(h.get("Replay-Nonce")), (st, dict(h), data[:200]))
    u = urllib.parse.urlsplit(c.dir["newNonce"])
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=c.ctx, timeout=30)
    conn.putrequest("GET", u.path, skip_host=True)
    conn.endheaders()
    r = conn.getresponse()
    data = r.read()
    conn.close()
    doc = json.loads(data) if data[:1] == b"{" else {}
    check("an HTTP/1.1 request without Host on an ACME path gives 400 malformed with a "
          "Replay-Nonce", r.status == 400 and ptype(doc) == "malformed" and
          bool(r.headers.get("Replay-Nonce")), (r.status, dict(r.headers), data[:200]))
    st, h, data = c.raw("GET", c.dir["newNonce"])
    check("the server still answers after the fuzzing", st == 204, st)

    # other JWS algorithms: ES384 and EdDSA accounts can order
    for kind in ("ES384", "EdDSA"):
        kx = Key(kind=kind)
        st, doc = c.account(kx)
        st2, h, od = c.post(kx, c.dir["newOrder"],
                            {"identifiers": [{"type": "dns", "value": "alg.example.test"}]})
        check("an %s account is created and orders" % kind, st == 201 and st2 == 201,
              (st, doc, st2, od))
    c.kid = kid_a

    # identifiers that are the same once normalised are one identifier
    st, h, doc = c.post(ka, c.dir["newOrder"], {"identifiers": [
        {"type": "dns", "value": "Dup.Example.test"}, {"type": "dns", "value": "dup.example.test"},
        {"type": "ip", "value": "::ffff:127.0.0.9"}, {"type": "ip", "value": "127.0.0.9"}]})
    check("newOrder lists names that are the same once normalised once",
          st == 201 and doc.get("identifiers") == [{"type": "dns", "value": "dup.example.test"},
                                                   {"type": "ip", "value": "127.0.0.9"}]
          and len(doc.get("authorizations", [])) == 2, (st, doc))

    # a valid authorization is reused by the next order of the same account
    st, h, doc = c.post(ka, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                               "value": "n2.example.test"}]})
    check("a new order reuses the account's valid authorization (ready at once)",
          st == 201 and doc.get("status") == "ready", (st, doc))

    # orders list: 100 per page with Link rel="next"
    for i in range(100):
        c.post(ka, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                       "value": "l%d.example.test" % i}]})
    st, h, doc = c.post(ka, kid_a + "/orders", None)
    nxt = [l for l in (h.get_all("Link") or []) if 'rel="next"' in l]
    check("the orders list gives 100 orders and a next page",
          st == 200 and len(doc.get("orders", [])) == 100 and nxt, (st, len(doc.get("orders", []))))
    if nxt:
        st, h, doc2 = c.post(ka, nxt[0].split(">")[0].lstrip("<"), None)
        check("the next page holds the rest, without duplicates",
              st == 200 and 0 < len(doc2.get("orders", [])) < 100 and
              not set(doc2["orders"]) & set(doc["orders"]), (st, doc2))
    st, h, order = c.post(ka, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                 "value": "d.example.test"}]})
    st, h, doc = c.post(ka, order["authorizations"][0], {"status": "deactivated"})
    check("authorization deactivation", st == 200 and doc.get("status") == "deactivated",
          (st, doc))

    # keyChange: the account moves to a new key; the old key no longer finds it
    knew = Key()
    st, h, doc = key_change(c, ka, kid_a, knew)
    check("keyChange to a new key", st == 200, (st, doc))
    st, h, doc = c.post(knew, kid_a, None)
    check("the new key signs for the account", st == 200 and doc.get("status") == "valid",
          (st, doc))
    st, h, doc = c.post(ka, c.dir["newAccount"], {"onlyReturnExisting": True}, kid=False)
    check("the old key no longer finds the account",
          st == 400 and ptype(doc) == "accountDoesNotExist", (st, doc))

    # two keyChanges signed by the same key at once: one wins, the other no longer speaks
    # for the account (its key changed in between), and nothing is half done
    verdicts = []
    for _ in range(3):
        n1, n2 = Key(), Key()
        bodies = []
        for new in (n1, n2):
            prot = b64(json.dumps({"alg": new.alg, "jwk": new.jwk(),
                                   "url": c.dir["keyChange"]}).encode())
            pay = b64(json.dumps({"account": kid_a, "oldKey": knew.jwk()}).encode())
            inner = {"protected": prot, "payload": pay,
                     "signature": b64(new.sign((prot + "." + pay).encode()))}
            bodies.append(c.jws(knew, c.dir["keyChange"], inner, kid=kid_a,
                                nonce=c.new_nonce()))
        got = sorted(st for st, _ in send_at_once(c, c.dir["keyChange"], bodies))
        signs = [c.post(k, kid_a, None, kid=kid_a)[0] for k in (knew, n1, n2)]
        finds = [c.post(k, c.dir["newAccount"], {"onlyReturnExisting": True}, kid=False)[0]
                 for k in (n1, n2)]
        verdicts.append((got, signs, finds))
        knew = n1 if signs[1] == 200 else n2
    # The loser is refused by the signature check (400) when the winner committed before
    # it was read, else inside its transaction (401): never a 500, never half applied.
    check("two keyChanges from one key at once: one 200, one refused, one new key holds",
          all(got[0] == 200 and got[1] in (400, 401) and sorted(signs) == [200, 400, 400] and
              sorted(finds) == [200, 400] for got, signs, finds in verdicts), verdicts)

    # contacts: one plain address per mailto: URI (notify_address_ok), at creation too
    bad = ["mailto:a@b.test\r\nBcc: evil@x.test", "mailto:a b@c.test", "mailto:<a@b.test>",
           "mailto:a@b.test%0ABcc:e@x", "mailto:\"x\"@b.test", "mailto:a@b@c.test", "mailto:a@"]
    refused = [v for v in bad
               if ptype(c.post(kb, kid_b, {"contact": [v]}, kid=kid_b)[2]) == "invalidContact"]
    check("contact updates that are not one plain address give invalidContact",
          refused == bad, sorted(set(bad) - set(refused)))
    st, h, doc = c.post(Key(), c.dir["newAccount"], {"termsOfServiceAgreed": True,
                                                     "contact": [bad[0]]}, kid=False)
    check("  ... and so does newAccount with one", st == 400 and ptype(doc) == "invalidContact",
          (st, doc))
    # The same address twice (the host in any case, RFC 5321 §2.4) is refused, naming it:
    # certbot and lego send each address once, and a stored duplicate would mail twice.
    dup = ["mailto:one@b.test", "mailto:two@b.test", "mailto:one@B.Test"]
    st, h, doc = c.post(kb, kid_b, {"contact": dup}, kid=kid_b)
    check("a contact update listing one address twice gives invalidContact naming it",
          st == 400 and ptype(doc) == "invalidContact" and
          "mailto:one@B.Test" in doc.get("detail", "") and "contact[0]" in doc.get("detail", ""),
          (st, doc))
    st, h, doc = c.post(Key(), c.dir["newAccount"], {"termsOfServiceAgreed": True,
                                                     "contact": dup[:1] * 2}, kid=False)
    check("  ... and so does newAccount", st == 400 and ptype(doc) == "invalidContact" and
          "twice" in doc.get("detail", ""), (st, doc))
    st, h, doc = c.post(kb, kid_b, {"contact": dup[:2]}, kid=kid_b)
    check("  ... while two different addresses are kept",
          st == 200 and doc.get("contact") == dup[:2], (st, doc))

    # ACME profiles: the one the directory offers, or a clear refusal (never another in
    # silence)
    offered = list(c.dir.get("meta", {}).get("profiles", {}))
    want = {"identifiers": [{"type": "dns", "value": "p.example.test"}]}
    for bad in ("admin", "no-such-profile", 7):
        st, h, doc = c.post(kb, c.dir["newOrder"], dict(want, profile=bad), kid=kid_b)
        check("newOrder with profile %r (not offered) gives invalidProfile" % (bad,),
              st == 400 and ptype(doc) == "invalidProfile" and
              offered[0] in doc.get("detail", ""), (st, doc))
    st, h, doc = c.post(kb, c.dir["newOrder"], dict(want, profile=offered[0]), kid=kid_b)
    st2, h2, doc2 = c.post(kb, c.dir["newOrder"], want, kid=kid_b)
    check("newOrder with the offered profile, or none, makes an order on it",
          len(offered) == 1 and st == 201 and doc.get("profile") == offered[0] and
          st2 == 201 and doc2.get("profile") == offered[0], (offered, st, doc, st2, doc2))

    # one URL per challenge; a challenge of an authorization that is over cannot be answered
    az = doc2["authorizations"][0]
    st, h, authz = c.post(kb, az, None, kid=kid_b)
    curl = authz["challenges"][0]["url"]
    base = curl.rsplit("/", 1)[0]
    spelled = [c.post(kb, base + "/" + n, None, kid=kid_b)[0] for n in ("+0", "00", "-0")]
    st, h, ch = c.post(kb, curl, None, kid=kid_b)
    check("a challenge answers at its own URL only (/+0, /00, /-0 are 404)",
          curl.endswith("/0") and st == 200 and spelled == [404] * 3, (curl, st, spelled))
    st, h, doc = c.post(kb, az, {"status": "deactivated"}, kid=kid_b)
    st2, h2, doc2 = c.post(kb, curl, {}, kid=kid_b)
    check("answering a pending challenge of a deactivated authorization is refused "
          "(malformed, saying so)", st == 200 and st2 == 400 and ptype(doc2) == "malformed" and
          "deactivated" in doc2.get("detail", ""), (st, st2, doc2))

    # account deactivation
    st, h, doc = c.post(kb, kid_b, {"status": "deactivated"}, kid=kid_b)
    check("account deactivation", st == 200 and doc.get("status") == "deactivated", (st, doc))
    st, h, doc = c.post(kb, c.dir["newOrder"],
                        {"identifiers": [{"type": "dns", "value": "z.example.test"}]}, kid=kid_b)
    check("a deactivated account is unauthorized", st == 401 and ptype(doc) == "unauthorized",
          (st, doc))


def raw_jws(c, key, url, prot_text, pay_text):
    """POSTs a JWS whose protected header and payload are the given JSON texts, as they
    are (duplicate members and all); returns (status, problem document)."""
    p64, y64 = b64(prot_text.encode()), b64(pay_text.encode())
    body = json.dumps({"protected": p64, "payload": y64,
                       "signature": b64(key.sign((p64 + "." + y64).encode()))}).encode()
    st, h, data = c.raw("POST", url, body)
    return st, json.loads(data)


def lookalikes(directory, cafile, port):
    """What earlier probes did not try: another account's objects, URLs that look like
    them, kid and url headers that differ a little, duplicate members, IP text forms, a
    deactivated authorization's reuse, CSR names that differ a little."""
    serve_http01(port)
    c = Client(directory, cafile)
    ka, kb = Key(), Key()
    c.account(kb)
    kid_b = c.kid
    c.account(ka)
    kid_a = c.kid
    new_order, one = c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                          "value": "n1.example.test"}]}
    u = urllib.parse.urlsplit(kid_a)
    kids = [kid_a.replace(u.hostname, "localhost"), kid_a.replace("/acme/", "/acme//"),
            kid_a + "/"]
    got = [c.post(ka, new_order, one, kid=k) for k in kids]
    check("a kid of another host, with another prefix or a trailing slash gives "
          "accountDoesNotExist", all(r[0] == 400 and ptype(r[2]) == "accountDoesNotExist"
                                     for r in got), [(r[0], r[2]) for r in got])
    got = [c.post(ka, new_order, one, hdr_url=x)
           for x in (new_order + "/", new_order.replace("new-order", "NEW-ORDER"))]
    check("a url header with a trailing slash or in other case gives unauthorized",
          all(r[0] == 401 and ptype(r[2]) == "unauthorized" for r in got),
          [(r[0], r[2]) for r in got])
    got = [c.post(ka, new_order, one, alg=alg) for alg in ("none", "HS256", "es256")]
    check("alg none, HS256, es256 give badSignatureAlgorithm",
          all(r[0] == 400 and ptype(r[2]) == "badSignatureAlgorithm" for r in got),
          [(r[0], r[2]) for r in got])
    prot = '{"alg":"ES256","nonce":"%s","url":"%s","kid":"%s","kid":"%s"}'
    got = [raw_jws(c, ka, new_order, prot % (c.new_nonce(), new_order, kid_b, kid_a),
                   json.dumps(one)),
           raw_jws(c, ka, new_order, prot[:-12] % (c.new_nonce(), new_order, kid_a) + "}",
                   '{"identifiers":[{"type":"dns","value":"n1.example.test"}],'
                   '"identifiers":[{"type":"dns","value":"n2.example.test"}]}')]
    j = Key().jwk()
    jwk_text = '{"kty":"EC","crv":"P-256","x":"%s","y":"%s","x":"%s"}' % (j["x"], j["y"], j["x"])
    got.append(raw_jws(c, ka, c.dir["newAccount"],
                       '{"alg":"ES256","nonce":"%s","url":"%s","jwk":%s}' %
                       (c.new_nonce(), c.dir["newAccount"], jwk_text),
                       '{"termsOfServiceAgreed":true}'))
    check("a duplicate member in the protected header (kid), the payload or a jwk gives "
          "malformed", all(st == 400 and ptype(d) == "malformed" and
                           "duplicate" in d.get("detail", "") for st, d in got), got)
    n = c.new_nonce()
    c.post(ka, kid_a, None, nonce=n)
    st, h, doc = c.post(kb, kid_b, None, kid=kid_b, nonce=n)
    check("a nonce A used is badNonce for B", st == 400 and ptype(doc) == "badNonce", (st, doc))
    got = [c.post(kb, url, None, kid=kid_b)[0] for url in
           (kid_a + "/orders", kid_a.replace("/acct/", "/orders/") + "/0")]
    check("B reading A's orders list or a page of it gives 401", got == [401, 401], got)

    # A's objects: B is refused; URLs that look like them name nothing
    st, h, order = c.post(ka, new_order, one)
    ourl, az = h.get("Location"), order["authorizations"][0]
    st, h, authz = c.post(ka, az, None)
    chall = authz["challenges"][0]["url"]
    got = [c.post(kb, url, pay, kid=kid_b) for url, pay in
           ((az, None), (az, {"status": "deactivated"}), (chall, {}),
            (order["finalize"], {"csr": make_csr(["n1.example.test"])}))]
    check("B reading or deactivating A's authorization, answering its challenge or "
          "finalizing its order gives 403 unauthorized",
          all(r[0] == 403 and ptype(r[2]) == "unauthorized" for r in got),
          [(r[0], r[2]) for r in got])
    oid = ourl.rsplit("/", 1)[1]
    like = [oid.lower(), oid.upper(), oid + "=", oid + "/", oid + "/x", "./" + oid,
            "%%%02X" % ord(oid[0]) + oid[1:]]
    got = [c.post(ka, ourl[:-len(oid)] + x, None)[0] for x in like if x != oid]
    check("A's order at URLs that look like it (case, padding, a trailing slash, another "
          "segment, a dot segment, percent-encoded) is 404 or 401, never the order",
          all(x in (401, 404) for x in got), got)
    st, h, doc = key_change(c, ka, kid_a, kb)
    check("keyChange to the key of another account gives 409 conflict, its Location that "
          "account", st == 409 and ptype(doc) == "conflict" and h.get("Location") == kid_b,
          (st, doc, h.get("Location")))

    # IP identifiers: text forms that are not an address refused; mapped IPv6 is IPv4
    got = [c.post(ka, new_order, {"identifiers": [{"type": "ip", "value": v}]})[0]
           for v in ("127.000.000.001", "0127.0.0.1", "127.1", "[::1]", "127.0.0.1/32",
                     "fe80::1%lo", " 127.0.0.1")]
    check("IP identifiers with leading zeros, short, bracketed, with a prefix or a zone "
          "give 400", got == [400] * 7, got)
    st, h, doc = c.post(ka, new_order, {"identifiers": [{"type": "ip",
                                                          "value": "::ffff:127.0.0.1"}]})
    check("an IPv4-mapped IPv6 identifier is ordered as IPv4",
          doc.get("identifiers") == [{"type": "ip", "value": "127.0.0.1"}], (st, doc))

    # a deactivated authorization is not reused; CSR names that differ a little
    ourl, order = order_until_ready(c, ka, "n2.example.test")
    az = order["authorizations"][0]
    c.post(ka, az, {"status": "deactivated"})
    st, h, doc = c.post(ka, new_order, {"identifiers": [{"type": "dns",
                                                          "value": "n2.example.test"}]})
    check("after a deactivation the next order gets a new pending authorization",
          st == 201 and doc.get("status") == "pending" and doc["authorizations"] != [az],
          (st, doc))
    idents = [{"type": "dns", "value": "n1.example.test"}, {"type": "ip", "value": "127.0.0.1"}]
    ip4, ip6 = (x509.IPAddress(ipaddress.ip_address(v)) for v in ("127.0.0.1",
                                                                   "::ffff:127.0.0.1"))
    st, h, order = c.post(ka, new_order, {"identifiers": idents})
    ourl = h.get("Location")
    for url in order["authorizations"]:
        validate_first(c, ka, {"authorizations": [url]})
        poll(c, ka, url, "valid")
    bad = [[x509.DNSName("n1.example.test."), ip4],
           [x509.DNSName("*.n1.example.test"), x509.DNSName("n1.example.test"), ip4]]
    got = [c.post(ka, order["finalize"], {"csr": csr_sans(sans)}) for sans in bad]
    check("finalize with a SAN with a trailing dot, or a wildcard not ordered, gives badCSR",
          all(r[0] == 400 and ptype(r[2]) == "badCSR" for r in got),
          [(r[0], r[2]) for r in got])
    st, h, doc = c.post(ka, order["finalize"], {"csr": csr_sans(
        [x509.DNSName("n1.example.test"), x509.DNSName("n1.example.test"), ip6])})
    st, h, pem = c.post(ka, poll(c, ka, ourl, "valid").get("certificate", ourl), None)
    sans = x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value if b"BEGIN" in pem else None
    check("a CSR naming a name twice and the address as IPv4-mapped IPv6 issues each name "
          "once, the address as IPv4", sans is not None and list(sans) == [
              x509.DNSName("n1.example.test"), ip4], (st, doc, sans))


def csr_sans(sans):
    """A CSR (base64url DER) of a new P-256 key with no subject and these SANs."""
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    b = b.add_extension(x509.SubjectAlternativeName(sans), False)
    return b64(b.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()).public_bytes(
        serialization.Encoding.DER))


def revoke_names(directory, cafile, port, *pems):
    """revokeCert by authorizations: every name counts, the CN too; keyCompromise from an
    account that did not order the certificate needs the certificate's key. pems: a
    certificate with CN=victim.example.test and SAN attacker.example.test, then one with
    a person's name as CN and the same SAN (both issued outside ACME)."""
    serve_http01(port)
    c = Client(directory, cafile)
    owner, other = Key(), Key()
    c.account(owner)
    kid_owner = c.kid
    _, _, pem = obtain(c, owner, ["attacker.example.test"])
    mine = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    c.account(other)
    order_until_ready(c, other, "attacker.example.test")
    for path, what in zip(pems, ("a host name CN it never validated",
                                 "a CN that is a person's name")):
        der = x509.load_pem_x509_certificate(open(path, "rb").read()).public_bytes(
            serialization.Encoding.DER)
        for reason in (1, 0):
            st, h, doc = c.post(other, c.dir["revokeCert"], {"certificate": b64(der),
                                                             "reason": reason})
            check("an account authorized for the SAN only cannot revoke a certificate "
                  "with %s (reason %d)" % (what, reason),
                  st == 403 and ptype(doc) == "unauthorized" and "CN" in doc.get("detail", ""),
                  (st, doc))
    st, h, doc = c.post(other, c.dir["revokeCert"], {"certificate": b64(mine), "reason": 1})
    check("keyCompromise from an account authorized for every name (not the owner) gives "
          "badRevocationReason naming the certificate key",
          st == 400 and ptype(doc) == "badRevocationReason" and
          "certificate's key" in doc.get("detail", ""), (st, doc))
    st, h, doc = c.post(other, c.dir["revokeCert"], {"certificate": b64(mine), "reason": 4})
    check("another reason from that account revokes it", st == 200, (st, doc))


def finalize_held(c, key, order, name, hang, waiting, meanwhile):
    """Finalizes order (a CSR for name) while the token holds every call (token_plug.so:
    calls wait while the file hang exists and create the file waiting), runs meanwhile()
    once the signature waits, then lets the token go. Returns (whether the finalize was
    seen waiting, what meanwhile returned, (status, document) of the finalize)."""
    open(hang, "w").close()
    got = {}

    def finalize():
        body = c.jws(key, order["finalize"], {"csr": make_csr([name])},
                     kid=c.kid, nonce=c.new_nonce())
        st, h, data = c.raw("POST", order["finalize"], body)
        got["finalize"] = (st, json.loads(data) if data[:1] == b"{" else data)

    t = threading.Thread(target=finalize)
    t.start()
    for _ in range(200):
        if os.path.exists(waiting):
            break
        time.sleep(0.05)
    held = os.path.exists(waiting)
    result = meanwhile()
    os.remove(hang)
    t.join(60)
    return held, result, got.get("finalize", (None, None))


def deactivate_race(directory, cafile, port, hang, waiting):
    """An authorization deactivated while its order's finalize waits for the token
    (token_plug.so: every token call waits while the file hang exists and creates the file
    waiting): the deactivation commits first, so nothing may be issued on it."""
    serve_http01(port)
    c = Client(directory, cafile)
    key = Key()
    c.account(key)
    _, _, pem = obtain(c, key, ["control.race.test"])
    check("an order finalized without a race is issued", b"BEGIN CERTIFICATE" in pem, pem)
    ourl, order = order_until_ready(c, key, "race.race.test")
    st, h, doc = c.post(key, ourl, None)
    ready = doc.get("status") == "ready"
    held, (st, h, doc), (fst, fdoc) = finalize_held(
        c, key, order, "race.race.test", hang, waiting,
        lambda: c.post(key, order["authorizations"][0], {"status": "deactivated"},
                       nonce=c.new_nonce()))
    check("the order was ready, its finalize waited in the token, and the deactivation "
          "was answered meanwhile", ready and held and st == 200 and
          doc.get("status") == "deactivated", (ready, held, st, doc))
    check("the finalize that waited is refused (orderNotReady), naming the authorization",
          fst == 403 and ptype(fdoc) == "orderNotReady" and
          "deactivated" in fdoc.get("detail", ""), (fst, fdoc))
    st, h, doc = c.post(key, ourl, None)
    check("the order has no certificate", st == 200 and doc.get("status") != "valid" and
          "certificate" not in doc, (st, doc))


def eab_race(directory, cafile, port, hang, waiting, kid, hmac_b64, revoke_cmd):
    """An account bound with EAB key kid whose key is revoked (revoke_cmd, the admin's
    `cairn acme eab revoke`) while its order's finalize waits in the token (token_plug.so,
    as in deactivate_race): the revocation commits first, so nothing may be issued to the
    revoked account, and its next request is refused."""
    serve_http01(port)
    c = Client(directory, cafile)
    key = Key()
    st, h, doc = c.post(key, c.dir["newAccount"], {
        "termsOfServiceAgreed": True,
        "externalAccountBinding": eab_binding(key, kid, hmac_b64, c.dir["newAccount"])},
        kid=False)
    c.kid = h.get("Location")
    check("an account is bound with the EAB key", st == 201 and c.kid, (st, doc))
    ourl, order = order_until_ready(c, key, "race.eab.test")
    st, h, doc = c.post(key, ourl, None)
    ready = doc.get("status") == "ready"
    held, rc, (fst, fdoc) = finalize_held(
        c, key, order, "race.eab.test", hang, waiting,
        lambda: subprocess.run(["sh", "-c", revoke_cmd], capture_output=True, timeout=60))
    check("the order was ready, its finalize waited in the token, and the key was revoked "
          "meanwhile", ready and held and rc.returncode == 0,
          (ready, held, rc.returncode, rc.stdout, rc.stderr))
    check("the finalize that waited is refused (401 unauthorized: the account is revoked)",
          fst == 401 and ptype(fdoc) == "unauthorized" and
          "revoked" in fdoc.get("detail", ""), (fst, fdoc))
    st, h, doc = c.post(key, ourl, None, nonce=c.new_nonce())
    check("the account's next request is refused: account is revoked",
          st == 401 and "account is revoked" in doc.get("detail", ""), (st, doc))


def validate_first(c, key, order):
    """Answers the http-01 challenge of the order's first authorization correctly and
    starts its validation; returns the authorization URL."""
    az = order["authorizations"][0]
    st, h, authz = c.post(key, az, None)
    ch = [x for x in authz["challenges"] if x["type"] == "http-01"][0]
    TOKENS[ch["token"]] = ch["token"] + "." + key.thumb()
    c.post(key, ch["url"], {})
    return az


def order_until_ready(c, key, name):
    st, h, order = c.post(key, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                  "value": name}]})
    ourl = h.get("Location")
    for az in order.get("authorizations", []):
        st, h, authz = c.post(key, az, None)
        ch = [x for x in authz["challenges"] if x["type"] == "http-01"][0]
        TOKENS[ch["token"]] = ch["token"] + "." + key.thumb()
        c.post(key, ch["url"], {})
        poll(c, key, az, "valid")
    return ourl, order


def finalized(directory, cafile, port, name):
    """A new account's order for name made ready (http-01 answered on port) and
    finalized: (client, key, order URL, order, the finalize's (status, headers, doc))."""
    serve_http01(port)
    c = Client(directory, cafile)
    k = Key()
    c.account(k)
    ourl, order = order_until_ready(c, k, name)
    return c, k, ourl, order, c.post(k, order["finalize"], {"csr": make_csr([name])})


def policy(directory, cafile, port):
    """Server policy: *.wait.test waits for an approver, *.deny.test is refused;
    at most 4 new orders per hour per account."""
    c, k, ourl, order, (st, h, doc) = finalized(directory, cafile, port, "a.wait.test")
    check("an order the policy parks stays processing with Retry-After",
          st == 200 and doc.get("status") == "processing" and h.get("Retry-After"), (st, doc))
    st, h, doc = c.post(k, ourl, None)
    check("polling it keeps it processing (no certificate yet)",
          doc.get("status") == "processing" and "certificate" not in doc, doc)
    ourl, order = order_until_ready(c, k, "a.deny.test")
    st, h, doc = c.post(k, order["finalize"], {"csr": make_csr(["a.deny.test"])})
    check("an order the policy refuses gives rejectedIdentifier (403)",
          st == 403 and ptype(doc) == "rejectedIdentifier", (st, doc))
    st, h, doc = c.post(k, ourl, None)
    check("the refused order is invalid with its error", doc.get("status") == "invalid" and
          doc.get("error"), doc)
    ourl, order = order_until_ready(c, k, "ok.example.test")
    st, h, doc = c.post(k, order["finalize"], {"csr": make_csr(["ok.example.test"])})
    check("an order the default rule allows is issued", doc.get("status") == "valid", (st, doc))
    st, h, pem = c.post(k, doc["certificate"], None)
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    kid_k = c.kid
    # another account that proves control of the name may revoke (RFC 8555 §7.6)
    k3 = Key()
    c.account(k3)
    st, h, doc = c.post(k3, c.dir["revokeCert"], {"certificate": b64(der)})
    check("an account without authorizations for the names cannot revoke",
          st == 403 and ptype(doc) == "unauthorized", (st, doc))
    order_until_ready(c, k3, "ok.example.test")
    st, h, doc = c.post(k3, c.dir["revokeCert"], {"certificate": b64(der), "reason": 4})
    check("an account holding valid authorizations for every name revokes", st == 200,
          (st, doc))
    c.kid = kid_k
    st, h, doc = c.post(k, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                              "value": "x.example.test"}]})
    check("the 4th order of the hour is still allowed", st == 201, (st, doc))
    st, h, doc = c.post(k, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                              "value": "y.example.test"}]})
    check("the 5th order of the hour gives rateLimited (429) with Retry-After",
          st == 429 and ptype(doc) == "rateLimited" and int(h.get("Retry-After", "0")) > 0,
          (st, doc))

    # at most 1 failed validation per name per hour; contact update
    k4 = Key()
    c.account(k4)
    st, h, doc = c.post(k4, c.kid, {"contact": ["mailto:new@example.test"]})
    check("account contact update", st == 200 and doc.get("contact") == ["mailto:new@example.test"],
          (st, doc))
    errors = []
    for attempt in range(2):
        st, h, o = c.post(k4, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                 "value": "fail.example.test"}]})
        az = o["authorizations"][0]
        st, h, authz = c.post(k4, az, None)
        ch = [x for x in authz["challenges"] if x["type"] == "http-01"][0]
        TOKENS[ch["token"]] = "wrong"
        c.post(k4, ch["url"], {})
        authz = poll(c, k4, az, "invalid")
        err = [x.get("error") for x in authz.get("challenges", []) if x.get("error")]
        errors.append(ptype(err[0]) if err else authz.get("status"))
    check("a failed validation is incorrectResponse, the next for that name rateLimited",
          errors == ["incorrectResponse", "rateLimited"], errors)
    k5 = Key()
    c.account(k5)
    st, h, o = c.post(k5, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                             "value": "fail.example.test"}]})
    az = poll(c, k5, validate_first(c, k5, o), "valid")
    check("  ... counted per account: another account still validates that name",
          az.get("status") == "valid", az)

    # at most 1 pending authorization per account
    k2 = Key()
    c.account(k2)
    st, h, o1 = c.post(k2, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                             "value": "p1.example.test"}]})
    st, h, doc = c.post(k2, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                              "value": "p2.example.test"}]})
    check("a second pending authorization gives rateLimited",
          st == 429 and ptype(doc) == "rateLimited" and "pending" in doc.get("detail", ""),
          (st, doc))
    c.post(k2, o1["authorizations"][0], {"status": "deactivated"})
    st, h, doc = c.post(k2, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                              "value": "p2.example.test"}]})
    check("after deactivating the first, the order is accepted", st == 201, (st, doc))


def held_order(directory, cafile, port, name):
    """A new account's order for name, validated now (http-01) and finalized: it waits
    for approvers (the policy parks name)."""
    c, k, ourl, order, (st, h, doc) = finalized(directory, cafile, port, name)
    check("the order for %s waits for approvers" % name,
          st == 200 and doc.get("status") == "processing", (st, doc))


def approve_own(cairn, cadir, kid):
    """Approves (cairn requests approve) the pending request of the account kid; returns
    (exit code, output)."""
    out = subprocess.run([cairn, "requests", "list", "--dir", cadir, "--json"],
                         capture_output=True, text=True, timeout=60).stdout
    acct = "acme:acct/" + kid.rsplit("/", 1)[-1]
    ids = [r["id"] for r in json.loads(out)["items"]
           if r["status"] == "pending" and r.get("requester") == acct]
    if len(ids) != 1:
        return -1, "pending requests of %s: %r" % (acct, ids)
    p = subprocess.run([cairn, "requests", "approve", ids[0], "--dir", cadir],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def approval_authz(directory, cafile, port, cairn, cadir):
    """An order waiting for approvers (a.wait.test) whose authorization its account
    deactivates meanwhile (RFC 8555 §7.5.2): the approval issues nothing. Before, the
    certificate was issued on the authorization the account had given up."""
    c, k, ourl, order, _ = finalized(directory, cafile, port, "a.wait.test")
    rc, out = approve_own(cairn, cadir, c.kid)
    st, h, doc = c.post(k, ourl, None)
    check("an order waiting for approvers is issued when approved",
          rc == 0 and doc.get("status") == "valid" and doc.get("certificate"), (rc, out, doc))
    # the next order reuses the valid authorization; it waits, and is given up meanwhile
    st, h, order = c.post(k, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                "value": "a.wait.test"}]})
    ourl = h.get("Location")
    st, h, doc = c.post(k, order["finalize"], {"csr": make_csr(["a.wait.test"])})
    st2, h, az = c.post(k, order["authorizations"][0], {"status": "deactivated"})
    check("the next order waits for approvers; its authorization is deactivated meanwhile",
          doc.get("status") == "processing" and az.get("status") == "deactivated",
          (doc, st2, az))
    rc, out = approve_own(cairn, cadir, c.kid)
    check("the approval then issues nothing (403), naming the authorization",
          rc != 0 and "403" in out and "deactivated" in out, (rc, out))
    st, h, doc = c.post(k, ourl, None)
    check("  ... the order is invalid, without a certificate",
          doc.get("status") == "invalid" and "certificate" not in doc, doc)


def walked_total(metrics):
    with urllib.request.urlopen(metrics, timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("cairn_db_entries_walked_total "):
                return int(float(line.split()[1]))
    return 0


def walk_of(metrics, fn):
    """Index entries the daemon walks while fn runs, less a scrape's own, once quiet
    (background walks done: two scrapes in a row move the counter by the same amount)."""
    a = walked_total(metrics)
    for _ in range(120):
        time.sleep(0.5)
        b = walked_total(metrics)
        c = walked_total(metrics)
        if c - b == b - a:
            break
        a = c
    scrape = c - b
    w0 = walked_total(metrics)
    out = fn()
    return walked_total(metrics) - w0 - scrape, out


def new_order(c, key, name):
    st, h, doc = c.post(key, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                "value": name}]})
    return st, doc


def send_at_once(c, url, bodies):
    """POSTs the JWS bodies to url together, each on its own connection (connected and
    handshaken first, then all sent at once); returns [(status, parsed body)]."""
    got = []
    u = urllib.parse.urlsplit(url)
    ready = threading.Barrier(len(bodies))

    def send(body):
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=c.ctx, timeout=30)
        conn.connect()
        ready.wait()
        conn.request("POST", u.path, body, {"Content-Type": "application/jose+json"})
        r = conn.getresponse()
        raw = r.read()
        got.append((r.status, json.loads(raw) if raw else {}))
        conn.close()

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def pending_fill(directory, cafile, port, state, limit):
    """acme.rate_limits.pending_authorizations = limit: it holds when one account's new
    orders arrive together; an abandoned account's orders are kept for later."""
    limit = int(limit)
    c = Client(directory, cafile)
    k = Key()
    c.account(k)
    codes = [new_order(c, k, "p%d.pend.test" % i)[0] for i in range(limit - 4)]
    check("%d orders of one name each are accepted" % (limit - 4),
          codes == [201] * (limit - 4), codes)
    bodies = [c.jws(k, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                             "value": "q%d.pend.test" % i}]},
                    kid=c.kid, nonce=c.new_nonce()) for i in range(8)]
    got = [(st, doc.get("type", "") if st != 201 else "")
           for st, doc in send_at_once(c, c.dir["newOrder"], bodies)]
    ok = sorted(st for st, _ in got)
    check("8 new orders at once with 4 places left: exactly 4 accepted, 4 rateLimited",
          ok == [201] * 4 + [429] * 4 and
          all(t.endswith("rateLimited") for st, t in got if st == 429), got)
    st, doc = new_order(c, k, "r.pend.test")
    check("then the next is refused", st == 429 and ptype(doc) == "rateLimited", (st, doc))
    k2 = Key()
    c.account(k2)
    codes = [new_order(c, k2, "a%d.pend.test" % i)[0] for i in range(80)]
    check("another account leaves 80 orders pending", codes == [201] * 80, codes)
    json.dump({"key": k2.pem(), "kid": c.kid}, open(state, "w"))


def pending_later(directory, cafile, port, state, limit, metrics):
    """After the abandoned orders expired (the daemon restarted with its clock on): they
    count no more, their entries are deleted by the new orders that meet them, and the
    live ones still count."""
    limit = int(limit)
    s = json.load(open(state))
    k = Key(s["key"])
    c = Client(directory, cafile)
    c.kid = s["kid"]
    walks = []
    for i in range(3):
        w, (st, doc) = walk_of(metrics, lambda: new_order(c, k, "later%d.pend.test" % i))
        walks.append((w, st))
    print("index entries walked by each new order, and its status: %s" % walks)
    check("the expired pending authorizations do not count: 3 new orders accepted",
          [st for _, st in walks] == [201] * 3, walks)
    check("the first new order walks the 80 expired entries (and deletes them)",
          walks[0][0] >= 80, walks)
    check("the second walks only its live entries: the first deleted every expired one",
          walks[1][0] < 20, walks)
    check("the third walks only its live entries: the expired ones are gone",
          walks[2][0] < 20, walks)
    codes = [new_order(c, k, "more%d.pend.test" % i)[0] for i in range(limit - 3)]
    check("up to the limit of live pending authorizations", codes == [201] * (limit - 3),
          codes)
    st, doc = new_order(c, k, "over.pend.test")
    check("and one more is refused: the live ones were not deleted",
          st == 429 and ptype(doc) == "rateLimited", (st, doc))


def begin(directory, cafile, port, state):
    c = Client(directory, cafile)
    k = Key()
    st, doc = c.account(k)
    st, h, order = c.post(k, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                "value": "r.example.test"}]})
    check("account and order created before the restart", st == 201, (st, order))
    json.dump({"key": k.pem(), "kid": c.kid, "order": h.get("Location")}, open(state, "w"))


def finish(directory, cafile, port, state):
    serve_http01(port)
    s = json.load(open(state))
    k = Key(s["key"])
    c = Client(directory, cafile)
    c.kid = s["kid"]
    st, h, order = c.post(k, s["order"], None)
    check("the order survived the restart", st == 200 and order.get("status") == "pending",
          (st, order))
    for az in order["authorizations"]:
        st, h, authz = c.post(k, az, None)
        ch = [x for x in authz["challenges"] if x["type"] == "http-01"][0]
        TOKENS[ch["token"]] = ch["token"] + "." + k.thumb()
        c.post(k, ch["url"], {})
        authz = poll(c, k, az, "valid")
        check("the authorization validates after the restart", authz.get("status") == "valid",
              authz)
    st, h, fin = c.post(k, order["finalize"], {"csr": make_csr(["r.example.test"])})
    order = poll(c, k, s["order"], "valid")
    check("the order finishes after the restart", order.get("status") == "valid", order)
    st, h, pem = c.post(k, order["certificate"], None)
    check("the certificate downloads", st == 200 and b"BEGIN CERTIFICATE" in pem, st)


def accounts(directory, cafile, port, limit):
    """acme.rate_limits.accounts_per_address_per_hour = LIMIT: new accounts from one
    address are refused past it, with Retry-After; an account that exists is still found
    by its key, and another address is not held back."""
    limit = int(limit)
    keys = []
    codes = []
    for _ in range(limit):
        c, k = Client(directory, cafile), Key()
        st, doc = c.account(k)
        codes.append(st)
        keys.append(k)
    check("%d new accounts from 127.0.0.1: 201 each" % limit, codes == [201] * limit, codes)
    c = Client(directory, cafile)
    st, doc = c.account(Key())
    h = c.last_headers
    check("one more from the same address: 429 rateLimited",
          st == 429 and ptype(doc) == "rateLimited", (st, doc))
    check("  ... with Retry-After", (h.get("Retry-After") or "").isdigit()
          and int(h.get("Retry-After")) > 0, dict(h))
    check("  ... saying which limit", "accounts_per_address_per_hour" in str(doc), doc)
    st, doc = c.account(keys[0])
    check("an existing account's key still finds it (200)", st == 200, (st, doc))
    st, doc = Client(directory, cafile).account(keys[1])
    check("  ... from a new connection too (200)", st == 200, (st, doc))
    c2 = Client(directory, cafile, source="127.0.0.2")
    st, doc = c2.account(Key())
    check("a new account from 127.0.0.2 is not held back: 201", st == 201, (st, doc))


def ready_order(directory, cafile, port, state):
    """disk_full.sh, token_out.sh, before the trouble: an account and an order made ready."""
    serve_http01(port)
    c = Client(directory, cafile)
    k = Key()
    c.account(k)
    ourl, order = order_until_ready(c, k, "ready.example.test")
    st, h, order = c.post(k, ourl, None)
    check("an order is ready", order.get("status") == "ready", order)
    json.dump({"key": k.pem(), "kid": c.kid, "order": ourl, "finalize": order["finalize"]},
              open(state, "w"))


def finalize_later(directory, cafile, port, state, why=None):
    """Finalizes the order of ready_order. With WHY (the disk is full, the token is out):
    503 serverInternal with Retry-After and a detail that says WHY, and the order still
    ready (nothing was issued); without: the order becomes valid."""
    s = json.load(open(state))
    k = Key(s["key"])
    c = Client(directory, cafile)
    c.kid = s["kid"]
    st, h, fin = c.post(k, s["finalize"], {"csr": make_csr(["ready.example.test"])})
    if why:
        check("finalize: 503 serverInternal", st == 503 and ptype(fin) == "serverInternal",
              (st, fin))
        check("  ... with Retry-After", (h.get("Retry-After") or "").isdigit(), dict(h))
        check("  ... saying why", why in str(fin.get("detail", "")), fin)
        st, h, order = c.post(k, s["order"], None)
        check("  ... and the order is still ready", order.get("status") == "ready", order)
    else:
        order = poll(c, k, s["order"], "valid")
        check("finalize again: the order is valid", order.get("status") == "valid", order)
        st, h, pem = c.post(k, order["certificate"], None)
        check("  ... and its certificate downloads", st == 200 and b"BEGIN CERTIFICATE" in pem,
              st)


def kept_account(directory, cafile, state):
    """A client and the account kept in STATE (made and kept there on first use)."""
    c = Client(directory, cafile)
    try:
        s = json.load(open(state))
        k = Key(s["key"])
        c.kid = s["kid"]
    except FileNotFoundError:
        k = Key()
        c.account(k)
        s = {"key": k.pem(), "kid": c.kid, "made": 0}
        json.dump(s, open(state, "w"))
    return c, k, s


def nonce_age(directory, cafile, port, state, step):
    """step "get": a new nonce, kept in STATE; step "use": a POST-as-GET of the kept
    account with the kept nonce; prints the status and the problem type ("-" for none)."""
    c, k, s = kept_account(directory, cafile, state)
    if step == "get":
        s["nonce"] = c.new_nonce()
        json.dump(s, open(state, "w"))
        return
    st, h, doc = c.post(k, c.kid, None, nonce=s["nonce"])
    print(st, ptype(doc) if st >= 400 else "-")


def validate(directory, cafile, port, state, name, answer):
    """A new order for NAME by the account kept in STATE, its http-01 challenge answered
    right or wrong; prints "valid" or the type of the challenge's error."""
    serve_http01(port)
    c, k, s = kept_account(directory, cafile, state)
    st, h, order = c.post(k, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                "value": name}]})
    az = order["authorizations"][0]
    st, h, authz = c.post(k, az, None)
    ch = [x for x in authz["challenges"] if x["type"] == "http-01"][0]
    TOKENS[ch["token"]] = ch["token"] + "." + k.thumb() if answer == "right" else "wrong"
    c.post(k, ch["url"], {})
    authz = poll(c, k, az, None)
    err = [x.get("error") for x in authz.get("challenges", []) if x.get("error")]
    print(authz.get("status") if authz.get("status") == "valid" or not err else ptype(err[0]))


def orders(directory, cafile, port, state, n, together=False):
    """N new orders (one name each) for the account kept in STATE, made on first use, one
    after the other or all at once; prints each answer as "STATUS RETRY-AFTER
    PROBLEM-TYPE" ("-" for none)."""
    c, k, s = kept_account(directory, cafile, state)

    def payload(i):
        return {"identifiers": [{"type": "dns", "value": "h%d.example.test" % i}]}
    first, s["made"] = s["made"] + 1, s["made"] + int(n)
    if together:
        bodies = [c.jws(k, c.dir["newOrder"], payload(i), kid=c.kid, nonce=c.new_nonce())
                  for i in range(first, s["made"] + 1)]
        for st, doc in send_at_once(c, c.dir["newOrder"], bodies):
            print(st, "-", ptype(doc) if st >= 400 else "-")
    else:
        for i in range(first, s["made"] + 1):
            st, h, doc = c.post(k, c.dir["newOrder"], payload(i))
            print(st, h.get("Retry-After", "-"), ptype(doc) if st >= 400 else "-")
    json.dump(s, open(state, "w"))


def csr_raw_san(cn, san_der):
    """A CSR whose subjectAltName extension is the given DER, as an attacker writes it."""
    key = ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    b = b.add_extension(x509.UnrecognizedExtension(x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
                                                   san_der), False)
    return b64(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))


def badip(directory, cafile, port):
    """iPAddress SANs of the wrong length are a badCSR naming the length, never echoed bytes."""
    serve_http01(port)
    c = Client(directory, cafile)
    k = Key()
    c.account(k)
    name = "n1.example.test"
    ourl, order = order_until_ready(c, k, name)
    dns = b"\x82" + bytes([len(name)]) + name.encode()
    for ip in (b"\x7f", b"", b"\x7f\x00\x00\x01\x00", b"\x00" * 17):
        body = dns + b"\x87" + bytes([len(ip)]) + ip
        st, h, doc = c.post(k, order["finalize"],
                            {"csr": csr_raw_san(name, b"\x30" + bytes([len(body)]) + body)})
        detail = doc.get("detail", "") if isinstance(doc, dict) else ""
        check("finalize with a %d-byte iPAddress is badCSR naming the length" % len(ip),
              st == 400 and ptype(doc) == "badCSR" and ("has %d bytes" % len(ip)) in detail
              and "order" not in detail, (st, doc))
    st, h, doc = c.post(k, ourl, None)
    check("the order stays ready after the bad CSRs", doc.get("status") == "ready", doc)
    st, h, fin = c.post(k, order["finalize"], {"csr": make_csr([name])})
    check("a good CSR then finalizes the order", st == 200, (st, fin))


def signed_by(cert, issuer):
    """Raises unless issuer's key verifies cert's signature. By hand: Debian 12's
    python3-cryptography (38) has no Certificate.verify_directly_issued_by."""
    key = issuer.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes,
                   ec.ECDSA(cert.signature_hash_algorithm))
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                   cert.signature_hash_algorithm)
    else:
        key.verify(cert.signature, cert.tbs_certificate_bytes)


def link_up(h):
    """The target of the (one) Link rel="up" header, or None."""
    ups = [v.split(">")[0].lstrip(" <") for v in (h.get_all("Link") or [])
           if 'rel="up"' in v]
    return ups[0] if len(ups) == 1 else None


def chain(directory, cafile, port, name, issuer_pem):
    """Obtains a certificate for NAME and completes its chain the way some clients do:
    following Link rel="up" with POST-as-GET (RFC 8555 §7.1), up to the root. The issuer
    found must be the certificate in ISSUER_PEM."""
    serve_http01(port)
    c = Client(directory, cafile)
    k = Key()
    c.account(k)
    _, order, pem = obtain(c, k, [name])
    leaf = x509.load_pem_x509_certificate(pem)
    st, h, pem2 = c.post(k, order["certificate"], None)
    up = link_up(h)
    check("the certificate resource links rel=up to an ACME resource",
          up is not None and up.startswith(directory.rsplit("/", 1)[0] + "/"), h.get_all("Link"))
    st, h, ipem = c.post(k, up, None)
    check("the rel=up link answers POST-as-GET", st == 200, (st, ipem))
    check("  ... with a PEM certificate chain",
          h.get("Content-Type", "").startswith("application/pem-certificate-chain"),
          h.get("Content-Type"))
    issuer = x509.load_pem_x509_certificate(ipem) if st == 200 else None
    want = x509.load_pem_x509_certificate(open(issuer_pem, "rb").read())
    check("  ... it is the CA that signed the certificate (%s)" % issuer_pem,
          issuer is not None and issuer == want and leaf.issuer == issuer.subject,
          issuer.subject if issuer else None)
    try:
        signed_by(leaf, issuer)
        ok = True
    except Exception as e:  # noqa: BLE001 -- any failure is the finding
        ok = e
    check("  ... whose key verifies the certificate's signature", ok is True, ok)
    st, h, gpem = c.raw("GET", up)
    check("the rel=up link answers a plain GET too", st == 200 and gpem == ipem, st)
    root_up = link_up(h)
    st, h, rpem = c.post(k, root_up, None) if root_up else (0, None, None)
    root = x509.load_pem_x509_certificate(open(cafile, "rb").read())
    check("the issuer links rel=up to the root, also POST-as-GET",
          st == 200 and x509.load_pem_x509_certificate(rpem) == root, (root_up, st))
    st, h, doc = c.post(k, up, {"x": 1})
    check("POST with a payload to it is refused (malformed)",
          st == 400 and ptype(doc) == "malformed", (st, doc))
    st, h, doc = c.post(k, up.rsplit("/", 1)[0] + "/current", None)
    check("an unknown issuer is 404 with a problem document",
          st == 404 and ptype(doc) == "malformed", (st, doc))
    check("chain probe done", True)

def link_alternates(h):
    """The targets of the Link rel="alternate" headers."""
    return [v.split(">")[0].lstrip(" <") for v in (h.get_all("Link") or [])
            if 'rel="alternate"' in v]


def alternate(directory, cafile, port, name, expect, cross_pem=None):
    """A certificate's alternate chains (RFC 8555 §7.4.2): EXPECT "none" (no root rollover
    yet: no rel=alternate, cert/ID/1 is 404) or "one" (cert/ID/1: the same certificate and
    issuing CA, then the cross-certificate in CROSS_PEM; each links the other; another
    account gets 403; cert/ID/2 is 404)."""
    serve_http01(port)
    c = Client(directory, cafile)
    k = Key()
    c.account(k)
    _, order, pem = obtain(c, k, [name])
    url = order["certificate"]
    st, h, default = c.post(k, url, None)
    alts = link_alternates(h)
    if expect == "none":
        check("before a rollover the chain names no alternate", alts == [], alts)
        st, h, doc = c.post(k, url + "/1", None)
        check("  ... and cert/ID/1 is 404", st == 404 and ptype(doc) == "malformed", (st, doc))
        check("alternate probe done", True)
        return
    check("the chain links one alternate, cert/ID/1", alts == [url + "/1"], alts)
    st, h, alt = c.post(k, alts[0], None) if alts else (0, None, b"")
    check("  ... which answers POST-as-GET with a PEM chain", st == 200 and
          h.get("Content-Type", "").startswith("application/pem-certificate-chain"), st)
    certs = [x509.load_pem_x509_certificate(b"-----BEGIN" + p) for p in alt.split(b"-----BEGIN")[1:]]
    first = [x509.load_pem_x509_certificate(b"-----BEGIN" + p)
             for p in default.split(b"-----BEGIN")[1:]]
    cross = x509.load_pem_x509_certificate(open(cross_pem, "rb").read())
    check("  ... the same certificate and issuing CA, then the cross-certificate",
          len(certs) == 3 and certs[:2] == first and certs[2] == cross,
          [str(x.subject) for x in certs])
    check("  ... and links back to the default chain", link_alternates(h) == [url],
          h.get_all("Link") if h else None)
    other, c2 = Key(), Client(directory, cafile)
    c2.account(other)
    st, h, doc = c2.post(other, alts[0], None)
    check("another account's POST-as-GET of it is 403",
          st == 403 and ptype(doc) == "unauthorized", (st, doc))
    st, h, doc = c.post(k, url + "/2", None)
    check("cert/ID/2 is 404", st == 404 and ptype(doc) == "malformed", (st, doc))
    st, h, doc = c.post(k, url + "/1/1", None)
    check("cert/ID/1/1 is 404", st == 404 and ptype(doc) == "malformed", (st, doc))
    check("alternate probe done", True)


# 1000 nested arrays: under jansson's own limit (2048), far over server.max_json_depth.
DEEP = "[" * 1000 + "]" * 1000


def deep_member(doc):
    """The JSON text of doc (an object) with one more member nested 1000 deep."""
    text = json.dumps(doc, separators=(",", ":"))
    return text[:-1] + ("," if len(doc) else "") + '"deep":' + DEEP + "}"


def jws_text(c, key, url, payload_text, kid=None, prot_text=None):
    """A flattened JWS whose payload (and protected header, when given) are raw JSON text."""
    if prot_text is None:
        prot = {"alg": key.alg, "nonce": c.new_nonce(), "url": url}
        if kid:
            prot["kid"] = kid
        else:
            prot["jwk"] = key.jwk()
        prot_text = json.dumps(prot, separators=(",", ":"))
    p64 = b64(prot_text.encode())
    y64 = "" if payload_text is None else b64(payload_text.encode())
    sig = key.sign((p64 + "." + y64).encode())
    return {"protected": p64, "payload": y64, "signature": b64(sig)}


def refused_deep(c, name, url, body):
    """POSTs body (bytes): a 400 malformed problem document naming the depth."""
    st, h, data = c.raw("POST", url, body)
    try:
        doc = json.loads(data)
    except ValueError:
        doc = {}
    check(name + ": 400 malformed problem document naming the depth",
          st == 400 and h.get("Content-Type", "").startswith("application/problem+json")
          and ptype(doc) == "malformed" and doc.get("status") == 400
          and "deeper than" in doc.get("detail", ""), (st, data[:300]))


def eab_binding(key, kid, hmac_b64, url, payload_text=None, prot_text=None):
    import hmac
    prot_text = prot_text or json.dumps({"alg": "HS256", "kid": kid, "url": url})
    payload_text = payload_text or json.dumps(key.jwk())
    p64, y64 = b64(prot_text.encode()), b64(payload_text.encode())
    raw = base64.urlsafe_b64decode(hmac_b64 + "=" * (-len(hmac_b64) % 4))
    mac = hmac.new(raw, (p64 + "." + y64).encode(), "sha256").digest()
    return {"protected": p64, "payload": y64, "signature": b64(mac)}


def bounds(directory, cafile, port, eab_kid, eab_key):
    """Every JSON an ACME request carries goes through the one bounded parser: the body,
    the protected header, the payload of each resource, the EAB binding, keyChange's
    inner JWS. Each is sent 1000 levels deep where the rest of the request is valid."""
    c = Client(directory, cafile)
    k = Key()
    new_acct = c.dir["newAccount"]
    enc = lambda d: json.dumps(d, separators=(",", ":")).encode()

    good = jws_text(c, k, new_acct, '{"termsOfServiceAgreed":true}')
    refused_deep(c, "newAccount: the request body", new_acct,
                 enc(good)[:-1] + b',"x":' + DEEP.encode() + b"}")
    prot = {"alg": k.alg, "nonce": c.new_nonce(), "url": new_acct, "jwk": k.jwk()}
    refused_deep(c, "newAccount: the protected header", new_acct,
                 enc(jws_text(c, k, new_acct, '{"termsOfServiceAgreed":true}',
                              prot_text=deep_member(prot))))
    refused_deep(c, "newAccount: the payload", new_acct,
                 enc(jws_text(c, k, new_acct, deep_member({"termsOfServiceAgreed": True}))))
    bind = eab_binding(k, eab_kid, eab_key, new_acct,
                       prot_text=deep_member({"alg": "HS256", "kid": eab_kid, "url": new_acct}))
    refused_deep(c, "newAccount: the EAB protected header", new_acct,
                 enc(jws_text(c, k, new_acct, json.dumps(
                     {"termsOfServiceAgreed": True, "externalAccountBinding": bind}))))
    bind = eab_binding(k, eab_kid, eab_key, new_acct, payload_text=deep_member(k.jwk()))
    refused_deep(c, "newAccount: the EAB payload", new_acct,
                 enc(jws_text(c, k, new_acct, json.dumps(
                     {"termsOfServiceAgreed": True, "externalAccountBinding": bind}))))
    # Nothing above made an account; a plain request still works.
    st, doc = c.account(k)
    check("newAccount without the deep member creates the account (201)", st == 201, (st, doc))
    kid = c.kid

    refused_deep(c, "account update: the payload", kid,
                 enc(jws_text(c, k, kid, deep_member({"contact": []}), kid=kid)))
    new_order = c.dir["newOrder"]
    ident = {"identifiers": [{"type": "dns", "value": "deep.example.test"}]}
    refused_deep(c, "newOrder: the payload", new_order,
                 enc(jws_text(c, k, new_order, deep_member(ident), kid=kid)))
    st, h, order = c.post(k, new_order, ident, kid=kid)
    check("newOrder without the deep member creates the order (201)", st == 201, (st, order))
    st, h, authz = c.post(k, order["authorizations"][0], None, kid=kid)
    chal = [x for x in authz["challenges"] if x["type"] == "http-01"][0]["url"]
    refused_deep(c, "challenge: the payload", chal,
                 enc(jws_text(c, k, chal, deep_member({}), kid=kid)))
    st, h, authz = c.post(k, order["authorizations"][0], None, kid=kid)
    check("the challenge was not started by the refused request",
          authz.get("status") == "pending", authz)
    refused_deep(c, "finalize: the payload", order["finalize"],
                 enc(jws_text(c, k, order["finalize"],
                              deep_member({"csr": make_csr(["deep.example.test"])}), kid=kid)))
    revoke = c.dir["revokeCert"]
    refused_deep(c, "revokeCert: the payload", revoke,
                 enc(jws_text(c, k, revoke, deep_member({"certificate": "AAAA"}), kid=kid)))
    key_change = c.dir["keyChange"]
    k2 = Key()
    inner_prot = deep_member({"alg": k2.alg, "jwk": k2.jwk(), "url": key_change})
    inner = jws_text(c, k2, key_change, json.dumps({"account": kid, "oldKey": k.jwk()}),
                     prot_text=inner_prot)
    refused_deep(c, "keyChange: the inner protected header", key_change,
                 enc(jws_text(c, k, key_change, json.dumps(inner), kid=kid)))
    inner = jws_text(c, k2, key_change, deep_member({"account": kid, "oldKey": k.jwk()}),
                     prot_text=json.dumps({"alg": k2.alg, "jwk": k2.jwk(), "url": key_change}))
    refused_deep(c, "keyChange: the inner payload", key_change,
                 enc(jws_text(c, k, key_change, json.dumps(inner), kid=kid)))
    st, h, doc = c.post(k, kid, None, kid=kid)
    check("the account still has its old key", st == 200, (st, doc))

    big = enc(good)[:-1] + b',"pad":"' + b"a" * 70000 + b'"}'
    st, h, data = c.raw("POST", new_acct, big)
    try:
        doc = json.loads(data)
    except ValueError:
        doc = {}
    check("a body over the ACME limit: 413 problem document",
          st == 413 and h.get("Content-Type", "").startswith("application/problem+json")
          and doc.get("status") == 413, (st, data[:200]))
    st, h, data = c.raw("GET", c.dir["newNonce"])
    check("bounds probe done", st in (200, 204), st)


def db_counts(metrics_url):
    """(commits, writes) of the daemon from /metrics; writes leave out the OCSP cache's
    background writes (cairn_ocsp_cache_writes_total: pre-signed answers of new
    certificates, batched by the refresher), which are not the order's."""
    with urllib.request.urlopen(metrics_url, timeout=30) as r:
        text = r.read().decode()
    got = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("cairn_db_commits_total", "cairn_db_writes_total",
                                            "cairn_ocsp_cache_writes_total"):
            got[parts[0]] = int(parts[1])
    w = got.get("cairn_db_writes_total")
    if w is not None:
        w -= got.get("cairn_ocsp_cache_writes_total", 0)
    return got.get("cairn_db_commits_total"), w


def settled(metrics_url):
    """The counts once nothing else (OCSP pre-signing of a new certificate, ...) writes:
    two reads 0.3 s apart that agree."""
    import time
    last = db_counts(metrics_url)
    for _ in range(50):
        time.sleep(0.3)
        now = db_counts(metrics_url)
        if now == last:
            return now
        last = now
    return last


def commits(directory, cafile, port, metrics_url, state):
    """Durable writes per ACME order, counted by the daemon (cairn_db_writes_total), and
    nonces kept for the restart check (nonces mode)."""
    serve_http01(port)
    c = Client(directory, cafile)
    k = Key()
    c0, w0 = settled(metrics_url)
    check("/metrics counts durable commits and writes", c0 is not None and w0 is not None,
          (c0, w0))
    st, doc = c.account(k)
    c1, w1 = settled(metrics_url)
    check("newAccount is one durable write", st == 201 and w1 - w0 == 1, (st, w1 - w0))
    # Other parts of the daemon write too (OCSP pre-signing, CRLs): they only add, so
    # the fewest writes of up to three orders is the order's own count.
    first = reused = None
    for i in range(3):
        name = "w%d.example.test" % i
        c1, w1 = settled(metrics_url)
        ourl, order, pem = obtain(c, k, [name])
        c2, w2 = settled(metrics_url)
        ok = order.get("status") == "valid" and b"BEGIN CERTIFICATE" in pem
        # newOrder (order + authorization + challenges), the validation result, finalize
        # (certificate + indexes + audit event + the order turning valid).
        first = w2 - w1 if ok and (first is None or w2 - w1 < first) else first
        print("# order %d: %d writes, %d commits" % (i, w2 - w1, c2 - c1))
        ourl, order, pem = obtain(c, k, [name])
        c3, w3 = settled(metrics_url)
        ok = order.get("status") == "valid" and b"BEGIN CERTIFICATE" in pem
        reused = w3 - w2 if ok and (reused is None or w3 - w2 < reused) else reused
        print("# order %d with its authorization reused: %d writes, %d commits" %
              (i, w3 - w2, c3 - c2))
        if first is not None and first <= 3 and reused is not None and reused <= 2:
            break
    check("a first order makes at most 3 durable writes", first is not None and first <= 3,
          first)
    check("an order whose authorization is reused makes at most 2 durable writes",
          reused is not None and reused <= 2, reused)
    w3 = db_counts(metrics_url)[1]
    # Nonces never touch the database: a burst of them writes nothing.
    for _ in range(20):
        c.new_nonce()
    c4, w4 = db_counts(metrics_url)
    check("twenty new nonces write nothing", w4 == w3, w4 - w3)
    # A nonce is accepted once.
    n1 = c.new_nonce()
    st, h, doc = c.post(k, ourl, None, nonce=n1)
    check("a fresh nonce is accepted", st == 200, (st, doc))
    st, h, doc = c.post(k, ourl, None, nonce=n1)
    check("the same nonce again is badNonce", st == 400 and ptype(doc) == "badNonce", (st, doc))
    n2 = c.new_nonce()
    json.dump({"key": k.pem(), "kid": c.kid, "order": ourl, "used": n1, "unused": n2},
              open(state, "w"))


def nonces(directory, cafile, port, state):
    """After a restart no nonce of the previous run is accepted."""
    s = json.load(open(state))
    k = Key(s["key"])
    c = Client(directory, cafile)
    c.kid = s["kid"]
    st, h, doc = c.post(k, s["order"], None, nonce=s["used"])
    check("a nonce used before the restart is badNonce after it",
          st == 400 and ptype(doc) == "badNonce", (st, doc))
    retry = h.get("Replay-Nonce")
    st, h, doc = c.post(k, s["order"], None, nonce=s["unused"])
    check("a nonce issued but unused before the restart is badNonce after it",
          st == 400 and ptype(doc) == "badNonce", (st, doc))
    st, h, doc = c.post(k, s["order"], None, nonce=retry)
    check("the nonce carried by the badNonce answer works (the client's retry)",
          st == 200 and doc.get("status") == "valid", (st, doc))


def tampered(c, key, url, kid, payload=None):
    """A JWS by key whose signature has one bit flipped."""
    body = json.loads(c.jws(key, url, payload, kid=kid))
    sig = bytearray(base64.urlsafe_b64decode(body["signature"] + "=="))
    sig[len(sig) // 2] ^= 0x01
    body["signature"] = b64(bytes(sig))
    st, h, data = c.raw("POST", url, json.dumps(body).encode())
    c.nonce = h.get("Replay-Nonce")
    return st, json.loads(data) if data[:1] == b"{" else data


def keys(directory, cafile, port):
    """The daemon keeps parsed accounts and their keys between requests: each request is
    still judged by the account as stored now. Every check runs right after the caches
    were warmed by the same requests succeeding."""
    c = Client(directory, cafile)
    ka, kb = Key(), Key(kind="ES384")
    c.account(ka)
    kid_a = c.kid
    c.account(kb)
    kid_b = c.kid
    ok = all(c.post(ka, kid_a, None, kid=kid_a)[0] == 200 and
             c.post(kb, kid_b, None, kid=kid_b)[0] == 200 for _ in range(3))
    check("each key signs for its own account, three times (warm caches)", ok)

    # kid and key must belong together, both ways
    st, h, doc = c.post(kb, kid_a, None, kid=kid_a)
    check("B's key under A's kid is refused", st == 400 and ptype(doc) == "malformed",
          (st, doc))
    st, h, doc = c.post(ka, kid_b, None, kid=kid_b)
    check("A's key under B's kid is refused", st == 400 and ptype(doc) == "malformed",
          (st, doc))
    st, h, doc = c.post(ka, kid_b, None, kid=kid_b, alg="ES384")
    check("A's key under B's kid with B's alg is refused", st == 400, (st, doc))

    # a signature that does not verify, for each kind of key (the ECDSA path, EdDSA)
    ke = Key(kind="EdDSA")
    c.account(ke)
    kid_e = c.kid
    for name, k, kid in (("ES256", ka, kid_a), ("ES384", kb, kid_b), ("EdDSA", ke, kid_e)):
        st, h, doc = c.post(k, kid, None, kid=kid)
        good = st == 200
        st, doc = tampered(c, k, kid, kid)
        check("%s: a signature with one bit flipped is refused (a good one was accepted)" %
              name, good and st == 400 and ptype(doc) == "malformed", (good, st, doc))

    # key change: the old key is refused on the very next request
    ka2 = Key()
    st, h, doc = key_change(c, ka, kid_a, ka2)
    check("keyChange from A's key to a new key", st == 200, (st, doc))
    st, h, doc = c.post(ka, kid_a, None, kid=kid_a)
    check("the old key is refused on the very next request", st == 400 and
          ptype(doc) == "malformed", (st, doc))
    st, h, doc = c.post(ka, c.dir["newOrder"],
                        {"identifiers": [{"type": "dns", "value": "k.example.test"}]},
                        kid=kid_a)
    check("the old key cannot order for the account", st == 400, (st, doc))
    st, h, doc = c.post(ka2, kid_a, None, kid=kid_a)
    check("the new key signs for the account at once", st == 200 and
          doc.get("key", {}).get("x") == ka2.jwk()["x"], (st, doc))

    # the old key is free again: it makes account C; it still does not sign for A
    st, h, doc = c.post(ka, c.dir["newAccount"], {"termsOfServiceAgreed": True}, kid=False)
    kid_c = h.get("Location")
    check("the old key makes a new account", st == 201 and kid_c and kid_c != kid_a,
          (st, kid_c))
    st, h, doc = c.post(ka, kid_c, None, kid=kid_c)
    check("the old key signs for its new account", st == 200, (st, doc))
    st, h, doc = c.post(ka, kid_a, None, kid=kid_a)
    check("the old key still does not sign for its first account", st == 400, (st, doc))
    st, h, doc = c.post(ka2, kid_c, None, kid=kid_c)
    check("A's new key does not sign for the old key's new account", st == 400, (st, doc))

    # a second key change, to another kind of key: the previous one is refused at once
    ka3 = Key(kind="ES384")
    st, h, doc = key_change(c, ka2, kid_a, ka3)
    check("a second keyChange, to a P-384 key", st == 200, (st, doc))
    st, h, doc = c.post(ka2, kid_a, None, kid=kid_a)
    check("the previous key is refused on the very next request", st == 400, (st, doc))
    st, h, doc = c.post(ka3, kid_a, None, kid=kid_a)
    check("the P-384 key signs for the account", st == 200, (st, doc))

    # private key material in a jwk: refused whether or not the key was seen before (the
    # key cache once let a seen key's jwk through unchecked: the account stored "d" and
    # echoed it back); only the public members of a key are kept and shown
    kd = Key()
    with_d = dict(kd.jwk(), d=b64(kd.k.private_numbers().private_value.to_bytes(32, "big")))
    new_acct = {"termsOfServiceAgreed": True}
    st, h, doc = c.post(kd, c.dir["newAccount"], new_acct, kid=False, jwk=with_d)
    check("a jwk with d is refused (a key never seen)", st == 400 and
          ptype(doc) == "badPublicKey", (st, doc))
    st, h, doc = c.post(kd, c.dir["newAccount"], {"onlyReturnExisting": True}, kid=False)
    seen = st == 400 and ptype(doc) == "accountDoesNotExist"
    st, h, doc = c.post(kd, c.dir["newAccount"], new_acct, kid=False, jwk=with_d)
    check("a jwk with d is refused right after the same key verified a request",
          seen and st == 400 and ptype(doc) == "badPublicKey", (seen, st, doc))
    for member in ("p", "k", "oth"):
        st, h, doc = c.post(kd, c.dir["newAccount"], new_acct, kid=False,
                            jwk=dict(kd.jwk(), **{member: "AQAB"}))
        check("  ... and with %s" % member, st == 400 and ptype(doc) == "badPublicKey",
              (st, doc))
    st, h, doc = c.post(kd, c.dir["newAccount"], new_acct, kid=False,
                        jwk=dict(kd.jwk(), use="sig", note="anything"))
    kid_d = h.get("Location")
    st2, h2, doc2 = c.post(kd, kid_d, None, kid=kid_d)
    check("a jwk with other members makes an account that keeps and shows only the key's "
          "public members", st == 201 and doc.get("key") == kd.jwk() and st2 == 200 and
          doc2.get("key") == kd.jwk(), (st, doc, st2, doc2))
    kn = Key()
    st, h, doc = key_change(c, kd, kid_d, kn, extra={"kid": kid_d})
    check("keyChange: an inner header with both jwk and kid is refused", st == 400 and
          ptype(doc) == "malformed", (st, doc))
    st, h, doc = key_change(c, kd, kid_d, kn, jwk=dict(kn.jwk(), d=b64(
        kn.k.private_numbers().private_value.to_bytes(32, "big"))))
    check("keyChange: a new key with d is refused", st == 400 and
          ptype(doc) == "badPublicKey", (st, doc))
    st, h, doc = key_change(c, kd, kid_d, kn, jwk=dict(kn.jwk(), note="x"))
    st2, h2, doc2 = c.post(kn, kid_d, None, kid=kid_d)
    check("keyChange: the account keeps only the new key's public members", st == 200 and
          st2 == 200 and doc2.get("key") == kn.jwk(), (st, doc, st2, doc2))

    # deactivation: refused on the very next request
    st, h, doc = c.post(kb, kid_b, None, kid=kid_b)
    warm = st == 200
    st, h, doc = c.post(kb, kid_b, {"status": "deactivated"}, kid=kid_b)
    check("account B deactivated (after a request that succeeded)",
          warm and st == 200 and doc.get("status") == "deactivated", (warm, st, doc))
    st, h, doc = c.post(kb, kid_b, None, kid=kid_b)
    check("the deactivated account is refused on the very next request",
          st == 401 and ptype(doc) == "unauthorized", (st, doc))
    st, h, doc = c.post(kb, c.dir["newOrder"],
                        {"identifiers": [{"type": "dns", "value": "k.example.test"}]},
                        kid=kid_b)
    check("the deactivated account cannot order", st == 401, (st, doc))

    # nonces: many in a row, all different, each good once
    seen = set()
    for _ in range(200):
        seen.add(c.new_nonce())
    check("200 nonces in a row are all different", len(seen) == 200 and
          all(len(n) == 22 for n in seen), len(seen))
    n = seen.pop()
    st, h, doc = c.post(ka3, kid_a, None, kid=kid_a, nonce=n)
    st2, h, doc2 = c.post(ka3, kid_a, None, kid=kid_a, nonce=n)
    check("a nonce of the row is good once", st == 200 and st2 == 400 and
          ptype(doc2) == "badNonce", (st, st2))


class Counting(http.server.BaseHTTPRequestHandler):
    """http-01 answers over HTTP/1.1 keep-alive (a client may keep the connection):
    counts the connections and the requests it gets, per server address."""
    protocol_version = "HTTP/1.1"
    conns = {}
    reqs = {}

    def setup(self):
        super().setup()
        a = self.server.server_address[0]
        Counting.conns[a] = Counting.conns.get(a, 0) + 1

    def do_GET(self):
        a = self.server.server_address[0]
        Counting.reqs[a] = Counting.reqs.get(a, 0) + 1
        data = TOKENS.get(self.path.rsplit("/", 1)[-1], "").encode()
        self.send_response(200 if data else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def set_a(mgmt, name, addr):
    for path, doc in (("clear-a", {"host": name + "."}),
                      ("add-a", {"host": name + ".", "addresses": [addr]})):
        req = urllib.request.Request("%s/%s" % (mgmt, path), data=json.dumps(doc).encode(),
                                     method="POST")
        urllib.request.urlopen(req, timeout=10).read()


def validated(c, key, name):
    """New order for name, authorization read twice (pending), challenge answered and
    waited for; returns (order URL, order read before, authz read after, order read
    after)."""
    st, h, order = c.post(key, c.dir["newOrder"],
                          {"identifiers": [{"type": "dns", "value": name}]})
    ourl, az = h.get("Location"), order["authorizations"][0]
    c.post(key, az, None)
    authz, ch = chall_of(c, key, az)
    st, h, before = c.post(key, ourl, None)
    TOKENS[ch["token"]] = ch["token"] + "." + key.thumb()
    c.post(key, ch["url"], {})
    authz = poll(c, key, az, "valid")
    st, h, after = c.post(key, ourl, None)
    return ourl, before, authz, after


def fresh(directory, cafile, port, mgmt):
    """The daemon keeps parsed orders, authorizations and accounts between requests and
    one HTTP client per validation thread (the test runs one): every read still sees
    the object as stored now, and every validation, of whichever account, opens a
    connection of its own to the address resolved for it."""
    servers = [http.server.ThreadingHTTPServer((addr, port), Counting)
               for addr in ("127.0.0.1", "127.0.0.2")]
    for srv in servers:
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    ca, cb = Client(directory, cafile), Client(directory, cafile)
    ka, kb = Key(), Key()
    ca.account(ka)
    cb.account(kb)
    runs = []
    for c, k in ((ca, ka), (cb, kb), (ca, ka), (cb, kb)):
        runs.append(validated(c, k, "same.example.test"))
    check("four validations of one name, two accounts taking turns: each authorization "
          "valid on the "
          "read after its result (read while pending before)",
          all(r[2].get("status") == "valid" for r in runs), [r[2] for r in runs])
    check("each order was pending, and ready on the very next read after its "
          "authorization turned valid",
          all(r[1].get("status") == "pending" and r[3].get("status") == "ready"
              for r in runs), [(r[1].get("status"), r[3].get("status")) for r in runs])
    n_conns, n_reqs = Counting.conns.get("127.0.0.1", 0), Counting.reqs.get("127.0.0.1", 0)
    check("every validation opened a connection of its own (a keep-alive server: "
          "%d requests, %d connections)" % (n_reqs, n_conns),
          n_reqs == 4 and n_conns == 4, (n_reqs, n_conns))

    # objects of another account stay refused, whoever read them last
    ourl_a = runs[0][0]
    st, h, doc = cb.post(kb, ourl_a, None)
    check("B cannot read A's order (read by A just before)", st == 403, (st, doc))

    # a rewrite by another request is seen at once: deactivation
    st, h, order = ca.post(ka, ca.dir["newOrder"],
                           {"identifiers": [{"type": "dns", "value": "d.example.test"}]})
    ourl, az = h.get("Location"), order["authorizations"][0]
    warm = [ca.post(ka, az, None)[2].get("status") for _ in range(2)]
    warm.append(ca.post(ka, ourl, None)[2].get("status"))
    st, h, doc = ca.post(ka, az, {"status": "deactivated"})
    st2, h, again = ca.post(ka, az, None)
    st3, h, o = ca.post(ka, ourl, None)
    check("an authorization read twice, then deactivated, reads deactivated at once and "
          "its order invalid", warm == ["pending", "pending", "pending"] and
          doc.get("status") == "deactivated" and again.get("status") == "deactivated" and
          o.get("status") == "invalid", (warm, doc, again, o))

    # finalize: the order read right after is valid with its certificate
    ourl = runs[1][0]
    st, h, fin = cb.post(kb, runs[1][3]["finalize"], {"csr": make_csr(["same.example.test"])})
    st2, h, o = cb.post(kb, ourl, None)
    check("a finalized order reads valid with its certificate on the next read",
          fin.get("status") == "valid" and o.get("status") == "valid" and
          o.get("certificate"), (fin, o))

    # the name moves to another address between two validations of one handle: the
    # second connects to the new address only (no pin of the first is used again)
    set_a(mgmt, "moved.example.test", "127.0.0.1")
    r1 = validated(ca, ka, "moved.example.test")
    hits1 = dict(Counting.reqs)
    set_a(mgmt, "moved.example.test", "127.0.0.2")
    r2 = validated(ca, ka, "moved.example.test")
    hits2 = dict(Counting.reqs)
    check("a name moved to 127.0.0.2 after a validation at 127.0.0.1 is fetched at "
          "127.0.0.2 only", r1[2].get("status") == "valid" and
          r2[2].get("status") == "valid" and
          hits2.get("127.0.0.1", 0) == hits1.get("127.0.0.1", 0) and
          hits2.get("127.0.0.2", 0) == hits1.get("127.0.0.2", 0) + 1, (hits1, hits2))
    check("still one connection per request on both addresses",
          Counting.conns == Counting.reqs, (Counting.conns, Counting.reqs))


def chall_of(c, key, az):
    st, h, authz = c.post(key, az, None)
    return authz, [x for x in authz.get("challenges", []) if x["type"] == "http-01"][0]


def answer(c, key, az, tokdir):
    """Puts the key authorization where the test's http-01 server finds it and answers
    the challenge; returns the challenge as answered."""
    authz, ch = chall_of(c, key, az)
    with open("%s/%s" % (tokdir, ch["token"]), "w") as f:
        f.write(ch["token"] + "." + key.thumb())
    st, h, doc = c.post(key, ch["url"], {})
    return st, doc


def inflight(directory, cafile, port, state, tokdir):
    """Three orders; the challenges of the first two are answered while the test's
    http-01 server hangs, so with one validation worker one runs and one is queued."""
    c = Client(directory, cafile)
    k = Key()
    c.account(k)
    s = {"key": k.pem(), "kid": c.kid, "orders": [], "authzs": []}
    for name in ("h1.example.test", "h2.example.test", "h3.example.test"):
        st, h, order = c.post(k, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                    "value": name}]})
        s["orders"].append(h.get("Location"))
        s["authzs"].append(order["authorizations"][0])
    for az in s["authzs"][:2]:
        st, doc = answer(c, k, az, tokdir)
        check("an answered challenge is processing", st == 200 and
              doc.get("status") == "processing", (st, doc))
    authz, ch = chall_of(c, k, s["authzs"][1])
    check("the authorization shows its challenge processing", authz.get("status") ==
          "pending" and ch.get("status") == "processing", authz)
    st, h, doc = c.post(k, ch["url"], {})
    check("answering it again while it runs changes nothing", st == 200 and
          doc.get("status") == "processing", (st, doc))
    json.dump(s, open(state, "w"))


def resume(directory, cafile, state):
    s = json.load(open(state))
    k = Key(s["key"])
    c = Client(directory, cafile)
    c.kid = s["kid"]
    return c, k, s


def killed(directory, cafile, port, state, tokdir):
    """After a kill -9 the validations under way are forgotten: the challenges are
    pending again (never stuck processing), and answering again finishes the order."""
    c, k, s = resume(directory, cafile, state)
    for az in s["authzs"][:2]:
        authz, ch = chall_of(c, k, az)
        check("after the kill -9 the challenge is pending again", authz.get("status") ==
              "pending" and ch.get("status") == "pending", authz)
    st, doc = answer(c, k, s["authzs"][0], tokdir)
    authz = poll(c, k, s["authzs"][0], "valid")
    check("answered again, it validates", authz.get("status") == "valid", authz)
    st, h, order = c.post(k, s["orders"][0], None)
    st, h, fin = c.post(k, order["finalize"], {"csr": make_csr(["h1.example.test"])})
    order = poll(c, k, s["orders"][0], "valid")
    check("and its order is issued", order.get("status") == "valid", order)


def park(directory, cafile, port, state, tokdir):
    """With the http-01 server hanging again: h2's validation runs, h3's is queued."""
    c, k, s = resume(directory, cafile, state)
    for az in s["authzs"][1:3]:
        st, doc = answer(c, k, az, tokdir)
        check("answered before the stop: processing", st == 200 and
              doc.get("status") == "processing", (st, doc))


def parked(directory, cafile, port, state, tokdir):
    """A clean stop kept the queued validation: the next start validates it, with no
    new answer from the client."""
    c, k, s = resume(directory, cafile, state)
    authz = poll(c, k, s["authzs"][2], "valid")
    check("the validation queued at the stop ran after the start", authz.get("status") ==
          "valid", authz)


def answered(directory, cafile, port, state, tokdir):
    """acme.validation.answer_wait_ms (1000 here): the answer that starts a validation
    the test's http-01 server answers at once says valid, with the time of it, and the
    authorization is valid on the very next read (a client need not poll). A second
    order is left for answered_late."""
    c = Client(directory, cafile)
    k = Key()
    c.account(k)
    azs = []
    for name in ("h4.example.test", "h5.example.test"):
        st, h, order = c.post(k, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                    "value": name}]})
        azs.append(order["authorizations"][0])
    authz, ch = chall_of(c, k, azs[0])
    with open("%s/%s" % (tokdir, ch["token"]), "w") as f:
        f.write(ch["token"] + "." + k.thumb())
    # another account may not start it (nor be parked on it)
    cb, kb = Client(directory, cafile), Key()
    cb.account(kb)
    st, h, doc = cb.post(kb, ch["url"], {})
    authz, ch2 = chall_of(c, k, azs[0])
    check("another account's answer to the challenge is refused and starts nothing",
          st == 403 and ptype(doc) == "unauthorized" and ch2.get("status") == "pending",
          (st, doc, ch2))
    st, h, doc = c.post(k, ch["url"], {})
    check("a challenge validated within the wait is answered valid", st == 200 and
          doc.get("status") == "valid" and "validated" in doc and
          "Retry-After" not in h, (st, doc, dict(h)))
    st, h, authz = c.post(k, azs[0], None)
    check("  ... and its authorization is valid at the next read", st == 200 and
          authz.get("status") == "valid", authz)
    json.dump({"key": k.pem(), "kid": c.kid, "authzs": azs}, open(state, "w"))


def answered_late(directory, cafile, port, state, tokdir):
    """The second order of answered, while the test's http-01 server hangs."""
    c, k, s = resume(directory, cafile, state)
    authz, ch = chall_of(c, k, s["authzs"][1])
    with open("%s/%s" % (tokdir, ch["token"]), "w") as f:
        f.write(ch["token"] + "." + k.thumb())
    st, h, doc = c.post(k, ch["url"], {})
    check("a validation still running when the wait ends is answered processing",
          st == 200 and doc.get("status") == "processing" and
          h.get("Retry-After") == "1", (st, doc, dict(h)))


def unanswered(directory, cafile, port, state, tokdir):
    """With answer_wait_ms 0 the answer never waits: processing, even for a validation
    the http-01 server answers at once, which then settles the authorization."""
    c = Client(directory, cafile)
    k = Key()
    c.account(k)
    st, h, order = c.post(k, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                "value": "h6.example.test"}]})
    az = order["authorizations"][0]
    st, doc = answer(c, k, az, tokdir)
    check("with answer_wait_ms 0 the answer is processing", st == 200 and
          doc.get("status") == "processing", (st, doc))
    authz = poll(c, k, az, "valid")
    check("  ... and the validation still settles the authorization",
          authz.get("status") == "valid", authz)


def https_requests(metrics_url):
    """The daemon's count of HTTPS requests (counted when their headers arrive)."""
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith('cairn_http_requests_total{listener="https"}'):
            return int(float(line.split()[-1]))
    return -1


def answer_in_background(directory, cafile, metrics_url, tokdir, name, done):
    """Orders name, then answers its challenge from another thread; returns that thread
    once the daemon has the answer (its HTTPS request count moved)."""
    c = Client(directory, cafile)
    k = Key()
    c.account(k)
    st, h, order = c.post(k, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                "value": name}]})
    authz, ch = chall_of(c, k, order["authorizations"][0])
    with open("%s/%s" % (tokdir, ch["token"]), "w") as f:
        f.write(ch["token"] + "." + k.thumb())
    body = c.jws(k, ch["url"], {}, kid=c.kid)

    def run():
        try:
            st, h, data = c.raw("POST", ch["url"], body)
            done.append(("answer", st, json.loads(data)))
        except Exception as e:  # the connection closed under it (daemon stopping)
            done.append(("answer", None, repr(e)))

    before = https_requests(metrics_url)
    t = threading.Thread(target=run)
    t.start()
    for _ in range(500):
        if https_requests(metrics_url) > before:
            break
        time.sleep(0.01)
    return t


def worker_free(directory, cafile, port, metrics_url, tokdir):
    """server.threads 1, answer_wait_ms 1000, the http-01 server hanging: while a
    challenge answer is parked waiting for its validation, the one HTTPS worker answers
    a new connection (the directory) before the parked answer comes back processing."""
    done = []
    t = answer_in_background(directory, cafile, metrics_url, tokdir, "h7.example.test", done)
    Client(directory, cafile)  # GET the directory on a new connection
    done.append(("directory", 200, None))
    t.join(30)
    check("a parked challenge answer holds no HTTPS worker: another request is answered "
          "first", [d[0] for d in done] == ["directory", "answer"], done)
    check("  ... and the parked answer comes back processing when its wait ends",
          len(done) == 2 and done[1][1] == 200 and isinstance(done[1][2], dict) and
          done[1][2].get("status") == "processing", done)


def stop_parked(directory, cafile, port, metrics_url, tokdir, marker):
    """An answer parked when the daemon is told to stop: the probe writes marker once the
    daemon has it; the answer then comes back (or its connection closes) — never hangs."""
    done = []
    t = answer_in_background(directory, cafile, metrics_url, tokdir, "h8.example.test", done)
    open(marker, "w").close()
    t.join(30)
    check("the answer parked at the stop comes back or its connection closes (no hang)",
          not t.is_alive() and len(done) == 1, done)


class Dripping(http.server.BaseHTTPRequestHandler):
    """http-01 on drip*.example.test: a 200 whose 4 KiB body comes a byte a second; any
    other host as Http01."""
    def do_GET(self):
        if not self.headers.get("Host", "").startswith("drip"):
            return Http01.do_GET(self)
        self.send_response(200)
        self.send_header("Content-Length", "4096")
        self.end_headers()
        drip(self.wfile.write, 4096)

    def log_message(self, *a):
        pass


def drip(send, n):
    """Sends n bytes, one a second, until the peer is gone."""
    try:
        for _ in range(n):
            send(b"x")
            time.sleep(1)
    except OSError:
        pass


def tls_dripper(port):
    """A tls-alpn-01 peer that reads the ClientHello, then sends a handshake record
    header announcing 16 KiB and its body a byte a second (4.5 hours)."""
    srv = socket.create_server(("127.0.0.1", port))

    def one(c):
        with c:
            try:
                c.recv(4096)
                c.sendall(bytes([0x16, 0x03, 0x03, 0x40, 0x00]))
            except OSError:
                return
            drip(c.sendall, 0x4000)

    def loop():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=one, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


def slow_peers(directory, cafile, port, tport, workers, timeout_ms):
    """As many tls-alpn-01 validations as there are validation workers against a peer
    that sends its handshake a byte a second, and one http-01 whose answer comes a byte a
    second: each ends invalid within its timeout (the workers are not held), and a
    well-answered http-01 validation asked for meanwhile is valid soon after."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Dripping)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    tls_dripper(tport)
    c = Client(directory, cafile)
    key = Key()
    c.account(key)
    slow = []
    t0 = time.time()
    for i in range(workers + 1):
        name, kind = ("slow%d.example.test" % i, "tls-alpn-01") if i < workers else \
            ("drip.example.test", "http-01")
        st, h, order = c.post(key, c.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                      "value": name}]})
        az = order["authorizations"][0]
        st, h, authz = c.post(key, az, None)
        ch = [x for x in authz["challenges"] if x["type"] == kind][0]
        TOKENS[ch["token"]] = ch["token"] + "." + key.thumb()
        c.post(key, ch["url"], {})
        slow.append(az)
    # another account's well-answered validation, asked for while the workers are busy
    c2 = Client(directory, cafile)
    k2 = Key()
    c2.account(k2)
    st, h, order = c2.post(k2, c2.dir["newOrder"], {"identifiers": [{"type": "dns",
                                                                   "value": "fast.example.test"}]})
    fast = validate_first(c2, k2, order)
    ends = {}
    fast_doc = None
    limit = t0 + 2 * (workers + 1) * timeout_ms / 1000 + 30
    while time.time() < limit and (len(ends) < len(slow) or fast_doc is None):
        for az in slow:
            if az not in ends:
                doc = c.post(key, az, None)[2]
                if doc.get("status") != "pending":
                    ends[az] = (time.time() - t0, doc)
        if fast_doc is None:
            doc = c2.post(k2, fast, None)[2]
            if doc.get("status") != "pending":
                fast_doc = (time.time() - t0, doc)
        time.sleep(0.2)
    # a worker may wait for the one before it: at most two timeouts each, and a margin
    bound = 2 * timeout_ms / 1000 + 5
    errs = [(round(e[0], 1), [x.get("error", {}).get("detail", "")
                              for x in e[1].get("challenges", [])]) for e in ends.values()]
    tls = [e for az, e in ends.items() if az != slow[-1]]
    check("%d tls-alpn-01 validations against a peer sending a byte a second end invalid"
          % workers, len(tls) == workers and
          all(e[1].get("status") == "invalid" for e in tls), errs)
    check("  ... each within its timeout (%d ms), not the hours the peer would take"
          % timeout_ms, len(tls) == workers and all(e[0] < bound for e in tls), errs)
    check("  ... saying the handshake timed out", len(tls) == workers and
          all(any("handshake timeout" in x.get("error", {}).get("detail", "")
                  for x in e[1].get("challenges", [])) for e in tls), errs)
    d = ends.get(slow[-1])
    check("an http-01 answer sent a byte a second ends invalid within its timeout",
          d is not None and d[1].get("status") == "invalid" and d[0] < bound, errs)
    check("another account's validation asked for meanwhile is valid soon after",
          fast_doc is not None and fast_doc[1].get("status") == "valid" and
          fast_doc[0] < bound + timeout_ms / 1000, fast_doc)


def main():
    mode, directory, cafile, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if mode == "negative":
        negative(directory, cafile, port)
    elif mode == "policy":
        policy(directory, cafile, port)
    elif mode == "held_order":
        held_order(directory, cafile, port, sys.argv[5])
    elif mode == "approval_authz":
        approval_authz(directory, cafile, port, sys.argv[5], sys.argv[6])
    elif mode == "badip":
        badip(directory, cafile, port)
    elif mode == "begin":
        begin(directory, cafile, port, sys.argv[5])
    elif mode == "finish":
        finish(directory, cafile, port, sys.argv[5])
    elif mode == "chain":
        chain(directory, cafile, port, sys.argv[5], sys.argv[6])
    elif mode == "alternate":
        alternate(directory, cafile, port, *sys.argv[5:8])
    elif mode == "bounds":
        bounds(directory, cafile, port, sys.argv[5], sys.argv[6])
    elif mode == "commits":
        commits(directory, cafile, port, sys.argv[5], sys.argv[6])
    elif mode == "nonces":
        nonces(directory, cafile, port, sys.argv[5])
    elif mode == "nonce_age":
        nonce_age(directory, cafile, port, sys.argv[5], sys.argv[6])
    elif mode == "validate":
        validate(directory, cafile, port, sys.argv[5], sys.argv[6], sys.argv[7])
    elif mode == "orders":
        orders(directory, cafile, port, sys.argv[5], sys.argv[6], sys.argv[7:] == ["together"])
    elif mode == "keys":
        keys(directory, cafile, port)
    elif mode == "deactivate_race":
        deactivate_race(directory, cafile, port, sys.argv[5], sys.argv[6])
    elif mode == "eab_race":
        eab_race(directory, cafile, port, *sys.argv[5:10])
    elif mode == "lookalikes":
        lookalikes(directory, cafile, port)
    elif mode == "revoke_names":
        revoke_names(directory, cafile, port, *sys.argv[5:])
    elif mode == "slow_peers":
        slow_peers(directory, cafile, port, int(sys.argv[5]), int(sys.argv[6]),
                   int(sys.argv[7]))
    elif mode == "worker_free":
        worker_free(directory, cafile, port, sys.argv[5], sys.argv[6])
    elif mode == "stop_parked":
        stop_parked(directory, cafile, port, sys.argv[5], sys.argv[6], sys.argv[7])
    elif mode == "pending_fill":
        pending_fill(directory, cafile, port, sys.argv[5], sys.argv[6])
    elif mode == "pending_later":
        pending_later(directory, cafile, port, sys.argv[5], sys.argv[6], sys.argv[7])
    elif mode == "accounts":
        accounts(directory, cafile, port, sys.argv[5])
    elif mode == "ready_order":
        ready_order(directory, cafile, port, sys.argv[5])
    elif mode == "finalize_later":
        finalize_later(directory, cafile, port, *sys.argv[5:7])
    elif mode == "fresh":
        fresh(directory, cafile, port, sys.argv[5])
    elif mode in ("inflight", "killed", "park", "parked", "answered", "answered_late",
                  "unanswered"):
        globals()[mode](directory, cafile, port, sys.argv[5], sys.argv[6])
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
