//! Users through real sockets: JWT authentication on the upgrade (every token case, the
//! three places a token may come from, `--require-auth`), the channel authorizer (join,
//! upgrade channel, publish), `write_user` across workers, presence once per user, and the
//! live token expiry and `refresh`. Servers are built like the binary (`example::authorizer`,
//! `auth::jwt::from_config`); one test runs the binary itself. Owns no server code.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use jsonwebtoken::{encode, get_current_timestamp, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use switchyard::auth::{jwt, ChannelAction};
use switchyard::{example, Config, Profile, Running, Server};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

const SECRET: &str = "integration-test-secret-0123456789abcdef";

// ---- helpers -----------------------------------------------------------------------------

fn sign(claims: &Value, secret: &str) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).expect("sign")
}

/// A token for `sub` with `roles`, valid for `lifetime` seconds from now.
fn token(sub: &str, roles: &[&str], lifetime: u64) -> String {
    sign(
        &json!({"sub": sub, "name": format!("{sub} name"), "roles": roles, "exp": get_current_timestamp() + lifetime}),
        SECRET,
    )
}

fn jwt_config(workers: usize) -> Config {
    Config { jwt_secret: Some(SECRET.to_string()), ..config(workers) }
}

/// The example app wired as `main.rs` wires it.
fn start(config: Config) -> Running {
    let mut server = Server::new(config.clone()).expect("server").authorize(example::authorizer);
    if let Some(authenticator) = jwt::from_config(&config).expect("jwt config") {
        server = server.authenticate(authenticator);
    }
    server.socket("/example/socket", example::handler()).start().expect("start")
}

/// Attempts an upgrade with extra headers: the client, or the refusal's status and body (trimmed).
fn upgrade(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> Result<Client, (u16, String)> {
    let mut request = format!("ws://{addr}{path}").into_client_request().expect("request");
    for (name, value) in headers {
        let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("header name");
        request.headers_mut().insert(name, value.parse().expect("header value"));
    }
    match tungstenite::connect(request) {
        Ok((mut client, _)) => {
            set_timeout(&mut client, Duration::from_secs(10));
            Ok(client)
        }
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
            Err((response.status().as_u16(), body.trim_end().to_string()))
        }
        Err(e) => panic!("upgrade failed without an HTTP answer: {e}"),
    }
}

fn refused(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    match upgrade(addr, path, headers) {
        Ok(_) => panic!("{path} was accepted"),
        Err(refusal) => refusal,
    }
}

/// The profile the server holds for the only connection in `channel`.
fn profile_in(server: &Running, channel: &str) -> Profile {
    let members = server.service().connections_by_channel(channel);
    assert_eq!(members.len(), 1, "one member in {channel}");
    members[0].user.clone()
}

/// The messages that reach `client` before a round trip through the server.
fn drain(client: &mut Client) -> Vec<Value> {
    let marker = uuid::Uuid::new_v4().to_string();
    send(client, json!({"cmd": "echo", "param": marker}));
    let mut seen = Vec::new();
    loop {
        let message = recv(client);
        if message["cmd"] == "echo" && message["param"] == marker.as_str() {
            return seen;
        }
        seen.push(message);
    }
}

fn online_updates(messages: &[Value]) -> Vec<Value> {
    messages.iter().filter(|m| m["cmd"] == "online-update").map(|m| m["param"].clone()).collect()
}

/// Reads until the server closes; the close code and how long it took.
fn close_code(client: &mut Client) -> (Option<CloseCode>, Instant) {
    loop {
        match client.read() {
            Ok(Message::Close(frame)) => return (frame.map(|f| f.code), Instant::now()),
            Ok(_) => continue,
            Err(e) => panic!("no close frame: {e}"),
        }
    }
}

// ---- tokens ------------------------------------------------------------------------------

