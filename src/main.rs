//! The `switchyard` binary: reads its flags and `SWITCHYARD_*` variables
//! (`Config::from_env_and_args`; a bad value is printed and exits 2), sets up logging
//! (`RUST_LOG`, default `info`), wires authentication (JWT), the channel authorizer and the
//! Redis cluster link when asked, and serves the example chat app, the raw `/echo` route, the
//! server API (`/api/`), the edge route `/socket` (its events proxied to a backend when
//! `--proxy-url` or a per-event URL is set), the admin interface and `/healthz` until SIGINT
//! or SIGTERM.

use switchyard::admin::{self, AdminOptions};
use switchyard::api::{self, ApiOptions};
use switchyard::{auth, cluster, example, Config, HttpResponse, Server};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = Config::from_env_and_args().unwrap_or_else(|e| e.exit());
    reserve_descriptor_table(config.max_connections);
    if let Err(e) = serve(config) {
        log::error!("{e}");
        std::process::exit(1);
    }
}

fn serve(config: Config) -> Result<(), switchyard::Error> {
    let admin = AdminOptions { token: config.admin_token.clone(), metrics_token: config.metrics_token.clone() };
    let mut server = Server::new(config.clone())?.authorize(example::authorizer);
    if let Some(authenticator) = auth::jwt::from_config(&config)? {
        server = server.authenticate(authenticator);
    }
    if let Some(url) = &config.redis {
        cluster::join(&server.service(), url, &config)?;
    }
    let server = server
        .socket("/example/socket", example::handler())
        .echo("/echo")
        .http("/example", |_, _| HttpResponse::html(example::PAGE))
        .http("/", |_, _| HttpResponse::new(302, "text/plain", "").with_header("Location", "/example"))
        .http("/favicon.ico", |_, _| HttpResponse::new(200, "image/svg+xml", example::FAVICON_SVG))
        .http("/favicon.svg", |_, _| HttpResponse::new(200, "image/svg+xml", example::FAVICON_SVG))
        .http("/client/switchyard.js", |_, _| {
            HttpResponse::new(200, "text/javascript; charset=utf-8", example::CLIENT_JS)
        });
    let api_options = ApiOptions { key: api::auth::key_from_config(&config)?, max_body: config.api_max_body };
    let server = api::install_edge(api::install(server, api_options), &config)?;
    admin::install(server, admin).release_heap_with(release_free_heap).run()
}

/// Grows the process's descriptor table once, before any worker starts, to hold a socket
/// for each of `connections` (at most the descriptor limit). Linux doubles the table as
/// descriptors are opened, and in a process with several threads every doubling waits for an
/// RCU grace period: in a join storm the worker stalled 10-15 ms at the 1,024th, 2,048th,
/// 4,096th and 8,192nd connection, and every client's reply with it. A descriptor duplicated
/// to the top of the range and closed again leaves the table grown (it never shrinks).
/// Costs the kernel 8 bytes per slot, not this process's memory.
#[allow(unsafe_code)]
fn reserve_descriptor_table(connections: usize) {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes into the struct we own; fcntl(F_DUPFD_CLOEXEC) duplicates
        // standard error to the lowest free descriptor at or above `top`, which is ours to
        // close at once; nothing else refers to it.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return;
            }
            let top = (connections as u64).saturating_add(64).min(limit.rlim_cur.saturating_sub(1));
            let Ok(top) = libc::c_int::try_from(top) else { return };
            let duplicate = libc::fcntl(2, libc::F_DUPFD_CLOEXEC, top);
            if duplicate >= 0 {
                libc::close(duplicate);
            }
        }
    }
}

/// Gives glibc's free pages back to the kernel (the workers call it once a burst of connects
/// has gone idle: without it RSS stays at the burst's peak). With the descriptor table's
/// growth above, the binary's only unsafe code (the library forbids it; `Cargo.toml` denies
/// it everywhere else).
#[allow(unsafe_code)]
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it walks glibc's own free lists under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
