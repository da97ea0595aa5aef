/** A message from the server: one compact JSON object per text frame. */
export interface Message<P = unknown> {
    /** Id of the sending connection (set by the server, never by a client). */
    from?: string;
    /** Channel the message was written to. */
    channel?: string;
    cmd: string;
    /** Any JSON value; `null` when the sender gave none. */
    param: P;
    /**
     * Position of this message in its channel's history (1 for the first of an epoch, +1 each):
     * only on messages of channels the server keeps history for.
     */
    offset?: number;
    /** The channel history's epoch; it changes whenever the server lost that history. */
    epoch?: string;
}
/** A message to the server. `channel` defaults to the channel joined at upgrade (`?ch=`). */
export interface OutgoingMessage {
    channel?: string;
    cmd: string;
    param?: unknown;
}
/** `connecting` covers both a handshake in progress and the wait before a reconnect. */
export type SocketState = "connecting" | "open" | "closed";
/** What `send` did with a message. */
export type SendResult = "sent" | "queued" | "dropped";
export type SocketErrorKind = "config" | "transport" | "parse" | "protocol" | "timeout" | "handler" | "queue";
/** Everything passed to `onError` is a SocketError; `kind` says where it came from. */
export declare class SocketError extends Error {
    readonly kind: SocketErrorKind;
    readonly detail: unknown;
    constructor(kind: SocketErrorKind, message: string, detail?: unknown);
}
/** The parts of `window.location` the URL rules read. */
export interface PageLocation {
    protocol: string;
    host: string;
    href?: string;
}
/**
 * The Go client's URL rules. A URL starting with `ws://` or `wss://` is used as it is. Anything
 * else is resolved against the page (or `page`, a location-like object or a base URL string):
 * `wss:` when the page is on https, `ws:` otherwise. An absolute `http(s)://` URL keeps its host
 * and maps to `ws(s)://`.
 */
export declare function resolveSocketUrl(url: string, page?: PageLocation | string): string;
export interface BackoffOptions {
    /** Upper bound of the first retry's delay, in ms. */
    initialMs: number;
    /** Cap: no delay is ever longer than this, in ms. */
    maxMs: number;
    /** Growth of the upper bound per failed attempt. */
    factor: number;
    /** A connection that stayed open at least this long resets the attempt count, in ms. */
    resetAfterMs: number;
}
export declare const DEFAULT_BACKOFF: Readonly<BackoffOptions>;
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
export declare function backoffCeiling(attempt: number, options: BackoffOptions, downForMs?: number): number;
/** Full jitter: a uniformly random delay in [0, ceiling). `random` is injectable for tests. */
export declare function backoffDelay(attempt: number, options: BackoffOptions, random?: () => number, downForMs?: number): number;
/** A bounded FIFO of encoded frames waiting for a connection; when full, the oldest goes. */
export declare class SendQueue {
    #private;
    readonly limit: number;
    constructor(limit: number);
    get size(): number;
    /** Adds `frame`; returns the frame dropped to make room (or `frame` itself when limit is 0). */
    push(frame: string): string | undefined;
    /** Removes and returns every queued frame, oldest first. */
    drain(): string[];
    clear(): void;
}
/**
 * Who joined and who left a channel, from either form the server sends: `online-update
 * {userID, connected}` (one change, sent at once in channels up to the server's
 * `--presence-batch-above` members) or `online-updates {joined, left, joined_count, left_count,
 * truncated}` (the changes of one `--presence-interval`, coalesced, in bigger channels).
 */
export interface PresenceChange {
    /** Channel the change is about (the message's `channel`). */
    channel: string | undefined;
    /** User ids (connection ids for anonymous users) that joined; may include your own. */
    joined: string[];
    left: string[];
    /** Exact number of joins; more than `joined.length` when the server truncated the list. */
    joinedCount: number;
    leftCount: number;
    /** True when `joined` or `left` lists fewer ids than the counts say. */
    truncated: boolean;
    /** True for the coalesced `online-updates` form, false for an `online-update`. */
    coalesced: boolean;
}
export type PresenceHandler = (change: PresenceChange) => void;
/**
 * Normalises a presence message into a PresenceChange; `undefined` for any other command.
 * Throws a SocketError (`protocol`) for a presence command whose param has the wrong shape.
 */
