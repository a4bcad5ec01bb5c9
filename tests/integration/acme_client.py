#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An ACME client (python3-acme, certbot's protocol library) with a scriptable http-01
server, for what lego and certbot cannot do: challenge answers that redirect (SSRF
probes) and an answer held back while the authorization is deactivated.

usage: acme_client.py redirects DIRECTORY_URL CAFILE HTTP01_PORT SECRET_PORT
       acme_client.py race      DIRECTORY_URL CAFILE HTTP01_PORT
Prints "pass: NAME" or "fail: NAME: detail" per check; exits 1 if any failed.
The names *.example.test must resolve to 127.0.0.1 through the daemon's validation
resolver (acme.validation.hosts), except unmapped.example.test; dnsonly.example.test
resolves through its DNS server only.
"""
import http.server
import ipaddress
import os
import sys
import threading
import time

import josepy as jose
from acme import challenges, client, crypto_util, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acme_probe import FAILED, check  # noqa: E402  the same pass:/fail: lines

ROUTES = {}        # path -> callable(handler) answering the request
SECRET_HITS = []   # requests that reached the internal service
SECRET_BODY = b"internal-secret-7c1e"


class Challenges(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        route = ROUTES.get(self.path)
        if route is None:
            self.send_response(404)
            self.end_headers()
            return
        route(self)

    def log_message(self, *a):
        pass


class Secret(http.server.BaseHTTPRequestHandler):
    """An internal service the validator must never reach: a 418 and a secret body."""

    def do_GET(self):
        SECRET_HITS.append(self.path)
        self.send_response(418)
        self.send_header("Content-Length", str(len(SECRET_BODY)))
        self.end_headers()
        self.wfile.write(SECRET_BODY)

    do_POST = do_GET

    def log_message(self, *a):
        pass


def serve(port, handler):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def redirect_to(location):
    def answer(h):
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return answer


def body(data):
    def answer(h):
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    return answer


def connect(directory, cafile):
    key = jose.JWKRSA(key=rsa.generate_private_key(65537, 2048))
    net = client.ClientNetwork(key, verify_ssl=cafile, user_agent="cairn-tests")
    c = client.ClientV2(client.ClientV2.get_directory(directory, net), net)
    c.new_account(messages.NewRegistration.from_data(email="t@example.test",
                                                     terms_of_service_agreed=True))
    return c, key


def csr_for(name):
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    try:
        return crypto_util.make_csr(pem, ipaddrs=[ipaddress.ip_address(name)])
    except ValueError:
        return crypto_util.make_csr(pem, [name])


def http01(c, key, name):
    """New order for name: (authorization, http-01 challenge body, key authorization)."""
    order = c.new_order(csr_for(name))
    authzr = order.authorizations[0]
    chb = [x for x in authzr.body.challenges if isinstance(x.chall, challenges.HTTP01)][0]
    resp, validation = chb.response_and_validation(key)
    return order, authzr, chb, resp, validation.encode()


def wait_done(c, authzr, seconds=30):
    """Polls until no challenge of the authorization is processing any more."""
    end = time.time() + seconds
    while True:
        authzr, _ = c.poll(authzr)
        busy = [x for x in authzr.body.challenges if x.status.name == "processing"]
        if (authzr.body.status.name != "pending" and not busy) or time.time() > end:
            return authzr
        time.sleep(0.2)


def chall_error(authzr):
    for x in authzr.body.challenges:
        if x.error is not None:
            return "%s: %s" % (x.error.typ, x.error.detail)
    return ""


def try_redirect(c, key, name, answer):
    """Orders name, answers its http-01 with answer(token, keyauth) (installs ROUTES),
    returns (authorization status, challenge error text)."""
    order, authzr, chb, resp, keyauth = http01(c, key, name)
    answer(chb.chall.path, keyauth)
    c.answer_challenge(chb, resp)
    authzr = wait_done(c, authzr)
    return authzr.body.status.name, chall_error(authzr)


# What a target's answer would show: its status, body, or how connecting to it failed.
LEAKS = ("HTTP 4", "HTTP 5", "HTTP 2", "teapot", "internal-secret", "Connection refused",
         "Failed to connect", "Couldn't connect", "Could not connect", "timed out",
         "Timeout", "reset")


def refused(c, key, n, location, rule, what):
    name = "c%d.example.test" % n
    st, err = try_redirect(c, key, name,
                           lambda path, ka: ROUTES.__setitem__(path, redirect_to(location)))
    leaks = [x for x in LEAKS if x in err]
    check("%s: refused, the error names the rule" % what,
          st == "invalid" and rule in err, (st, err))
    check("%s: the error tells nothing the target answered" % what, not leaks, (leaks, err))


def redirects(directory, cafile, port, secret):
    serve(port, Challenges)
    serve(secret, Secret)
    c, key = connect(directory, cafile)
    hp = str(port)

    refused(c, key, 1, "http://127.0.0.1:%d/x" % secret, "redirect to the IP address 127.0.0.1",
            "redirect to 127.0.0.1:<internal port>")
    refused(c, key, 2, "http://secret.example.test:%d/x" % secret,
            "redirect to port %d refused: only 80 (http) and 443 (https)" % secret,
            "redirect to a mapped name on the internal port")
    refused(c, key, 3, "http://localhost:%d/x" % secret, "redirect to localhost refused: the host is not a DNS name",
            "redirect to localhost (system resolver only)")
    refused(c, key, 4, "http://unmapped.example.test/x",
            "redirect to unmapped.example.test refused: the host does not resolve through "
            "the validation resolver", "redirect to a host the validation resolver does not know")
    refused(c, key, 5, "http://c5.example.test:22/", "redirect to port 22 refused",
            "redirect to port 22")
    refused(c, key, 6, "http://c6.example.test:8081/", "redirect to port 8081 refused",
            "redirect to port 8081")
    refused(c, key, 7, "file:///etc/passwd", "redirect to a file: URL refused: only http and https",
            "redirect to file://")
    refused(c, key, 8, "gopher://127.0.0.1:%d/_GET%%20/" % secret,
            "redirect to a gopher: URL refused: only http and https", "redirect to gopher://")
    refused(c, key, 9, "https://c9.example.test:%s/x" % hp, "redirect to port %s refused" % hp,
            "redirect to https on the http-01 port")
    refused(c, key, 10, "http://c1.example.test:%s/x" % hp, "redirect to port %s refused" % hp,
            "redirect to the http-01 port of another host")
    refused(c, key, 11, "//127.0.0.1:%d/x" % secret, "redirect to the IP address 127.0.0.1",
            "protocol-relative redirect to 127.0.0.1")
    refused(c, key, 12, "http://c12.example.test:%s@127.0.0.1:%d/x" % (hp, secret),
            "redirect to the IP address 127.0.0.1", "redirect with user info before 127.0.0.1")
    refused(c, key, 13, "http://2130706433:%d/x" % secret, "refused",
            "redirect to 127.0.0.1 written as a number")
    refused(c, key, 14, "http://[::1]:%d/x" % secret, "redirect to the IP address ::1",
            "redirect to [::1]")
    refused(c, key, 15, "http://%s:%d/x" % ("c15.example.test", secret),
            "redirect to port %d refused" % secret, "redirect to the challenged host, other port")

    # 11 hops on the challenged host itself: more than 10 redirects
    def chain(n, final):
        def install(path, ka):
            for i in range(n):
                ROUTES["%s/h%d" % (path, i)] = redirect_to(
                    "%s/h%d" % (path, i + 1) if i + 1 < n else final)
            ROUTES[path] = redirect_to("%s/h0" % path)
            ROUTES["%s/done" % path] = body(ka)
        return install

    def chain_to_done(n):
        def install(path, ka):
            chain(n - 1, path + "/done")(path, ka)
        return install

    st, err = try_redirect(c, key, "c16.example.test", chain_to_done(11))
    check("11 redirects: refused, the error names the rule",
          st == "invalid" and "more than 10 redirects refused" in err, (st, err))
    st, err = try_redirect(c, key, "c17.example.test", chain_to_done(10))
    check("10 redirects on the challenged host validate", st == "valid", (st, err))

    # targets that pass every rule but do not answer: one error, nothing of the target's
    for n, loc, what in ((18, "http://dnsonly.example.test/x", "a name only the DNS server knows"),
                         (19, "http://c19.example.test/x", "port 80 of a mapped name")):
        st, err = try_redirect(c, key, "c%d.example.test" % n,
                               lambda path, ka, loc=loc: ROUTES.__setitem__(path, redirect_to(loc)))
        leaks = [x for x in LEAKS if x in err]
        check("redirect to %s is followed (no rule refuses it)" % what,
              st == "invalid" and "followed 1 redirect(s)" in err, (st, err))
        check("  ... and its failure tells nothing the target answered", not leaks, (leaks, err))
    st, err = try_redirect(c, key, "c20.example.test", lambda path, ka: (
        ROUTES.__setitem__(path, redirect_to("/elsewhere" + path)),
        ROUTES.__setitem__("/elsewhere" + path, redirect_to(
            "http://c20.example.test:%s/missing-here" % hp))))
    check("a 404 after redirects is not echoed", st == "invalid" and "HTTP 404" not in err and
          "followed 2 redirect(s)" in err, (st, err))

    # positive cases: the challenged host on the configured http01_port
    st, err = try_redirect(c, key, "c21.example.test", lambda path, ka: (
        ROUTES.__setitem__(path, redirect_to("http://c21.example.test:%s/moved%s" % (hp, path))),
        ROUTES.__setitem__("/moved" + path, body(ka))))
    check("a redirect to the same host on the http01_port validates", st == "valid", (st, err))
    st, err = try_redirect(c, key, "c22.example.test", lambda path, ka: (
        ROUTES.__setitem__(path, redirect_to("/relative" + path)),
        ROUTES.__setitem__("/relative" + path, body(ka))))
    check("a relative redirect validates", st == "valid", (st, err))
    st, err = try_redirect(c, key, "127.0.0.1", lambda path, ka: (
        ROUTES.__setitem__(path, redirect_to("http://127.0.0.1:%s/ip%s" % (hp, path))),
        ROUTES.__setitem__("/ip" + path, body(ka))))
    check("an IP identifier redirecting to itself on the http01_port validates",
          st == "valid", (st, err))
    st, err = try_redirect(c, key, "c23.example.test",
                           lambda path, ka: ROUTES.__setitem__(path, body(b"wrong")))
    check("without redirects the challenge's own outcome is still told",
          st == "invalid" and "body is not the key authorization" in err, (st, err))

    check("the internal service was never contacted", not SECRET_HITS, SECRET_HITS)


def race(directory, cafile, port):
    """Deactivation committed while the validator waits for the challenge answer: the
    answer then arrives, correct, and must not make the authorization valid."""
    serve(port, Challenges)
    c, key = connect(directory, cafile)

    def held(path, ka, fetched, release):
        def answer(h):
            fetched.set()
            release.wait(20)
            body(ka)(h)
        ROUTES[path] = answer

    for deactivate in (False, True):
        fetched, release = threading.Event(), threading.Event()
        order, authzr, chb, resp, keyauth = http01(c, key, "race.example.test")
        held(chb.chall.path, keyauth, fetched, release)
        c.answer_challenge(chb, resp)
        got = fetched.wait(20)
        if deactivate:
            check("the validator is fetching the challenge", got)
            d = c.deactivate_authorization(authzr)
            check("deactivation is accepted while the validation is in flight",
                  d.body.status.name == "deactivated", d.body.status)
        release.set()
        authzr = wait_done(c, authzr)
        chs = [x.status.name for x in authzr.body.challenges]
        if not deactivate:
            check("control: the held answer validates when nobody deactivates",
                  authzr.body.status.name == "valid", (authzr.body.status, chs))
            # a valid authorization can be deactivated; then the name needs a new one
            c.deactivate_authorization(authzr)
            continue
        check("the correct answer arriving after the deactivation leaves it deactivated",
              authzr.body.status.name == "deactivated", (authzr.body.status, chs))
        check("  ... and its challenge is not valid", "valid" not in chs,
              (chs, chall_error(authzr)))
        again = c.new_order(csr_for("race.example.test"))
        az = again.authorizations[0]
        check("a new order for the name gets a fresh pending authorization (none reused)",
              az.body.status.name == "pending" and az.uri != authzr.uri,
              (az.body.status, az.uri))
    # a deactivated authorization cannot be deactivated or answered again
    try:
        c.deactivate_authorization(authzr)
        check("deactivating a deactivated authorization is refused", False, "accepted")
    except messages.Error as e:
        check("deactivating a deactivated authorization is refused", "deactivated" in str(e), e)


def main():
    mode, directory, cafile, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if mode == "redirects":
        redirects(directory, cafile, port, int(sys.argv[5]))
    elif mode == "race":
        race(directory, cafile, port)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