#[test]
fn a_valid_token_in_the_query_makes_the_profile() {
    let server = start(jwt_config(1));
    let claims = json!({"sub": "u-1", "name": "Ann", "roles": ["editor"], "team": "blue",
                        "exp": get_current_timestamp() + 300});
    let path = format!("/example/socket?ch=q&token={}", sign(&claims, SECRET));
    let mut client = upgrade(server.local_addr(), &path, &[]).expect("upgrade");
    let profile = profile_in(&server, "q");
    assert_eq!((profile.id.as_str(), &*profile.name, profile.anonymous), ("u-1", "Ann", false));
    assert_eq!(profile.roles, vec!["editor".to_string()]);
    assert_eq!(profile.claims.get("team"), Some(&json!("blue")));
    assert_eq!(profile.expires_at, claims["exp"].as_u64());
    send(&mut client, json!({"cmd": "chat", "param": {"text": "hi"}}));
    assert_eq!(recv_cmd(&mut client, "chat")["param"]["user"], "Ann");
    server.shutdown();
}

#[test]
fn a_token_may_come_from_a_bearer_header_or_a_cookie() {
    let server = start(jwt_config(1));
    let addr = server.local_addr();
    let bearer = format!("Bearer {}", token("u-header", &[], 300));
    let _h = upgrade(addr, "/example/socket?ch=h", &[("Authorization", &bearer)]).expect("header");
    assert_eq!(profile_in(&server, "h").id, "u-header");
    let cookie = format!("theme=dark; switchyard_token={}; lang=en", token("u-cookie", &[], 300));
    let _c = upgrade(addr, "/example/socket?ch=c", &[("Cookie", &cookie)]).expect("cookie");
    assert_eq!(profile_in(&server, "c").id, "u-cookie");
    // The query parameter wins over the header.
    let path = format!("/example/socket?ch=both&token={}", token("u-query", &[], 300));
    let _b = upgrade(addr, &path, &[("Authorization", &bearer)]).expect("both");
    assert_eq!(profile_in(&server, "both").id, "u-query");
    server.shutdown();
}

#[test]
fn bad_tokens_are_refused_with_401_and_a_short_reason() {
    let server = start(jwt_config(1));
    let now = get_current_timestamp();
    let cases = [
        ("expired", sign(&json!({"sub": "u", "exp": now - 10}), SECRET), "token expired"),
        (
            "not yet valid",
            sign(&json!({"sub": "u", "exp": now + 300, "nbf": now + 120}), SECRET),
            "token not yet valid",
        ),
        ("bad signature", sign(&json!({"sub": "u", "exp": now + 300}), "some-other-secret"), "bad token signature"),
        ("malformed", "abc.def.ghi".to_string(), "malformed token"),
        ("no subject", sign(&json!({"exp": now + 300}), SECRET), "token has no subject"),
    ];
    for (case, bad, reason) in cases {
        let (status, body) = refused(server.local_addr(), &format!("/example/socket?token={bad}"), &[]);
        assert_eq!((status, body.as_str()), (401, reason), "{case}");
        assert!(!body.contains(&bad), "{case}: the token is never echoed");
    }
    let header = format!("Bearer {}", sign(&json!({"sub": "u", "exp": now - 10}), SECRET));
    assert_eq!(refused(server.local_addr(), "/example/socket", &[("Authorization", &header)]).0, 401);
    assert!(server.service().connections().is_empty());
    server.shutdown();
}

#[test]
fn a_token_for_another_audience_or_issuer_is_refused() {
    let config = Config {
        jwt_audience: Some("switchyard".into()),
        jwt_issuer: Some("https://auth.example".into()),
        ..jwt_config(1)
    };
    let server = start(config);
    let exp = get_current_timestamp() + 300;
    let with = |aud: &str, iss: &str| {
        let token = sign(&json!({"sub": "u", "exp": exp, "aud": aud, "iss": iss}), SECRET);
        upgrade(server.local_addr(), &format!("/example/socket?token={token}"), &[])
    };
    assert!(with("switchyard", "https://auth.example").is_ok());
    assert_eq!(with("billing", "https://auth.example").err(), Some((401, "wrong token audience".into())));
    assert_eq!(with("switchyard", "https://evil.example").err(), Some((401, "wrong token issuer".into())));
    let no_aud = sign(&json!({"sub": "u", "exp": exp, "iss": "https://auth.example"}), SECRET);
    assert_eq!(refused(server.local_addr(), &format!("/example/socket?token={no_aud}"), &[]).0, 401);
    server.shutdown();
}

