#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The reader end of a daemon's stderr that stops reading (a stalled log pipeline).

stalled_reader.py FIFO OUT GO
Opens FIFO for reading, shrinks its pipe to one page (4096 bytes, so a few log lines fill
it), then reads nothing until the file GO exists (at most 120 s); from then on copies
everything to OUT until the writer closes its end."""
import fcntl
import os
import sys
import time

F_SETPIPE_SZ = 1031
WAIT_MAX_S = 120


def main():
    fifo, out, go = sys.argv[1:4]
    fd = os.open(fifo, os.O_RDONLY)
    fcntl.fcntl(fd, F_SETPIPE_SZ, 4096)
    deadline = time.monotonic() + WAIT_MAX_S
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.05)
    with open(out, "ab") as f:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            f.write(chunk)
            f.flush()
    os.close(fd)


if __name__ == "__main__":
    main()
