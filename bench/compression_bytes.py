#!/usr/bin/env python3
"""Bytes on the wire with and without permessage-deflate, against a running switchyard
started with --compression (both runs in the same process, against the same server).

usage: bench/compression_bytes.py [ws://127.0.0.1:8080]

Needs the Python `websockets` package (which negotiates permessage-deflate by default, with
client context takeover, as browsers do). Byte counts are the server's own counters
(/admin/api/status `bytes_in` and `bytes_out`: frames read and queued, headers included,
upgrades included), read before and after each scenario, so the admin API must answer this
client (loopback, no --admin-token).

Scenarios:
  chat   the example chat: 10 clients in one room, each sends 20 `chat` messages of everyday
         text; every message reaches the 10 members (200 sends, 2,000 deliveries)
  json   1 KiB JSON payloads: 10 clients each `echo` 50 records lists of about 1 KiB
"""

import asyncio
import json
import random
import sys
import urllib.request

from websockets.asyncio.client import connect

BASE = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8080"
HTTP = BASE.replace("ws://", "http://")

WORDS = ("hello everyone how is it going today the build passed again and the deploy is "
         "scheduled for tonight after the review meeting lunch coffee anyone up for a walk "
         "later thanks see you tomorrow").split()


def status():
    with urllib.request.urlopen(f"{HTTP}/admin/api/status") as r:
        s = json.load(r)
    return s["bytes_in"], s["bytes_out"]


def sentence(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16)))


def records(rng):
    out, i = [], 0
    while len(json.dumps(out)) < 1000:
        out.append({"id": rng.randint(1000, 99999), "sym": f"S{rng.randint(0, 999):03}",
                    "px": round(rng.uniform(10, 500), 2), "qty": rng.randint(1, 500), "side": rng.choice(["buy", "sell"])})
        i += 1
    return out


async def drain(ws, count):
    for _ in range(count):
        await asyncio.wait_for(ws.recv(), 10)


async def chat(compression):
    rng = random.Random(7)
    room = f"bytes-chat-{compression}"
    clients = [await connect(f"{BASE}/example/socket?ch={room}", compression=compression) for _ in range(10)]
    await asyncio.sleep(0.3)
    for ws in clients:  # join announcements
        while True:
            try:
                await asyncio.wait_for(ws.recv(), 0.2)
            except asyncio.TimeoutError:
                break
    before = status()
    for _ in range(20):
        for ws in clients:
            await ws.send(json.dumps({"cmd": "chat", "param": {"text": sentence(rng)}}))
        for ws in clients:
            await drain(ws, 10)
    after = status()
    for ws in clients:
        await ws.close()
    return after[0] - before[0], after[1] - before[1], 200, 2000


async def json_echo(compression):
    rng = random.Random(11)
    clients = [await connect(f"{BASE}/example/socket?ch=bytes-json-{compression}-{i}", compression=compression) for i in range(10)]
    before = status()
    for _ in range(50):
        for ws in clients:
            await ws.send(json.dumps({"cmd": "echo", "param": records(rng)}))
        for ws in clients:
            await drain(ws, 1)
    after = status()
    for ws in clients:
        await ws.close()
    return after[0] - before[0], after[1] - before[1], 500, 500


async def main():
    rows = []
    for name, scenario in (("chat", chat), ("json 1 KiB", json_echo)):
        plain = await scenario(None)
        deflate = await scenario("deflate")
        rows.append((name, plain, deflate))
    print("| scenario | direction | plain bytes | permessage-deflate bytes | ratio |")
    print("|---|---|---|---|---|")
    for name, plain, deflate in rows:
        for label, i, count in (("client → server", 0, 2), ("server → clients", 1, 3)):
            print(f"| {name} | {label} ({plain[count]} msgs) | {plain[i]:,} | {deflate[i]:,} | {deflate[i] / plain[i]:.2f}× |")


asyncio.run(main())
