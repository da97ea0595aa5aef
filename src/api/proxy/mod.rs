//! The event proxy: client events (`connect`, `subscribe`, `command`) POSTed as JSON to the
//! backend, answers returned to the workers through their inboxes.
//!
//! - `client.rs` the HTTP client (ureq, keep-alive, timeout)
//! - `events.rs` each event's JSON and its answer's parsing
//! - `pool.rs`   the bounded queue and the threads that make the calls
//!
//! This file holds the options and implements the core's `EventProxy` trait. Nothing here
//! runs on an event loop except `submit`, which never blocks.

pub(crate) mod client;
pub(crate) mod events;
pub(crate) mod pool;

use std::sync::Arc;
use std::time::Duration;

use crate::service::proxy::{EventProxy, ProxyCall, ProxyEvent};
use crate::service::Service;
use crate::Config;

/// Where each event goes (`None`: the event is not proxied).
#[derive(Debug, Clone, Default)]
pub struct Urls {
    /// Where `connect` events go.
    pub connect: Option<String>,
    /// Where `subscribe` events go.
    pub subscribe: Option<String>,
    /// Where `command` events go.
    pub command: Option<String>,
}

/// The proxy's settings.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Each event's backend URL.
    pub urls: Urls,
    /// A whole call's time limit.
    pub timeout: Duration,
    /// Calls in flight at once (threads, kept-alive connections).
    pub concurrency: usize,
    /// Calls waiting for a thread; past it calls fail at once.
    pub queue: usize,
}

impl ProxyOptions {
    /// The options the flags ask for; `None` when no event is proxied.
    pub fn from_config(config: &Config) -> Option<Self> {
        let pick = |specific: &Option<String>| specific.clone().or_else(|| config.proxy_url.clone());
        let urls = Urls {
            connect: pick(&config.proxy_connect_url),
            subscribe: pick(&config.proxy_subscribe_url),
            command: pick(&config.proxy_command_url),
        };
        if urls.connect.is_none() && urls.subscribe.is_none() && urls.command.is_none() {
            return None;
        }
        Some(ProxyOptions {
            urls,
            timeout: config.proxy_timeout,
            concurrency: config.proxy_concurrency.max(1),
            queue: config.proxy_queue.max(1),
        })
    }
}

/// The event proxy over HTTP.
pub struct HttpProxy {
    urls: Arc<Urls>,
    pool: pool::Pool,
}

impl HttpProxy {
    /// Checks the URLs and starts the pool.
    pub fn start(options: ProxyOptions, service: &Service) -> Result<Arc<HttpProxy>, crate::Error> {
        let urls = [&options.urls.connect, &options.urls.subscribe, &options.urls.command];
        for url in urls.into_iter().flatten() {
            client::check_url(url).map_err(crate::Error::invalid)?;
        }
        let client = client::Client::new(options.timeout, options.concurrency);
        let urls = Arc::new(options.urls);
        let pool = pool::Pool::start(options.concurrency, options.queue, client, urls.clone(), service.clone())?;
        log::info!(
            "event proxy: connect {:?}, subscribe {:?}, command {:?}",
            urls.connect.as_deref().unwrap_or("-"),
            urls.subscribe.as_deref().unwrap_or("-"),
            urls.command.as_deref().unwrap_or("-")
        );
        Ok(Arc::new(HttpProxy { urls, pool }))
    }
}

impl EventProxy for HttpProxy {
    fn handles(&self, event: ProxyEvent) -> bool {
        match event {
            ProxyEvent::Connect => self.urls.connect.is_some(),
            ProxyEvent::Subscribe => self.urls.subscribe.is_some(),
            ProxyEvent::Command => self.urls.command.is_some(),
        }
    }

    fn submit(&self, call: ProxyCall) -> Result<(), Box<ProxyCall>> {
        self.pool.submit(call)
    }
}
