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

/// Gives glibc's free pages back to the kernel (the workers call it once a burst of connects
/// has gone idle: without it RSS stays at the burst's peak). The one unsafe call of the
/// binary (the library forbids unsafe code; `Cargo.toml` denies it everywhere else).
#[allow(unsafe_code)]
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it walks glibc's own free lists under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