#[test]
fn without_a_token_a_connection_is_anonymous_unless_auth_is_required() {
    let open = start(jwt_config(1));
    let _client = upgrade(open.local_addr(), "/example/socket?ch=anon", &[]).expect("anonymous upgrade");
    let profile = profile_in(&open, "anon");
    assert!(profile.anonymous);
    assert_eq!(profile.name, "anonymous");
    open.shutdown();

    let strict = start(Config { require_auth: true, ..jwt_config(1) });
    assert_eq!(refused(strict.local_addr(), "/example/socket", &[]), (401, "authentication required".into()));
    let path = format!("/example/socket?ch=in&token={}", token("u-strict", &[], 300));
    let _client = upgrade(strict.local_addr(), &path, &[]).expect("a token still gets in");
    assert_eq!(profile_in(&strict, "in").id, "u-strict");
    strict.shutdown();
}

#[test]
fn the_binary_takes_the_secret_from_a_file_and_requires_auth() {
    let path = std::env::temp_dir().join(format!("switchyard-auth-test-{}", std::process::id()));
    std::fs::write(&path, format!("{SECRET}\n")).expect("write secret");
    let file = path.to_string_lossy().into_owned();
    let binary = Binary::start(&["--jwt-secret-file", &file, "--require-auth", "--workers", "1"]);
    assert_eq!(refused(binary.addr, "/example/socket", &[]).0, 401);
    let path_with_token = format!("/example/socket?ch=bin&token={}", token("u-bin", &[], 300));
    let mut client = upgrade(binary.addr, &path_with_token, &[]).expect("upgrade");
    send(&mut client, json!({"cmd": "chat", "param": {"text": "hello"}}));
    assert_eq!(recv_cmd(&mut client, "chat")["param"]["user"], "u-bin name");
    let _ = std::fs::remove_file(&path);
}

// ---- channel authorizer ------------------------------------------------------------------

#[test]
fn admin_channels_need_the_admin_role() {
    let server = start(jwt_config(2));
    let addr = server.local_addr();
    let plain = token("u-plain", &["editor"], 300);
    let admin = token("u-admin", &["admin"], 300);
    assert_eq!(refused(addr, &format!("/example/socket?ch=admin-ops&token={plain}"), &[]).0, 403);
    assert_eq!(refused(addr, "/example/socket?ch=admin-ops", &[]).0, 403, "anonymous too");

    let mut user = upgrade(addr, &format!("/example/socket?ch=lobby&token={plain}"), &[]).expect("lobby");
    send(&mut user, json!({"cmd": "join-room", "param": {"room": "admin-ops"}}));
    let error = recv_cmd(&mut user, "error");
    assert_eq!(error["param"]["code"], "forbidden", "{error}");
    sync(&mut user); // the connection stays
    assert!(server.service().connections_by_channel("admin-ops").is_empty());
    send(&mut user, json!({"cmd": "join-room", "param": {"room": "example-room"}}));
    sync(&mut user);
    assert_eq!(server.service().online("example-room"), vec!["u-plain".to_string()]);

    let mut boss = upgrade(addr, &format!("/example/socket?ch=admin-ops&token={admin}"), &[]).expect("admin");
    send(&mut boss, json!({"cmd": "join-room", "param": {"room": "admin-audit"}}));
    sync(&mut boss);
    assert_eq!(server.service().online("admin-audit"), vec!["u-admin".to_string()]);
    assert_eq!(server.service().online("admin-ops"), vec!["u-admin".to_string()]);
    server.shutdown();
}

