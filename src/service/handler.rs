//! The application's side of a socket route: the `Handler` trait, its errors, and `Router`,
//! a type-safe handler that maps each `cmd` to a function of the application's own param type.
//!
//! Handlers run on the event loop, so they must never block: slow work goes to another thread
//! with a clone of the `Service`, which writes the result back later. An error a handler
//! returns becomes an `error` message to the client; the connection stays open.

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::connection::Connection;
use super::context::Context;

/// Why a message was not accepted; sent to the client as `error` `{message, code}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// No route for this command.
    #[error("unknown command '{0}'")]
    UnknownCommand(String),
    /// The command's param did not have the expected shape.
    #[error("bad param for '{cmd}': {detail}")]
    BadParam {
        /// The command.
        cmd: String,
        /// What was wrong, in the protocol's words.
        detail: String,
    },
    /// The user may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Any other failure, told to the client as is.
    #[error("{0}")]
    Other(String),
}

impl HandlerError {
    /// The machine-readable `code` of the `error` message.
    pub fn code(&self) -> &'static str {
        match self {
            HandlerError::UnknownCommand(_) => "unknown-command",
            HandlerError::BadParam { .. } => "bad-param",
            HandlerError::Forbidden(_) => "forbidden",
            HandlerError::Other(_) => "error",
        }
    }

    /// Any other failure, with the message the client gets.
    pub fn other(message: impl Into<String>) -> Self {
        HandlerError::Other(message.into())
    }
}

/// What a message handler returns.
pub type HandlerResult = Result<(), HandlerError>;

/// The application's logic for one socket route.
pub trait Handler: Send + Sync + 'static {
    /// After the upgrade, once the connection has joined its channel.
    fn on_open(&self, _ctx: &mut Context<'_>, _conn: &Connection) {}

    /// A message from the client. `channel` is the message's channel (the upgrade channel
    /// when it named none); `param` is its raw JSON (`null` when absent).
    fn on_message(
        &self,
        ctx: &mut Context<'_>,
        conn: &Connection,
        channel: &str,
        cmd: &str,
        param: &RawValue,
    ) -> HandlerResult;

    /// Exactly once, when the connection has ended, after it left every channel.
    fn on_close(&self, _ctx: &mut Context<'_>, _conn: &Connection) {}
}

type Route = Box<dyn Fn(&mut Context<'_>, &Connection, &str, &RawValue) -> HandlerResult + Send + Sync>;
type Hook = Box<dyn Fn(&mut Context<'_>, &Connection) + Send + Sync>;

/// A `Handler` built from one typed function per command.
///
/// ```
/// use switchyard::{Router, HandlerError};
/// #[derive(serde::Deserialize)]
/// struct Chat { text: String }
/// let router = Router::new().route("chat", |ctx, conn, channel, chat: Chat| {
///     if chat.text.is_empty() { return Err(HandlerError::other("empty")); }
///     ctx.write_channel("chat", &chat.text, channel).map_err(|e| HandlerError::other(e.to_string()))
/// });
/// ```
#[derive(Default)]
pub struct Router {
    /// Looked up once per message. The keys are the application's; a client's `cmd` only
    /// looks up, so a fast (randomly seeded) hasher is safe here.
    routes: HashMap<String, Route, foldhash::fast::RandomState>,
    /// Each command's param in the protocol's words, for `bad-param` messages (read only
    /// when a param is refused).
    shapes: HashMap<String, String>,
    on_open: Option<Hook>,
    on_close: Option<Hook>,
}

impl Router {
    /// A router with no routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles `cmd` with `f`, its param deserialized into `P` (a wrong shape is answered
    /// with a `bad-param` error naming what was wrong in JSON's words; serde's own message,
    /// which names Rust types, goes to the debug log).
    pub fn route<P, F>(mut self, cmd: &str, f: F) -> Self
    where
        P: DeserializeOwned,
        F: Fn(&mut Context<'_>, &Connection, &str, P) -> HandlerResult + Send + Sync + 'static,
    {
        let name = cmd.to_string();
        let route: Route = Box::new(move |ctx, conn, channel, param| {
            let typed: P = serde_json::from_str(param.get()).map_err(|e| {
                log::debug!("connection {}: bad param for '{name}': {e}", conn.id);
                HandlerError::BadParam { cmd: name.clone(), detail: super::message::explain_param_error(&e) }
            })?;
            f(ctx, conn, channel, typed)
        });
        self.routes.insert(cmd.to_string(), route);
        self
    }

    /// Handles `cmd` with `f`, its param passed on unparsed (validated JSON, borrowed from the
    /// message: nothing is allocated). For params that are forwarded as they are.
    pub fn route_raw<F>(mut self, cmd: &str, f: F) -> Self
    where
        F: Fn(&mut Context<'_>, &Connection, &str, &RawValue) -> HandlerResult + Send + Sync + 'static,
    {
        let route: Route = Box::new(move |ctx, conn, channel, param| f(ctx, conn, channel, param));
        self.routes.insert(cmd.to_string(), route);
        self
    }

    /// Describes `cmd`'s param for clients (e.g. `{"text": string}`): a `bad-param` error for
    /// it then starts with "expected {shape}".
    pub fn describe(mut self, cmd: &str, shape: &str) -> Self {
        self.shapes.insert(cmd.to_string(), shape.to_string());
        self
    }

    /// Runs `f` when a connection opens.
    pub fn on_open(mut self, f: impl Fn(&mut Context<'_>, &Connection) + Send + Sync + 'static) -> Self {
        self.on_open = Some(Box::new(f));
        self
    }

    /// Runs `f` when a connection closes (exactly once).
    pub fn on_close(mut self, f: impl Fn(&mut Context<'_>, &Connection) + Send + Sync + 'static) -> Self {
        self.on_close = Some(Box::new(f));
        self
    }

    /// The router as a shareable handler.
    pub fn into_handler(self) -> Arc<dyn Handler> {
        Arc::new(self)
    }
}

impl Handler for Router {
    fn on_open(&self, ctx: &mut Context<'_>, conn: &Connection) {
        if let Some(hook) = &self.on_open {
            hook(ctx, conn);
        }
    }

    fn on_message(
        &self,
        ctx: &mut Context<'_>,
        conn: &Connection,
        channel: &str,
        cmd: &str,
        param: &RawValue,
    ) -> HandlerResult {
        let result = match self.routes.get(cmd) {
            Some(route) => route(ctx, conn, channel, param),
            None => Err(HandlerError::UnknownCommand(cmd.to_string())),
        };
        match result {
            Err(HandlerError::BadParam { cmd: refused, detail }) => match self.shapes.get(cmd) {
                Some(shape) => {
                    Err(HandlerError::BadParam { cmd: refused, detail: format!("expected {shape}: {detail}") })
                }
                None => Err(HandlerError::BadParam { cmd: refused, detail }),
            },
            result => result,
        }
    }

    fn on_close(&self, ctx: &mut Context<'_>, conn: &Connection) {
        if let Some(hook) = &self.on_close {
            hook(ctx, conn);
        }
    }
}
