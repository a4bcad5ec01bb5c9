#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# A webhook receiver for tests/integration/notify.sh: listens on 127.0.0.1:PORT (0 = any),
# writes the port to PORTFILE, checks each POST's Cairn-Signature (HMAC-SHA256 over
# "t.body" with the secret in SECRETFILE) and appends one line per request to LOG:
#   <sig ok|bad> <event id> <type> <serial, what (ca.expiring), id (a request's, a token's)
#   or -> <threshold_days or -> <header id>
# While the file LOG.hold exists each request is logged and then left unanswered until the
# file is gone (at most 60 s): notify.sh kills the daemon while a delivery is in flight.
# While LOG.delay exists each request is answered after that many seconds (a slow receiver);
# while LOG.redirect exists each is answered 307 to the URL it holds.
import hashlib, hmac, json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

port, portfile, secretfile, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
hold = log + ".hold"
secret = open(secretfile, "rb").read().strip()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        sig = self.headers.get("Cairn-Signature", "")
        parts = dict(p.split("=", 1) for p in sig.split(",") if "=" in p)
        want = hmac.new(secret, parts.get("t", "").encode() + b"." + body,
                        hashlib.sha256).hexdigest()
        good = "v1" in parts and hmac.compare_digest(want, parts["v1"])
        try:
            ev = json.loads(body)
            data = ev.get("data", {})
            line = "%s %s %s %s %s %s v%s\n" % (
                "ok" if good else "bad", ev["id"], ev["type"],
                data.get("serial", data.get("what", data.get("id", "-"))),
                data.get("threshold_days", "-"), self.headers.get("Cairn-Event-Id", "-"),
                ev.get("version"))
        except (ValueError, KeyError, AttributeError):
            line = "bad - unparsable - - -\n"
        with open(log, "a") as f:
            f.write(line)
        until = time.monotonic() + 60
        while os.path.exists(hold) and time.monotonic() < until:
            time.sleep(0.05)
        if os.path.exists(log + ".delay"):
            time.sleep(float(open(log + ".delay").read()))
        if os.path.exists(log + ".redirect"):
            self.send_response(307)
            self.send_header("Location", open(log + ".redirect").read().strip())
        else:
            self.send_response(204 if good else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


srv = HTTPServer(("127.0.0.1", port), Hook)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