#[test]
fn a_denied_publish_answers_forbidden_and_the_connection_stays() {
    let config = jwt_config(1);
    let read_only = |profile: &Profile, channel: &str, action: ChannelAction| {
        !(channel.starts_with("news-") && action == ChannelAction::Publish) || profile.has_role("editor")
    };
    let authenticator = jwt::from_config(&config).expect("config").expect("jwt");
    let server = Server::new(config)
        .expect("server")
        .authorize(read_only)
        .authenticate(authenticator)
        .socket("/example/socket", example::handler())
        .start()
        .expect("start");
    let addr = server.local_addr();
    let mut reader = upgrade(addr, &format!("/example/socket?ch=news-1&token={}", token("r", &[], 300)), &[]).unwrap();
    let mut editor =
        upgrade(addr, &format!("/example/socket?ch=news-1&token={}", token("e", &["editor"], 300)), &[]).unwrap();
    send(&mut reader, json!({"cmd": "chat", "param": {"text": "spam"}}));
    assert_eq!(recv_cmd(&mut reader, "error")["param"]["code"], "forbidden");
    send(&mut editor, json!({"cmd": "chat", "param": {"text": "headline"}}));
    assert_eq!(recv_cmd(&mut reader, "chat")["param"]["text"], "headline", "the reader still reads");
    server.shutdown();
}

// ---- users -------------------------------------------------------------------------------

/// Opens connections of `user` until it has `count` of them spread over both workers.
fn tabs_on_two_workers(server: &Running, user: &str, count: usize) -> Vec<Client> {
    let path = format!("/example/socket?ch=tabs-{user}&token={}", token(user, &[], 300));
    let mut tabs: Vec<Client> = Vec::new();
    for _ in 0..40 {
        tabs.push(upgrade(server.local_addr(), &path, &[]).expect("tab"));
        let conns: Vec<_> = server.service().connections().into_iter().filter(|c| c.user.id == user).collect();
        let workers: HashSet<usize> = conns.iter().map(|c| c.worker).collect();
        if tabs.len() == count && workers.len() == 2 {
            return tabs;
        }
        if tabs.len() == count {
            tabs.remove(0).close(None).ok();
            eventually(Duration::from_secs(5), "a tab closed", || {
                server.service().connections().iter().filter(|c| c.user.id == user).count() < count
            });
        }
    }
    panic!("the kernel never spread {count} connections over 2 workers");
}

#[test]
fn write_user_reaches_three_connections_on_two_workers() {
    let server = start(jwt_config(2));
    let mut tabs = tabs_on_two_workers(&server, "u-many", 3);
    let mut bystander =
        upgrade(server.local_addr(), &format!("/example/socket?token={}", token("u-other", &[], 300)), &[]).unwrap();
    let users = server.service().users();
    let many = users.iter().find(|u| u.id == "u-many").expect("listed");
    assert_eq!((many.connections.len(), many.name.as_str()), (3, "u-many name"));
    server.service().write_user("notice", &json!({"n": 1}), "u-many").expect("write_user");
    for tab in &mut tabs {
        assert_eq!(recv_cmd(tab, "notice")["param"], json!({"n": 1}));
    }
    assert!(drain(&mut bystander).iter().all(|m| m["cmd"] != "notice"), "only that user's connections");
    server.shutdown();
}

#[test]
fn presence_is_sent_once_per_user_not_once_per_tab() {
    let server = start(jwt_config(2));
    let addr = server.local_addr();
    let room = "/example/socket?ch=room";
    let mut watcher = upgrade(addr, &format!("{room}&token={}", token("watcher", &[], 300)), &[]).unwrap();
    let alice = token("alice", &[], 300);
    let mut first = upgrade(addr, &format!("{room}&token={alice}"), &[]).unwrap();
    assert_eq!(recv_cmd(&mut watcher, "online-update")["param"], json!({"userID": "alice", "connected": true}));

    let mut second = upgrade(addr, &format!("{room}&token={alice}"), &[]).unwrap();
    sync(&mut second);
    std::thread::sleep(Duration::from_millis(100)); // let any cross-worker update land
    assert_eq!(online_updates(&drain(&mut watcher)), Vec::<Value>::new(), "no update for the second tab");
    let mut online = server.service().online("room");
    online.sort();
    assert_eq!(online, vec!["alice".to_string(), "watcher".to_string()]);

    second.close(None).ok();
    eventually(Duration::from_secs(5), "second tab gone", || {
        server.service().connections_by_channel("room").len() == 2
    });
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(online_updates(&drain(&mut watcher)), Vec::<Value>::new(), "no update while a tab remains");

    first.close(None).ok();
    assert_eq!(recv_cmd(&mut watcher, "online-update")["param"], json!({"userID": "alice", "connected": false}));
    assert_eq!(server.service().online("room"), vec!["watcher".to_string()]);
    server.shutdown();
}

