#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# An SMTP sink (aiosmtpd) for the notify tests: listens on 127.0.0.1 (any port, written to
# PORTFILE) and appends one JSON line per received message to LOG:
#   {"from", "to": [envelope recipients], "subject", "msgid", "header_to", "tls": bool,
#    "user": authenticated user or null, "body"}
# and one line {"refused": "auth", "user": ...} per failed AUTH.
# usage: smtp_tls_sink.py PORTFILE LOG [--tls CERT KEY] [--auth USER PASSWORD]
#   --tls offers STARTTLS with that certificate; --auth requires AUTH (PLAIN/LOGIN) with
#   these credentials before MAIL (aiosmtpd allows AUTH only after STARTTLS).
import asyncio
import email
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

portfile, log = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
tls = auth = None
while args:
    if args[0] == "--tls":
        tls, args = (args[1], args[2]), args[3:]
    elif args[0] == "--auth":
        auth, args = (args[1], args[2]), args[3:]
    else:
        sys.exit("unknown argument " + args[0])


def append(doc):
    with open(log, "a") as f:
        f.write(json.dumps(doc) + "\n")


class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content)
        append({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                "subject": msg["Subject"], "msgid": msg["Message-ID"],
                "header_to": msg["To"], "tls": session.ssl is not None,
                "user": session.auth_data.login.decode() if session.authenticated else None,
                "body": msg.get_payload(decode=True).decode("utf-8", "replace")})
        return "250 OK"


def authenticator(server, session, envelope, mechanism, data):
    if isinstance(data, LoginPassword) and auth is not None and \
            data.login.decode() == auth[0] and data.password.decode() == auth[1]:
        return AuthResult(success=True, auth_data=data)
    append({"refused": "auth", "user": data.login.decode() if isinstance(data, LoginPassword) else None})
    return AuthResult(success=False, handled=False)


def factory():
    ctx = None
    if tls is not None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(tls[0], tls[1])
    return SMTP(Handler(), hostname="localhost", tls_context=ctx, require_starttls=False,
                auth_required=auth is not None, auth_require_tls=True,
                authenticator=authenticator if auth is not None else None)


async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(factory, "127.0.0.1", 0)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.sockets[0].getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    await srv.serve_forever()


asyncio.run(main())