export declare function presenceChange(message: Message): PresenceChange | undefined;
/**
 * Where a client stands in a channel with history: the offset of the last message it saw (0 when
 * it saw none yet) and the history's epoch. The server replays what came after it on a reconnect.
 */
export interface StreamPosition {
    offset: number;
    epoch: string;
}
/**
 * The server's answer to a recovery request (`since`/`epoch` at the upgrade or in `join-room`),
 * sent after the replayed messages. `recovered: false` means messages were lost for good (the
 * epoch changed, or the gap is older than the history kept): the application must reload the
 * channel's state from its source of truth. `offset`/`epoch` are the channel's position now.
 */
export interface RecoveryOutcome extends StreamPosition {
    channel: string;
    recovered: boolean;
}
export type RecoveredHandler = (outcome: RecoveryOutcome) => void;
/** A position the server stated in a `position` (on a plain join) or `recovered` message. */
export type PositionUpdate = {
    cmd: "position";
    channel: string;
    position: StreamPosition;
} | {
    cmd: "recovered";
    channel: string;
    position: StreamPosition;
    outcome: RecoveryOutcome;
};
/**
 * Reads a `position {offset, epoch}` or `recovered {recovered, offset, epoch}` message;
 * `undefined` for any other command. Throws a SocketError (`protocol`) when one of those two
 * has no channel or a param of the wrong shape.
 */
export declare function positionUpdate(message: Message): PositionUpdate | undefined;
/**
 * The last position seen per channel. `observe` is fed every channel message: it adopts the
 * message's (offset, epoch) and says whether the message is new. In the same epoch a message at
 * or below the last offset seen is a duplicate (a replay overlapping what was already delivered);
 * a message of another epoch is new and its epoch is adopted (the server lost its history).
 */
export declare class ChannelPositions {
    #private;
    get(channel: string): StreamPosition | undefined;
    /** Sets the position the server stated (`position` or `recovered`). */
    set(channel: string, position: StreamPosition): void;
    forget(channel: string): void;
    /** False for a duplicate (drop it); true otherwise, with the position adopted when it has one. */
    observe(message: Message): boolean;
}
/** A WebSocket class: the browser's global, or `WebSocket` from the `ws` package in Node. */
export type WebSocketConstructor = new (url: string) => unknown;
export interface HeartbeatOptions {
    /** Send a `heartbeat` after this long without hearing anything from the server, in ms. */
    idleMs: number;
    /** Reconnect if nothing at all arrives this long after a heartbeat was sent, in ms. */
    timeoutMs: number;
}
export declare const DEFAULT_HEARTBEAT: Readonly<HeartbeatOptions>;
export interface OpenInfo {
    /** False for the first connection, true for every one after a reconnect. */
    reconnected: boolean;
}
export interface CloseInfo {
    code: number;
    reason: string;
    /** True when a reconnect is scheduled; false after close(), close-connection or page unload. */
    willReconnect: boolean;
}
export interface ReconnectInfo {
    /** 1 for the first retry after a connection was lost, growing while retries fail. */
    attempt: number;
    /** How long the client waits before this retry, in ms. */
    delayMs: number;
}
export type MessageHandler = (message: Message) => void;
export interface SocketOptions {
    /** ws:// or wss:// URL, or a path resolved against the page. Default `/example/socket`. */
    url?: string;
    /** Base for relative URLs where there is no page (Node), e.g. `http://127.0.0.1:8080/`. */
    base?: PageLocation | string;
    /** Log lifecycle events with console.debug. */
    debug?: boolean;
    onOpen?: (info: OpenInfo) => void;
    /**
     * Every message from the server except the client's own plumbing (heartbeat replies, the
     * `position` the server states on a join) and duplicates dropped by offset. `recovered` is
     * delivered here too (and to `onRecovered`).
     */
    onMessage?: (message: Message) => void;
    onError?: (error: SocketError) => void;
    /** A connection that was open closed, or the socket stopped for good (not each failed attempt). */
    onClose?: (info: CloseInfo) => void;
    /** Called when a reconnect is scheduled, before the wait. */
    onReconnect?: (info: ReconnectInfo) => void;
    backoff?: Partial<BackoffOptions>;
    /** Heartbeat intervals, or `false` to turn the heartbeat off. */
    heartbeat?: Partial<HeartbeatOptions> | false;
    /** Give up on a handshake that has not opened after this long and retry, in ms. Default 10 s. */
    connectTimeoutMs?: number;
    /** Messages kept while disconnected (oldest dropped beyond it). Default 100. */
    maxQueue?: number;
    /** WebSocket class; defaults to the global `WebSocket`. Required in Node 20. */
    WebSocket?: WebSocketConstructor;
    /** Random source for the backoff jitter (tests). Default Math.random. */
    random?: () => number;
    /**
     * Ask the server to replay what was missed (`since`/`epoch` on every reconnect and re-join) in
     * channels with history. Default true. With `false` nothing is asked; positions are still
     * tracked (`position(channel)`) and duplicates still dropped.
     */
    recover?: boolean;
}
/**
 * A switchyard connection that stays connected: it reconnects with capped, jittered backoff,
 * queues sends while down, restores rooms joined through `join`, recovers the messages it missed
 * in channels with history (see `onRecovered`), and detects dead connections with a heartbeat.
 *
 *     new Socket(debug, onOpen, onMessage, onError, url?)   // the Go client's signature
 *     new Socket({ url, onMessage, WebSocket, ... })         // options form
 */
