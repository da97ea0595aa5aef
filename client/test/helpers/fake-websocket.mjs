// fake-websocket.mjs — an in-memory stand-in for a WebSocket class, driven by unit tests.
// Each call to makeFakeWebSocket() returns a fresh class whose `instances` lists every socket
// the client opened; a test plays the server with open(), receive(), drop() and fail().

export function makeFakeWebSocket() {
  class FakeWebSocket {
    static instances = [];

    constructor(url) {
      this.url = url;
      this.readyState = 0; // CONNECTING
      this.sent = [];
      this.closedWith = null;
      this.onopen = null;
      this.onmessage = null;
      this.onerror = null;
      this.onclose = null;
      FakeWebSocket.instances.push(this);
    }

    static get last() {
      return FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    }

    // ── what the client calls ──
    send(data) {
      if (this.readyState !== 1) throw new Error("fake socket not open");
      this.sent.push(data);
    }

    close(code, reason) {
      this.closedWith = { code, reason };
      this.readyState = 2; // CLOSING; the test decides when the close event comes
    }

    // ── what the test (playing the server) calls ──
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }

    receive(data) {
      this.onmessage?.({ data: typeof data === "string" ? data : JSON.stringify(data) });
    }

    receiveBinary(bytes) {
      this.onmessage?.({ data: bytes });
    }

    drop(code = 1006, reason = "") {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }

    fail() {
      this.onerror?.({ type: "error" });
      this.drop(1006, "");
    }

    sentMessages() {
      return this.sent.map((frame) => JSON.parse(frame));
    }
  }
  return FakeWebSocket;
}
