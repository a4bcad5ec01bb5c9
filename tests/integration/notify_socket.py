#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# A stand-in for systemd's notification socket: binds the AF_UNIX datagram socket
# NOTIFY_SOCKET names (a path, or "@name" for the abstract namespace) and appends each
# message to OUT as one line ("READY=1|STATUS=..."), with "serve.json=yes|no" saying
# whether DIR/serve.json existed when it arrived. Exits after STOPPING=1 or 120 s.
import os
import socket
import sys
import time

addr, out, data_dir = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
s.settimeout(1.0)
with open(out + ".bound", "w") as f:
    f.write("bound\n")
deadline = time.time() + 120
while time.time() < deadline:
    try:
        msg = s.recv(4096).decode()
    except socket.timeout:
        continue
    seen = "yes" if os.path.exists(os.path.join(data_dir, "serve.json")) else "no"
    with open(out, "a") as f:
        f.write("%s serve.json=%s\n" % (msg.replace("\n", "|"), seen))
    if "STOPPING=1" in msg:
        break
