#!/usr/bin/env python3
"""Server RSS per idle connection with and without permessage-deflate: N connections are
opened, each sends one compressed `echo` of about 1 KiB and reads the answer, then they sit
idle; the server's VmRSS is read before and 1 s after. Three layouts, each on a fresh server:
plain (no extension), deflate with `client_no_context_takeover` (nothing kept per
connection), deflate with client context takeover (the browser default: the server keeps
an inflater, and its 32 KiB window, for each such connection).

usage: bench/compression_memory.py [path/to/switchyard] [N]   (default target/release/switchyard, 2000)

Needs the Python `websockets` package.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time

from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/switchyard"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def layout(extensions):
    port = free_port()
    server = subprocess.Popen([BIN, "--listen", f"127.0.0.1:{port}", "--workers", "1", "--compression"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.3)
        before = rss_kib(server.pid)
        payload = json.dumps({"cmd": "echo", "param": [{"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(30)]})
        clients = []
        for i in range(N):
            ws = await connect(f"ws://127.0.0.1:{port}/example/socket?ch=mem-{i}", extensions=extensions, compression=None)
            await ws.send(payload)
            await ws.recv()
            clients.append(ws)
        await asyncio.sleep(1)
        after = rss_kib(server.pid)
        negotiated = clients[0].protocol.extensions
        for ws in clients:
            await ws.close()
        return (after - before) / N, negotiated
    finally:
        server.terminate()
        server.wait()


async def main():
    rows = [
        ("plain", None),
        ("deflate, client_no_context_takeover", [ClientPerMessageDeflateFactory(client_no_context_takeover=True)]),
        ("deflate, client keeps its context", [ClientPerMessageDeflateFactory(client_max_window_bits=True)]),
    ]
    print(f"| {N} idle connections, each after one ~1 KiB message | RSS per connection |")
    print("|---|---|")
    for name, extensions in rows:
        per, negotiated = await layout(extensions)
        print(f"| {name} | {per:.2f} KiB |  <!-- {negotiated} -->")


asyncio.run(main())
