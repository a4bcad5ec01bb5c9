#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Holds idle TCP connections open to a listener, as a client that never sends a request.

conn_flood.py HOST:PORT PER_ADDR READY STOP ADDR...
Opens PER_ADDR connections from each local ADDR (127.0.0.x), writes how many opened to
READY, and holds them until the file STOP exists (at most 120 s), then closes them all.
A connection the server has not accepted yet still completes in the kernel's backlog, so
it counts as opened; a connect that times out (a full backlog) ends that address's run."""
import os
import socket
import sys
import time

HOLD_MAX_S = 120


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    per_addr = int(sys.argv[2])
    ready, stop = sys.argv[3], sys.argv[4]
    socks = []
    for addr in sys.argv[5:]:
        for _ in range(per_addr):
            try:
                socks.append(socket.create_connection((host, int(port)), timeout=2,
                                                      source_address=(addr, 0)))
            except OSError as e:
                print(f"conn_flood: {addr}: {e}", file=sys.stderr)
                break
    with open(ready + ".tmp", "w") as f:
        f.write(f"{len(socks)}\n")
    os.rename(ready + ".tmp", ready)
    deadline = time.monotonic() + HOLD_MAX_S
    while not os.path.exists(stop) and time.monotonic() < deadline:
        time.sleep(0.05)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
