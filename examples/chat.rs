//! How an application embeds switchyard with its own handler.
//!
//! Run with `cargo run --example chat`, then connect a WebSocket client to
//! `ws://127.0.0.1:8090/chat?ch=lobby` and send `{"cmd":"say","param":{"text":"hi"}}`.
//!
//! It shows the three things an application does: typed routes with `Router`, slow work
//! handed to another thread (a handler must never block the event loop) that writes its
//! result back through a cloned `Service`, and pushing from outside any handler.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard::{Config, HandlerError, Router, Server};

#[derive(Deserialize)]
struct Say {
    text: String,
}

#[derive(Serialize)]
struct Said<'a> {
    user: &'a str,
    text: &'a str,
}

fn main() -> Result<(), switchyard::Error> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = Config { listen: "127.0.0.1:8090".parse().expect("address"), ..Config::default() };

    let handler = Router::new()
        // A typed route: `param` arrives as `Say`; a wrong shape is answered with an error.
        .route("say", |ctx, conn, channel, say: Say| {
            if say.text.trim().is_empty() {
                return Err(HandlerError::other("say something"));
            }
            let said = Said { user: &conn.profile.name, text: &say.text };
            ctx.write_channel("said", &said, channel).map_err(|e| HandlerError::other(e.to_string()))
        })
        // Slow work: never on the loop. Hand it to a thread with a clone of the service.
        .route("slow-square", |ctx, conn, _channel, n: u64| {
            let service = ctx.service();
            let id = conn.id;
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(500)); // stands for a database call
                let _ = service.write_connection("square", &(n * n), id);
            });
            Ok(())
        })
        .on_open(|ctx, conn| {
            let _ = ctx.write_connection("welcome", &*conn.channel, conn.id);
        });

    let server = Server::new(config)?.socket("/chat", handler);

    // Pushing from outside any handler: a clock on channel "lobby".
    let service = server.service();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(10));
        let _ = service.write_channel("clock", &std::time::SystemTime::now(), "lobby");
    });

    server.run()
}
