#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# An SMTP sink for tests/integration/notify.sh: listens on 127.0.0.1 (any port, written to
# PORTFILE) and appends one line per received message to LOG:
#   <envelope from> <envelope recipients, comma-separated> <Subject header> | <Message-ID>
import asyncore, email, os, sys, warnings

warnings.simplefilter("ignore", DeprecationWarning)
import smtpd  # noqa: E402  (Python 3.11: deprecated, still shipped; no extra package)

portfile, log = sys.argv[1], sys.argv[2]


class Sink(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kw):
        msg = email.message_from_bytes(data if isinstance(data, bytes) else data.encode())
        body = msg.get_payload(decode=True).decode("utf-8", "replace")  # quoted-printable
        with open(log, "a") as f:
            f.write("%s %s %s | %s | json=%s\n" % (mailfrom, ",".join(rcpttos), msg["Subject"],
                                                 msg["Message-ID"], '"version": 1' in body))


srv = Sink(("127.0.0.1", 0), None)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.socket.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
asyncore.loop()