export declare class Socket {
    #private;
    readonly url: string;
    constructor(options?: SocketOptions);
    constructor(debug: boolean, onOpen?: ((info: OpenInfo) => void) | null, onMessage?: ((message: Message) => void) | null, onError?: ((error: SocketError) => void) | null, url?: string);
    get state(): SocketState;
    /** Rooms joined through `join` and not left; they are joined again after every reconnect. */
    get rooms(): string[];
    /** Messages waiting for a connection. */
    get queued(): number;
    /**
     * Sends a message now when connected, else queues it (flushed in order on the next open).
     * After close() the message is dropped.
     */
    send(message: OutgoingMessage): SendResult;
    /** Sends raw text as it is (no queue, no JSON). For debugging and tests. */
    sendRaw(text: string): boolean;
    /** Registers a handler for one command; returns a function that removes it. */
    on(cmd: string, handler: MessageHandler): () => void;
    off(cmd: string, handler: MessageHandler): void;
    /**
     * Registers a handler for presence: both `online-update` and the coalesced `online-updates`
     * arrive as one PresenceChange each. Returns a function that removes it. (`on(cmd)` and
     * `onMessage` still see the raw messages.)
     */
    onPresence(handler: PresenceHandler): () => void;
    /**
     * Registers a handler for the outcome of each recovery: after a reconnect or re-join the
     * server replays the messages missed in a channel with history, then says `recovered: true`,
     * or `recovered: false` when it could not (history lost or too short): **the app must then
     * reload that channel's state**, messages were lost. Returns a function that removes it.
     */
    onRecovered(handler: RecoveredHandler): () => void;
    /**
     * The last position seen in a channel with history (from its messages, `position` or
     * `recovered`); `undefined` before any, for channels without history, and after `leave`.
     */
    position(channel: string): StreamPosition | undefined;
    /**
     * Joins a room (the example protocol's `join-room`); it is joined again after reconnects.
     * When the room's position is known, the join carries it (`since`/`epoch`) and the server
     * replays what came after it.
     */
    join(room: string): void;
    /** Leaves a room (`leave-room`), stops restoring it and forgets its position. */
    leave(room: string): void;
    /** Closes for good: no reconnect. Queued messages are discarded. */
    close(code?: number, reason?: string): void;
}
