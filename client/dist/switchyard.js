// switchyard.ts — the whole switchyard client, as one ES module.
//
// It is one file on purpose: the server embeds the build output (dist/switchyard.js) and serves
// it as /client/switchyard.js, so a page imports a single module with no bundler. The file owns,
// in this order:
//   1. wire types        — Message, OutgoingMessage, SocketState, SocketError
//   2. URL rules         — resolveSocketUrl: relative path → ws:// or wss:// of the page's host
//   3. backoff           — backoffCeiling / backoffDelay: exponential, capped by maxMs and by
//                          the outage so far, full jitter
//   4. send queue        — SendQueue: bounded FIFO, oldest dropped
//   5. presence          — presenceChange: online-update / online-updates → one PresenceChange
//   6. positions         — ChannelPositions: (offset, epoch) per channel, duplicates by offset;
//                          positionUpdate: the server's `position` / `recovered` replies
//   7. Socket            — connection lifecycle, reconnect, rooms, recovery, heartbeat, dispatch
// Zero runtime dependencies; works in browsers and in Node ≥ 20 (pass a WebSocket constructor,
// e.g. the `ws` package, where there is no global one).
/** Everything passed to `onError` is a SocketError; `kind` says where it came from. */
export class SocketError extends Error {
    kind;
    detail;
    constructor(kind, message, detail) {
        super(message);
        this.name = "SocketError";
        this.kind = kind;
        this.detail = detail;
    }
}
/**
 * The Go client's URL rules. A URL starting with `ws://` or `wss://` is used as it is. Anything
 * else is resolved against the page (or `page`, a location-like object or a base URL string):
 * `wss:` when the page is on https, `ws:` otherwise. An absolute `http(s)://` URL keeps its host
 * and maps to `ws(s)://`.
 */
