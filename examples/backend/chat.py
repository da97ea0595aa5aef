#!/usr/bin/env python3
"""A chat whose logic lives in the backend, behind switchyard in edge mode.

Standard library only. switchyard holds the WebSockets; this process decides:

- who may connect (the connect proxy checks the `chat_session` cookie set by /login),
- who may join which room (the subscribe proxy: `staff-*` rooms are for staff),
- what each command does (the command proxy): `chat {text}` is checked, kept in the
  room's history and published to the room through switchyard's server API;
  `history` is answered to the sender; anything else is refused.

Run (two processes):

    switchyard --proxy-url http://127.0.0.1:9000/events --api-key devkey &
    python3 examples/backend/chat.py --port 9000 --switchyard http://127.0.0.1:8080 --api-key devkey

Then log in (`curl -c jar 'http://127.0.0.1:9000/login?name=alice'`) and connect to
ws://127.0.0.1:8080/socket?ch=lobby with that cookie.
"""

import argparse
import http.server
import json
import secrets
import sys
import threading
import time
import urllib.request
from collections import defaultdict, deque

MAX_TEXT = 2000
HISTORY = 20

sessions = {}  # cookie value -> user name
history = defaultdict(lambda: deque(maxlen=HISTORY))  # room -> recent messages
lock = threading.Lock()
settings = argparse.Namespace()


def api(call, body):
    """POSTs to switchyard's server API (publishing reaches every node of a cluster)."""
    request = urllib.request.Request(
        f"{settings.switchyard}/api/{call}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"apikey {settings.api_key}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def cookie(headers, name):
    for pair in headers.get("cookie", "").split(";"):
        key, _, value = pair.strip().partition("=")
        if key == name:
            return value
    return None


def on_connect(event):
    with lock:
        user = sessions.get(cookie(event.get("headers", {}), "chat_session") or "")
    if user is None:
        return {"refuse": {"status": 401, "reason": "log in first"}}
    roles = ["staff"] if user.startswith("staff") else []
    return {"user": {"id": user, "name": user.title(), "roles": roles}, "channels": ["lobby"]}


def on_subscribe(event):
    if event["channel"].startswith("staff-") and not event["user"].startswith("staff"):
        return {"allow": False, "reason": "staff rooms are for staff"}
    return {"allow": True}


def on_command(event):
    cmd, param, room = event["cmd"], event.get("param"), event["channel"]
    if cmd == "chat":
        text = param.get("text") if isinstance(param, dict) else None
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            return {"error": {"code": "bad-param", "message": f"chat needs a text of 1 to {MAX_TEXT} characters"}}
        message = {"user": event["user"], "text": text, "time": int(time.time() * 1000)}
        with lock:
            history[room].append(message)
        api("publish", {"channel": room, "cmd": "chat", "param": message})
        return {"reply": {"cmd": "sent", "param": {"time": message["time"]}}}
    if cmd == "history":
        with lock:
            messages = list(history[room])
        return {"reply": {"channel": room, "cmd": "history", "param": messages}}
    return {"error": {"code": "unknown-command", "message": f"no command '{cmd}'"}}


HANDLERS = {"connect": on_connect, "subscribe": on_subscribe, "command": on_command}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: switchyard reuses its connections

    def do_POST(self):
        if self.path != "/events":
            return self.answer(404, {"error": "not found"})
        length = int(self.headers.get("Content-Length", 0))
        try:
            event = json.loads(self.rfile.read(length))
            handler = HANDLERS[event["event"]]
        except (ValueError, KeyError):
            return self.answer(400, {"error": "bad event"})
        self.answer(200, handler(event))

    def do_GET(self):
        if not self.path.startswith("/login?name="):
            return self.answer(404, {"error": "not found"})
        name = self.path.split("=", 1)[1]
        if not name.isalnum():
            return self.answer(400, {"error": "a name is letters and digits"})
        token = secrets.token_hex(16)
        with lock:
            sessions[token] = name
        self.answer(200, {"user": name}, [("Set-Cookie", f"chat_session={token}; Path=/; HttpOnly; SameSite=Lax")])

    def answer(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--switchyard", default="http://127.0.0.1:8080", help="switchyard's base URL (server API)")
    parser.add_argument("--api-key", default="devkey")
    parser.parse_args(namespace=settings)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", settings.port), Handler)
    print(f"chat backend listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
