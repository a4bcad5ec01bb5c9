#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# A webhook receiver for tests/integration/notify.sh: listens on 127.0.0.1:PORT (0 = any),
# writes the port to PORTFILE, checks each POST's Cairn-Signature (HMAC-SHA256 over
# "t.body" with the secret in SECRETFILE) and appends one line per request to LOG:
#   <sig ok|bad> <event id> <type> <serial or -> <threshold_days or -> <header id>
# While the file SLOW exists each answer waits 0.3 s (for SIGKILL during delivery).
import hashlib, hmac, json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

port, portfile, secretfile, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
slow = log + ".slow"
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
                "ok" if good else "bad", ev["id"], ev["type"], data.get("serial", "-"),
                data.get("threshold_days", "-"), self.headers.get("Cairn-Event-Id", "-"),
                ev.get("version"))
        except (ValueError, KeyError, AttributeError):
            line = "bad - unparsable - - -\n"
        if os.path.exists(slow):
            time.sleep(0.3)
        with open(log, "a") as f:
            f.write(line)
        self.send_response(204 if good else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


srv = HTTPServer(("127.0.0.1", port), Hook)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