export function resolveSocketUrl(url, page) {
    if (/^wss?:\/\//i.test(url))
        return url;
    const location = page ?? globalThis.location;
    if (location === undefined) {
        throw new SocketError("config", `relative socket URL "${url}" needs a page to resolve against: ` +
            `outside a browser pass an absolute ws:// or wss:// URL, or the "base" option`);
    }
    const base = typeof location === "string"
        ? new URL(location)
        : new URL(location.href ?? `${location.protocol}//${location.host}/`);
    const resolved = new URL(url, base);
    const scheme = resolved.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${resolved.host}${resolved.pathname}${resolved.search}`;
}
export const DEFAULT_BACKOFF = Object.freeze({
    initialMs: 500,
    maxMs: 30_000,
    factor: 2,
    resetAfterMs: 5_000,
});
/**
 * Upper bound of the delay before retry number `attempt` (0-based):
 * min(maxMs, initialMs·factor^attempt, max(initialMs, downForMs)).
 *
 * `downForMs` is how long the client has been without a connection that stayed up. Capping the
 * ceiling by it means no retry waits longer than the outage has lasted so far: when a server
 * restarts, its clients' early retries are refused at once and the exponential ceiling runs ahead
 * of the clock (after a 2 s restart, some of 3,000 clients would draw waits of 10–15 s). With the
 * cap, every client is back within about twice the outage. The retry rate still falls off as the
 * outage goes on (each retry waits up to the time already spent), so a server that stays down
 * is not hammered.
 */
export function backoffCeiling(attempt, options, downForMs = Infinity) {
    const grown = options.initialMs * Math.pow(options.factor, Math.max(0, attempt));
    const exponential = Math.min(options.maxMs, Number.isFinite(grown) ? grown : options.maxMs);
    return Math.min(exponential, Math.max(options.initialMs, downForMs));
}
/** Full jitter: a uniformly random delay in [0, ceiling). `random` is injectable for tests. */
export function backoffDelay(attempt, options, random = Math.random, downForMs = Infinity) {
    return Math.floor(random() * backoffCeiling(attempt, options, downForMs));
}
// ─── 4. send queue ──────────────────────────────────────────────────────────────────────────
/** A bounded FIFO of encoded frames waiting for a connection; when full, the oldest goes. */
export class SendQueue {
    limit;
    #items = [];
    constructor(limit) {
        if (!Number.isInteger(limit) || limit < 0) {
            throw new SocketError("config", `queue size must be a whole number ≥ 0, got ${limit}`);
        }
        this.limit = limit;
    }
    get size() {
        return this.#items.length;
    }
    /** Adds `frame`; returns the frame dropped to make room (or `frame` itself when limit is 0). */
    push(frame) {
        if (this.limit === 0)
            return frame;
        this.#items.push(frame);
        return this.#items.length > this.limit ? this.#items.shift() : undefined;
    }
    /** Removes and returns every queued frame, oldest first. */
    drain() {
        const items = this.#items;
        this.#items = [];
        return items;
    }
    clear() {
        this.#items = [];
    }
}
/**
 * Normalises a presence message into a PresenceChange; `undefined` for any other command.
 * Throws a SocketError (`protocol`) for a presence command whose param has the wrong shape.
 */
export function presenceChange(message) {
    if (message.cmd === "online-update")
        return singleChange(message);
    if (message.cmd === "online-updates")
        return coalescedChange(message);
    return undefined;
}
function singleChange(message) {
    const param = message.param;
    if (!isObject(param) || typeof param.userID !== "string" || typeof param.connected !== "boolean") {
        throw new SocketError("protocol", "online-update needs param {userID: string, connected: boolean}", message);
    }
    const ids = [param.userID];
    return {
        channel: message.channel,
        joined: param.connected ? ids : [],
        left: param.connected ? [] : ids,
        joinedCount: param.connected ? 1 : 0,
        leftCount: param.connected ? 0 : 1,
        truncated: false,
        coalesced: false,
    };
}
function coalescedChange(message) {
    const param = message.param;
    const joined = isObject(param) ? idList(param.joined) : undefined;
    const left = isObject(param) ? idList(param.left) : undefined;
    if (!isObject(param) || joined === undefined || left === undefined) {
        throw new SocketError("protocol", "online-updates needs param {joined: string[], left: string[], ...}", message);
    }
    // The counts are exact; a server that leaves them out (or sends nonsense) counts the lists.
    const joinedCount = countAtLeast(param.joined_count, joined.length);
    const leftCount = countAtLeast(param.left_count, left.length);
    const truncated = param.truncated === true || joinedCount > joined.length || leftCount > left.length;
    return { channel: message.channel, joined, left, joinedCount, leftCount, truncated, coalesced: true };
}
function idList(value) {
    if (value === undefined || value === null)
        return [];
    if (!Array.isArray(value) || !value.every((id) => typeof id === "string"))
        return undefined;
    return value;
}
function countAtLeast(value, listed) {
    return typeof value === "number" && Number.isInteger(value) && value >= listed ? value : listed;
}
function isObject(value) {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}
/**
 * Reads a `position {offset, epoch}` or `recovered {recovered, offset, epoch}` message;
 * `undefined` for any other command. Throws a SocketError (`protocol`) when one of those two
 * has no channel or a param of the wrong shape.
 */
export function positionUpdate(message) {
    if (message.cmd !== "position" && message.cmd !== "recovered")
        return undefined;
    const param = message.param;
    const channel = message.channel;
    if (typeof channel !== "string" || !isObject(param) || !isOffset(param.offset) || typeof param.epoch !== "string") {
        throw new SocketError("protocol", `${message.cmd} needs a channel and param {offset: number, epoch: string}`, message);
    }
    const position = { offset: param.offset, epoch: param.epoch };
    if (message.cmd === "position")
        return { cmd: "position", channel, position };
    if (typeof param.recovered !== "boolean") {
        throw new SocketError("protocol", "recovered needs param {recovered: boolean, ...}", message);
    }
    return { cmd: "recovered", channel, position, outcome: { channel, recovered: param.recovered, ...position } };
}
/**
 * The last position seen per channel. `observe` is fed every channel message: it adopts the
 * message's (offset, epoch) and says whether the message is new. In the same epoch a message at
 * or below the last offset seen is a duplicate (a replay overlapping what was already delivered);
 * a message of another epoch is new and its epoch is adopted (the server lost its history).
 */
export class ChannelPositions {
    #positions = new Map();
    get(channel) {
        const position = this.#positions.get(channel);
        return position === undefined ? undefined : { ...position };
    }
    /** Sets the position the server stated (`position` or `recovered`). */
    set(channel, position) {
        this.#positions.set(channel, { offset: position.offset, epoch: position.epoch });
    }
    forget(channel) {
        this.#positions.delete(channel);
    }
    /** False for a duplicate (drop it); true otherwise, with the position adopted when it has one. */
    observe(message) {
        const { channel, offset, epoch } = message;
        if (typeof channel !== "string" || !isOffset(offset) || typeof epoch !== "string")
            return true;
        const last = this.#positions.get(channel);
        if (last !== undefined && last.epoch === epoch && offset <= last.offset)
            return false;
        this.#positions.set(channel, { offset, epoch });
        return true;
    }
}
function isOffset(value) {
    return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
const WS_OPEN = 1;
export const DEFAULT_HEARTBEAT = Object.freeze({
    idleMs: 20_000,
    timeoutMs: 10_000,
});
/**
 * A switchyard connection that stays connected: it reconnects with capped, jittered backoff,
 * queues sends while down, restores rooms joined through `join`, recovers the messages it missed
 * in channels with history (see `onRecovered`), and detects dead connections with a heartbeat.
 *
 *     new Socket(debug, onOpen, onMessage, onError, url?)   // the Go client's signature
 *     new Socket({ url, onMessage, WebSocket, ... })         // options form
 */
export class Socket {
    url;
    #debug;
    #onOpen;
    #onMessage;
    #onError;
    #onClose;
    #onReconnect;
    #backoff;
    #heartbeat;
    #connectTimeoutMs;
    #WebSocket;
    #random;
    #ws = null;
    #state = "connecting";
    /** close(), close-connection or page unload: never reconnect again. */
    #stopped = false;
    #stoppedByUnload = false;
    #everOpened = false;
    #failedAttempts = 0;
    /** Since when there has been no connection that stayed up (set whenever the count resets). */
    #downSince = Date.now();
    #openedAt = 0;
    #lastHeardAt = 0;
    #heartbeatSentAt = 0;
    #reconnectTimer;
    #livenessTimer;
    #queue;
    #rooms = new Set();
    #handlers = new Map();
    #presenceHandlers = new Set();
    #recover;
    #positions = new ChannelPositions();
    #recoveredHandlers = new Set();
    /** The channel joined at the upgrade (`?ch=`), whose position goes in the reconnect URL. */
    #upgradeChannel;
    #page;
    constructor(debugOrOptions = {}, onOpen, onMessage, onError, url) {
        const options = typeof debugOrOptions === "boolean"
            ? withoutUndefined({
                debug: debugOrOptions,
                onOpen: onOpen ?? undefined,
                onMessage: onMessage ?? undefined,
                onError: onError ?? undefined,
                url,
            })
            : debugOrOptions;
        this.#debug = options.debug ?? false;
        this.#onOpen = options.onOpen;
        this.#onMessage = options.onMessage;
        this.#onError = options.onError;
        this.#onClose = options.onClose;
        this.#onReconnect = options.onReconnect;
        this.#backoff = { ...DEFAULT_BACKOFF, ...withoutUndefined(options.backoff ?? {}) };
        checkBackoff(this.#backoff);
        this.#heartbeat =
            options.heartbeat === false
                ? false
                : { ...DEFAULT_HEARTBEAT, ...withoutUndefined(options.heartbeat ?? {}) };
        if (this.#heartbeat)
            checkHeartbeat(this.#heartbeat);
        this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
        this.#queue = new SendQueue(options.maxQueue ?? 100);
        this.#random = options.random ?? Math.random;
        const WebSocketClass = options.WebSocket ?? globalThis.WebSocket;
        if (WebSocketClass === undefined) {
            throw new SocketError("config", "no global WebSocket here (Node 20?): pass one as the WebSocket option, " +
                'e.g. `import { WebSocket } from "ws"`');
        }
        this.#WebSocket = WebSocketClass;
        this.url = resolveSocketUrl(options.url ?? "/example/socket", options.base);
        this.#upgradeChannel = queryParam(this.url, "ch");
        this.#recover = options.recover ?? true;
        this.#watchPageUnload();
        this.#connect();
    }
    // ── public API ──
    get state() {
        return this.#state;
    }
    /** Rooms joined through `join` and not left; they are joined again after every reconnect. */
    get rooms() {
        return [...this.#rooms];
    }
    /** Messages waiting for a connection. */
    get queued() {
        return this.#queue.size;
    }
    /**
     * Sends a message now when connected, else queues it (flushed in order on the next open).
     * After close() the message is dropped.
     */
    send(message) {
        if (typeof message !== "object" || message === null || typeof message.cmd !== "string" || message.cmd === "") {
            throw new SocketError("config", "send needs a message with a non-empty string cmd");
        }
        const frame = JSON.stringify({
            channel: message.channel,
            cmd: message.cmd,
            param: message.param === undefined ? null : message.param,
        });
        if (this.#stopped) {
            this.#log("dropped (socket closed):", frame);
            return "dropped";
        }
        if (this.#trySend(frame))
            return "sent";
        const dropped = this.#queue.push(frame);
        if (dropped !== undefined) {
            this.#report(new SocketError("queue", `send queue full (${this.#queue.limit}): dropped the oldest message`, dropped));
        }
        this.#log("queued:", frame);
        return dropped === frame ? "dropped" : "queued";
    }
    /** Sends raw text as it is (no queue, no JSON). For debugging and tests. */
    sendRaw(text) {
        return this.#trySend(text);
    }
    /** Registers a handler for one command; returns a function that removes it. */
    on(cmd, handler) {
        let set = this.#handlers.get(cmd);
        if (set === undefined) {
            set = new Set();
            this.#handlers.set(cmd, set);
        }
        set.add(handler);
        return () => this.off(cmd, handler);
    }
    off(cmd, handler) {
        const set = this.#handlers.get(cmd);
        set?.delete(handler);
        if (set?.size === 0)
            this.#handlers.delete(cmd);
    }
    /**
     * Registers a handler for presence: both `online-update` and the coalesced `online-updates`
     * arrive as one PresenceChange each. Returns a function that removes it. (`on(cmd)` and
     * `onMessage` still see the raw messages.)
     */
    onPresence(handler) {
        if (typeof handler !== "function")
            throw new SocketError("config", "onPresence needs a function");
        this.#presenceHandlers.add(handler);
        return () => {
            this.#presenceHandlers.delete(handler);
        };
    }
    /**
     * Registers a handler for the outcome of each recovery: after a reconnect or re-join the
     * server replays the messages missed in a channel with history, then says `recovered: true`,
     * or `recovered: false` when it could not (history lost or too short): **the app must then
     * reload that channel's state**, messages were lost. Returns a function that removes it.
     */
    onRecovered(handler) {
        if (typeof handler !== "function")
            throw new SocketError("config", "onRecovered needs a function");
        this.#recoveredHandlers.add(handler);
        return () => {
            this.#recoveredHandlers.delete(handler);
        };
    }
    /**
     * The last position seen in a channel with history (from its messages, `position` or
     * `recovered`); `undefined` before any, for channels without history, and after `leave`.
     */
    position(channel) {
        return this.#positions.get(channel);
    }
    /**
     * Joins a room (the example protocol's `join-room`); it is joined again after reconnects.
     * When the room's position is known, the join carries it (`since`/`epoch`) and the server
     * replays what came after it.
     */
    join(room) {
        checkRoom(room);
        this.#rooms.add(room);
        this.#trySend(this.#joinFrame(room));
    }
    /** Leaves a room (`leave-room`), stops restoring it and forgets its position. */
    leave(room) {
        checkRoom(room);
        this.#rooms.delete(room);
        this.#positions.forget(room);
        this.#trySend(roomFrame("leave-room", room));
    }
    /** Closes for good: no reconnect. Queued messages are discarded. */
    close(code = 1000, reason = "") {
        this.#stop(code, reason);
    }
    // ── connection lifecycle ──
    #connect() {
        this.#reconnectTimer = undefined;
        this.#state = "connecting";
        const url = this.#connectUrl();
        this.#log("connecting to", url);
        let ws;
        try {
            ws = new this.#WebSocket(url);
        }
        catch (error) {
            this.#report(new SocketError("transport", `cannot open ${url}: ${describe(error)}`, error));
            this.#afterDisconnect(1006, "constructor failed");
            return;
        }
        this.#ws = ws;
        ws.onopen = () => ws === this.#ws && this.#handleOpen();
        ws.onmessage = (event) => ws === this.#ws && this.#handleData(event.data);
        ws.onerror = (event) => ws === this.#ws && this.#report(new SocketError("transport", "WebSocket error", event));
        ws.onclose = (event) => {
            if (ws !== this.#ws)
                return;
            this.#ws = null;
            this.#afterDisconnect(event.code, event.reason);
        };
        this.#armTimer(this.#connectTimeoutMs, () => {
            this.#report(new SocketError("timeout", `no open within ${this.#connectTimeoutMs} ms`));
            this.#abandon(4000, "connect timeout");
        });
    }
    #handleOpen() {
        const reconnected = this.#everOpened;
        this.#everOpened = true;
        this.#state = "open";
        this.#openedAt = this.#lastHeardAt = Date.now();
        this.#heartbeatSentAt = 0;
        this.#log(reconnected ? "reopened" : "open");
        for (const room of this.#rooms)
            this.#trySend(this.#joinFrame(room));
        for (const frame of this.#queue.drain())
            this.#trySend(frame);
        this.#checkLiveness();
        this.#call("onOpen", () => this.#onOpen?.({ reconnected }));
    }
    #handleData(data) {
        this.#lastHeardAt = Date.now();
        if (typeof data !== "string") {
            this.#report(new SocketError("protocol", "binary frame ignored: switchyard sends text", data));
            return;
        }
        let message;
        try {
            message = JSON.parse(data);
        }
        catch (error) {
            this.#report(new SocketError("parse", `server sent bad JSON: ${describe(error)}`, data));
            return;
        }
        if (!isMessage(message)) {
            this.#report(new SocketError("protocol", "server sent JSON that is not a message", data));
            return;
        }
        if (message.param === undefined)
            message.param = null;
        if (message.cmd === "heartbeat") {
            this.#log("heartbeat answered");
            return;
        }
        const update = this.#readPositionUpdate(message);
        if (update !== undefined) {
            this.#positions.set(update.channel, update.position);
            if (update.cmd === "position")
                return; // plumbing, like the heartbeat reply
        }
        else if (!this.#positions.observe(message)) {
            this.#log(`duplicate dropped: ${message.channel} offset ${message.offset} (epoch ${message.epoch})`);
            return;
        }
        this.#dispatch(message);
        if (update?.cmd === "recovered")
            this.#dispatchRecovered(update.outcome);
        if (message.cmd === "close-connection") {
            this.#log("server asked to close for good");
            this.#stop(1000, "close-connection");
        }
    }
    #dispatch(message) {
        this.#call("onMessage", () => this.#onMessage?.(message));
        const handlers = this.#handlers.get(message.cmd);
        if (handlers !== undefined) {
            for (const handler of [...handlers])
                this.#call(`on("${message.cmd}")`, () => handler(message));
        }
        if (this.#presenceHandlers.size > 0)
            this.#dispatchPresence(message);
    }
    #dispatchPresence(message) {
        let change;
        try {
            change = presenceChange(message);
        }
        catch (error) {
            this.#report(error instanceof SocketError ? error : new SocketError("protocol", describe(error), message));
            return;
        }
        if (change === undefined)
            return;
        for (const handler of [...this.#presenceHandlers])
            this.#call("onPresence", () => handler(change));
    }
    #readPositionUpdate(message) {
        try {
            return positionUpdate(message);
        }
        catch (error) {
            this.#report(error instanceof SocketError ? error : new SocketError("protocol", describe(error), message));
            return undefined;
        }
    }
    #dispatchRecovered(outcome) {
        this.#log(`${outcome.channel}: recovered ${outcome.recovered} at ${outcome.offset} (epoch ${outcome.epoch})`);
        for (const handler of [...this.#recoveredHandlers])
            this.#call("onRecovered", () => handler({ ...outcome }));
    }
    // ── recovery requests: where the client stands, sent at the upgrade and with each join ──
    /** The URL to connect to: with `since`/`epoch` of the upgrade channel once its position is known. */
    #connectUrl() {
        const channel = this.#upgradeChannel;
        const position = this.#recover && channel !== undefined ? this.#positions.get(channel) : undefined;
        if (position === undefined)
            return this.url;
        return withQueryParams(this.url, { since: String(position.offset), epoch: position.epoch });
    }
    #joinFrame(room) {
        const position = this.#recover ? this.#positions.get(room) : undefined;
        return roomFrame("join-room", room, position);
    }
    /** The connection is gone (closed, failed, or abandoned): reconnect unless stopped. */
    #afterDisconnect(code, reason) {
        this.#clearTimer();
        const wasOpen = this.#openedAt !== 0;
        if (wasOpen && Date.now() - this.#openedAt >= this.#backoff.resetAfterMs)
            this.#resetBackoff();
        this.#openedAt = 0;
        const willReconnect = !this.#stopped;
        this.#state = willReconnect ? "connecting" : "closed";
        this.#log(wasOpen ? "closed" : "attempt failed", code, reason, willReconnect ? "(will retry)" : "(for good)");
        // onClose reports connections that were open, and the final stop; not each failed attempt.
        if (wasOpen || !willReconnect)
            this.#call("onClose", () => this.#onClose?.({ code, reason, willReconnect }));
        if (willReconnect && !this.#stopped)
            this.#scheduleReconnect();
    }
    #scheduleReconnect() {
        const downForMs = Date.now() - this.#downSince;
        const delayMs = backoffDelay(this.#failedAttempts, this.#backoff, this.#random, downForMs);
        this.#failedAttempts += 1;
        this.#log(`reconnect #${this.#failedAttempts} in ${delayMs} ms`);
        this.#call("onReconnect", () => this.#onReconnect?.({ attempt: this.#failedAttempts, delayMs }));
        if (this.#stopped)
            return;
        this.#reconnectTimer = setTimeout(() => this.#connect(), delayMs);
    }
    /** A connection stayed up (or the page came back): retries start afresh, and so does the outage. */
    #resetBackoff() {
        this.#failedAttempts = 0;
        this.#downSince = Date.now();
    }
    /** Drops the current WebSocket without waiting for its close event, then reconnects. */
    #abandon(code, reason) {
        const ws = this.#ws;
        if (ws === null)
            return;
        this.#ws = null;
        detach(ws);
        try {
            ws.close(code, reason);
        }
        catch {
            // browsers accept only 1000 and 3000–4999 from scripts: close without a code instead
            try {
                ws.close();
            }
            catch {
                // already closing
            }
        }
        this.#afterDisconnect(code, reason);
    }
    /** Stops for good: close(), close-connection or page unload. */
    #stop(code, reason) {
        if (this.#stopped)
            return;
        this.#stopped = true;
        clearTimeout(this.#reconnectTimer);
        this.#reconnectTimer = undefined;
        this.#queue.clear();
        if (!this.#stoppedByUnload)
            this.#unwatchPageUnload();
        if (this.#ws !== null) {
            this.#abandon(code, reason);
        }
        else if (this.#state !== "closed") {
            this.#clearTimer();
            this.#state = "closed";
            this.#call("onClose", () => this.#onClose?.({ code, reason, willReconnect: false }));
        }
    }
    // ── liveness: heartbeat while open, handshake timeout while connecting ──
    /** Sends a heartbeat after `idleMs` of silence; abandons the connection if it goes unanswered. */
    #checkLiveness() {
        const heartbeat = this.#heartbeat;
        if (heartbeat === false || this.#state !== "open")
            return this.#clearTimer();
        const now = Date.now();
        if (this.#heartbeatSentAt > this.#lastHeardAt) {
            const waited = now - this.#heartbeatSentAt;
            if (waited >= heartbeat.timeoutMs) {
                this.#report(new SocketError("timeout", `no reply within ${heartbeat.timeoutMs} ms of a heartbeat`));
                this.#abandon(4000, "heartbeat timeout");
                return;
            }
            this.#armTimer(heartbeat.timeoutMs - waited, () => this.#checkLiveness());
            return;
        }
        const silent = now - this.#lastHeardAt;
        if (silent >= heartbeat.idleMs) {
            this.#heartbeatSentAt = now; // anything heard from now on (lastHeardAt ≥ now) answers it
            this.#trySend(JSON.stringify({ cmd: "heartbeat", param: null }));
            this.#armTimer(heartbeat.timeoutMs, () => this.#checkLiveness());
            return;
        }
        this.#armTimer(heartbeat.idleMs - silent, () => this.#checkLiveness());
    }
    #armTimer(ms, then) {
        clearTimeout(this.#livenessTimer);
        this.#livenessTimer = setTimeout(then, ms);
    }
    #clearTimer() {
        clearTimeout(this.#livenessTimer);
        this.#livenessTimer = undefined;
    }
    // ── page unload: the browser closes the socket itself; do not reconnect from a dying page ──
    #onPageHide = (event) => {
        this.#log("page hidden", event.persisted ? "(kept in back/forward cache)" : "(unloading)");
        this.#stoppedByUnload = true;
        this.#stop(1000, "page unload");
    };
    #onPageShow = (event) => {
        if (!event.persisted || !this.#stoppedByUnload)
            return;
        this.#log("page restored from back/forward cache: reconnecting");
        this.#stopped = false;
        this.#stoppedByUnload = false;
        this.#resetBackoff();
        this.#connect();
    };
    #watchPageUnload() {
        const page = globalThis;
        if (typeof page.addEventListener !== "function" || page.document === undefined)
            return;
        this.#page = page;
        this.#page.addEventListener("pagehide", this.#onPageHide);
        this.#page.addEventListener("pageshow", this.#onPageShow);
    }
    #unwatchPageUnload() {
        this.#page?.removeEventListener("pagehide", this.#onPageHide);
        this.#page?.removeEventListener("pageshow", this.#onPageShow);
        this.#page = undefined;
    }
    // ── helpers ──
    #trySend(frame) {
        const ws = this.#ws;
        if (this.#state !== "open" || ws === null || ws.readyState !== WS_OPEN)
            return false;
        try {
            ws.send(frame);
            return true;
        }
        catch (error) {
            this.#report(new SocketError("transport", `send failed: ${describe(error)}`, error));
            return false;
        }
    }
    #call(where, callback) {
        try {
            callback();
        }
        catch (error) {
            if (where === "onError")
                throw error;
            this.#report(new SocketError("handler", `${where} threw: ${describe(error)}`, error));
        }
    }
    #report(error) {
        this.#log(`error (${error.kind}):`, error.message);
        if (this.#onError === undefined)
            return;
        try {
            this.#onError(error);
        }
        catch (thrown) {
            this.#log("onError threw:", describe(thrown));
        }
    }
    #log(...parts) {
        if (this.#debug)
            console.debug("[switchyard]", ...parts);
    }
}
function isMessage(value) {
    return (typeof value === "object" &&
        value !== null &&
        !Array.isArray(value) &&
        typeof value.cmd === "string");
}
function roomFrame(cmd, room, since) {
    const param = since === undefined ? { room } : { room, since: since.offset, epoch: since.epoch };
    return JSON.stringify({ cmd, param });
}
/** A query parameter of a URL, decoded as the server decodes it (form-urlencoded). */
function queryParam(url, name) {
    const query = url.indexOf("?");
    if (query < 0)
        return undefined;
    return new URLSearchParams(url.slice(query + 1)).get(name) ?? undefined;
}
/** `url` with the given query parameters set (replacing any of the same name), the rest untouched. */
function withQueryParams(url, params) {
    const query = url.indexOf("?");
    const path = query < 0 ? url : url.slice(0, query);
    const kept = query < 0 ? [] : url.slice(query + 1).split("&");
    const names = new Set(Object.keys(params));
    const parts = kept.filter((part) => part !== "" && !names.has(decodeQueryName(part)));
    for (const [name, value] of Object.entries(params)) {
        parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
    }
    return `${path}?${parts.join("&")}`;
}
function decodeQueryName(part) {
    const name = part.split("=", 1)[0] ?? "";
    try {
        return decodeURIComponent(name.replace(/\+/g, " "));
    }
    catch {
        return name;
    }
}
function checkRoom(room) {
    if (typeof room !== "string" || room === "") {
        throw new SocketError("config", "room must be a non-empty string");
    }
}
function checkBackoff(backoff) {
    const { initialMs, maxMs, factor, resetAfterMs } = backoff;
    if (!(initialMs > 0 && maxMs >= initialMs && factor >= 1 && resetAfterMs >= 0)) {
        throw new SocketError("config", `backoff needs initialMs > 0, maxMs ≥ initialMs, factor ≥ 1, resetAfterMs ≥ 0; got ${JSON.stringify(backoff)}`);
    }
}
function checkHeartbeat(heartbeat) {
    if (!(heartbeat.idleMs > 0 && heartbeat.timeoutMs > 0)) {
        throw new SocketError("config", `heartbeat needs idleMs > 0 and timeoutMs > 0; got ${JSON.stringify(heartbeat)}`);
    }
}
/** Replaces a WebSocket's handlers with no-ops (not null: `ws` throws on an unheard error). */
function detach(ws) {
    const ignore = () => { };
    ws.onopen = ignore;
    ws.onmessage = ignore;
    ws.onerror = ignore;
    ws.onclose = ignore;
}
function describe(error) {
    return error instanceof Error ? error.message : String(error);
}
/** Drops keys whose value is undefined, so spreads over defaults keep the defaults. */
function withoutUndefined(object) {
    return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}