// ---- live expiry and refresh -------------------------------------------------------------

fn short_lived_config() -> Config {
    Config { token_grace: Duration::from_secs(1), ..jwt_config(1) }
}

#[test]
fn an_expired_token_is_told_then_closed_with_1008_after_the_grace() {
    let server = start(short_lived_config());
    let path = format!("/example/socket?ch=exp&token={}", token("u-exp", &[], 2));
    let mut client = upgrade(server.local_addr(), &path, &[]).expect("upgrade");
    let error = recv_cmd(&mut client, "error");
    let warned = Instant::now();
    assert_eq!(error["param"]["code"], "token-expired", "{error}");
    let (code, closed) = close_code(&mut client);
    assert_eq!(code, Some(CloseCode::Policy));
    assert!(closed - warned >= Duration::from_millis(700), "closed only after the grace: {:?}", closed - warned);
    eventually(Duration::from_secs(5), "connection gone", || server.service().connections().is_empty());
    server.shutdown();
}

#[test]
fn a_refresh_within_the_grace_keeps_the_connection_open() {
    let server = start(short_lived_config());
    let path = format!("/example/socket?ch=ref&token={}", token("u-ref", &[], 2));
    let mut client = upgrade(server.local_addr(), &path, &[]).expect("upgrade");
    assert_eq!(recv_cmd(&mut client, "error")["param"]["code"], "token-expired");
    let renewed = token("u-ref", &[], 300);
    send(&mut client, json!({"cmd": "refresh", "param": {"token": renewed}}));
    let reply = recv_cmd(&mut client, "refreshed");
    let expires_at = reply["param"]["expires_at"].as_u64().expect("expires_at");
    assert!(expires_at >= get_current_timestamp() + 290, "{reply}");
    std::thread::sleep(Duration::from_secs(2)); // past the grace
    for message in drain(&mut client) {
        assert_ne!(message["param"]["code"], "token-expired", "no second warning: {message}");
    }
    assert_eq!(server.service().connections().len(), 1, "still open");
    server.shutdown();
}

#[test]
fn a_refresh_with_a_bad_token_or_another_users_token_fails() {
    let server = start(jwt_config(1));
    let path = format!("/example/socket?ch=rf&token={}", token("u-rf", &[], 300));
    let mut client = upgrade(server.local_addr(), &path, &[]).expect("upgrade");
    let now = get_current_timestamp();
    let attempts = [
        token("someone-else", &[], 300),
        sign(&json!({"sub": "u-rf", "exp": now - 5}), SECRET),
        sign(&json!({"sub": "u-rf", "exp": now + 300}), "not-the-secret"),
        "garbage".to_string(),
    ];
    for attempt in attempts {
        send(&mut client, json!({"cmd": "refresh", "param": {"token": attempt}}));
        let error = recv_cmd(&mut client, "error");
        assert_eq!(error["param"]["code"], "refresh-failed", "{error}");
        assert!(!error.to_string().contains(&attempt), "the token is never echoed");
    }
    send(&mut client, json!({"cmd": "refresh", "param": {"token": token("u-rf", &[], 600)}}));
    assert!(recv_cmd(&mut client, "refreshed")["param"]["expires_at"].as_u64().is_some());
    server.shutdown();
}
