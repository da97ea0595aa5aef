//! The login form `/admin/login` (GET shows it, POST checks the token and sets the session
//! cookie) and `/admin/logout` (POST clears it).
//!
//! Owns the form's HTML and the cookie exchange; the token comparison and the cookie value
//! belong to `auth.rs`. The form is also the body of the 401 a browser gets for the page
//! without a session. It never echoes what was typed.

use super::auth::{self, Guard};
use super::page::redirect;
use crate::server::{HttpRequest, HttpResponse};

/// Where a successful login goes.
pub const HOME: &str = "/admin/websocket";

const FORM: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>switchyard admin: log in</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/admin/admin.css"></head>
<body class="login"><main class="login-box">
<h1>switchyard <span>admin</span></h1>
<p class="note">{NOTE}</p>
<form method="post" action="/admin/login">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<button type="submit">Log in</button>
</form>
</main></body></html>
"#;

/// The login form, with `status` (200, or 401 for a refused request).
pub fn form(status: u16, note: &str) -> HttpResponse {
    let body = FORM.replace("{NOTE}", note);
    HttpResponse::new(status, "text/html; charset=utf-8", body)
}

/// `/admin/login`.
pub fn handle(request: &HttpRequest, guard: &Guard) -> HttpResponse {
    match request.method.as_str() {
        "GET" if !guard.has_token() => redirect(HOME),
        "GET" => form(200, "This server is protected by an admin token."),
        "POST" => submit(request, guard),
        _ => HttpResponse::text(405, "GET or POST").with_header("Allow", "GET, POST"),
    }
}

fn submit(request: &HttpRequest, guard: &Guard) -> HttpResponse {
    if !auth::same_origin(request) {
        return form(403, "Cross-site login refused.");
    }
    if !guard.has_token() {
        return redirect(HOME);
    }
    let Some(cookie) = guard.login_cookie() else {
        return form(503, "Log-in sessions are unavailable on this server: use Authorization: Bearer.");
    };
    let token = form_urlencoded::parse(&request.body)
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    if guard.token_matches(&token) {
        redirect(HOME).with_header("Set-Cookie", &cookie)
    } else {
        form(401, "Wrong token.")
    }
}

/// `/admin/logout` (POST, same origin): clears the session cookie.
pub fn logout(request: &HttpRequest, guard: &Guard) -> HttpResponse {
    if request.method != "POST" {
        return HttpResponse::text(405, "POST only").with_header("Allow", "POST");
    }
    if !auth::same_origin(request) {
        return HttpResponse::text(403, "cross-site request refused");
    }
    redirect("/admin/login").with_header("Set-Cookie", &guard.logout_cookie())
}
