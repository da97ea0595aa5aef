//! The built-in token authenticator: HS256 JSON Web Tokens, verified with `jsonwebtoken`.
//!
//! Owns: where a token is read from (the `token` query parameter, an `Authorization: Bearer`
//! header, the `switchyard_token` cookie, in that order; the header syntax is parsed by
//! `HttpRequest::bearer_token` and `HttpRequest::cookie`), the checks (`exp`, `nbf`, optional
//! `aud`/`iss`, signature), the claims → `Profile` mapping and the live `refresh` of a
//! connection's token. It must not block, log or echo a token, or decide anything about
//! channels (that is the `ChannelAuthorizer`'s job) or about anonymous access (the core
//! applies `--require-auth` to the `Ok(None)` returned for a request without a token).

use std::path::Path;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::Profile;
use super::{Authenticator, Refusal};
use crate::config::Config;
use crate::wire::http::HttpRequest;

/// The query parameter a token may come in.
pub const QUERY_PARAM: &str = "token";
/// The cookie a token may come in.
pub const COOKIE: &str = "switchyard_token";

/// Claims that become `Profile` fields rather than entries of `Profile::claims`.
const PROFILE_CLAIMS: [&str; 3] = ["sub", "name", "roles"];

/// Verifies HS256 tokens signed with one shared secret.
pub struct JwtAuthenticator {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuthenticator").field("validation", &self.validation).finish_non_exhaustive()
    }
}

/// The JWT authenticator the flags ask for: `None` without `--jwt-secret` or `--jwt-secret-file`.
pub fn from_config(config: &Config) -> Result<Option<JwtAuthenticator>, crate::Error> {
    let secret = match (&config.jwt_secret, &config.jwt_secret_file) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => return Err(config_error("give --jwt-secret or --jwt-secret-file, not both")),
        (Some(secret), None) => secret.clone(),
        (None, Some(path)) => read_secret(path)?,
    };
    let authenticator =
        JwtAuthenticator::new(secret.as_bytes(), config.jwt_audience.as_deref(), config.jwt_issuer.as_deref())?;
    Ok(Some(authenticator))
}

fn read_secret(path: &Path) -> Result<String, crate::Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| config_error(&format!("cannot read the JWT secret file {}: {}", path.display(), e.kind())))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

fn config_error(message: &str) -> crate::Error {
    crate::Error::invalid(message)
}

impl JwtAuthenticator {
    /// An authenticator for tokens signed with `secret`; `audience` and `issuer`, when
    /// given, must be the token's `aud` and `iss`. An empty secret is a configuration error.
    pub fn new(secret: &[u8], audience: Option<&str>, issuer: Option<&str>) -> Result<Self, crate::Error> {
        if secret.is_empty() {
            return Err(config_error("the JWT secret is empty"));
        }
        if secret.len() < 32 {
            log::warn!("the JWT secret is shorter than 32 bytes: HS256 wants at least 256 bits");
        }
        Ok(JwtAuthenticator { key: DecodingKey::from_secret(secret), validation: validation(audience, issuer) })
    }

    /// Checks a token and returns the profile it vouches for.
    pub fn verify(&self, token: &str) -> Result<Profile, Refusal> {
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|e| Refusal::unauthorized(reason(e.kind())))?;
        profile_from_claims(data.claims)
    }
}

/// HS256 only; `exp` and `sub` required; `nbf` checked; no leeway, so the server's clock
/// alone says when a token expires (and the live expiry agrees with the upgrade's check).
fn validation(audience: Option<&str>, issuer: Option<&str>) -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_nbf = true;
    let mut required = vec!["exp", "sub"];
    match audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    if let Some(issuer) = issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// A short reason for a refused token; never the token itself.
fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "token expired",
        ErrorKind::ImmatureSignature => "token not yet valid",
        ErrorKind::InvalidSignature => "bad token signature",
        ErrorKind::InvalidAudience => "wrong token audience",
        ErrorKind::InvalidIssuer => "wrong token issuer",
        ErrorKind::InvalidAlgorithm => "token algorithm not allowed (HS256 only)",
        ErrorKind::MissingRequiredClaim(claim) if claim == "sub" => "token has no subject",
        ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => "token has no expiry",
        ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim",
        ErrorKind::InvalidClaimFormat(_) => "token has a malformed claim",
        _ => "malformed token",
    }
}

/// `sub` → id, `name` → name (default: the id), `roles` → roles; the rest stays in `claims`.
fn profile_from_claims(mut claims: Map<String, Value>) -> Result<Profile, Refusal> {
    let id = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
        _ => return Err(Refusal::unauthorized("token has no subject")),
    };
    let name = match claims.get("name") {
        None | Some(Value::Null) => id.clone(),
        Some(Value::String(name)) => name.clone(),
        Some(_) => return Err(Refusal::unauthorized("token has a malformed name claim")),
    };
    let roles =
        roles_of(claims.get("roles")).ok_or_else(|| Refusal::unauthorized("token has a malformed roles claim"))?;
    let expires_at = claims.get("exp").and_then(Value::as_u64);
    for claim in PROFILE_CLAIMS {
        claims.remove(claim);
    }
    Ok(Profile { id, name: name.into(), roles, claims, anonymous: false, expires_at })
}

/// The roles claim: absent (none) or an array of strings.
fn roles_of(value: Option<&Value>) -> Option<Vec<String>> {
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(|role| role.as_str().map(str::to_string)).collect(),
        Some(_) => None,
    }
}

/// The request's token: the `token` query parameter, else an `Authorization: Bearer`
/// header, else the `switchyard_token` cookie. Empty values count as absent.
pub fn token_of(request: &HttpRequest) -> Option<String> {
    let from_query = request.query_param(QUERY_PARAM).filter(|t| !t.is_empty());
    let from_header_or_cookie = || request.bearer_token().or_else(|| request.cookie(COOKIE)).map(str::to_string);
    from_query.or_else(from_header_or_cookie)
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, request: &HttpRequest) -> Result<Option<Profile>, Refusal> {
        match token_of(request) {
            Some(token) => self.verify(&token).map(Some),
            None => Ok(None),
        }
    }

    fn refresh(&self, token: &str, current: &Profile) -> Result<Profile, Refusal> {
        let profile = self.verify(token)?;
        if profile.id != current.id {
            return Err(Refusal::unauthorized("the new token is for another user"));
        }
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &[u8] = b"a test secret of at least thirty-two bytes";

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn sign(claims: Value, secret: &[u8]) -> String {
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret)).expect("sign")
    }

    fn request(query: &str, headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: "/socket".into(),
            query: query.into(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: Vec::new(),
            remote: "127.0.0.1:1".parse().expect("addr"),
            version: 1,
        }
    }

    fn authenticator() -> JwtAuthenticator {
        JwtAuthenticator::new(SECRET, None, None).expect("authenticator")
    }

    #[test]
    fn claims_become_the_profile() {
        let exp = now() + 60;
        let token = sign(json!({"sub": "u1", "name": "Ann", "roles": ["admin"], "exp": exp, "team": 7}), SECRET);
        let profile = authenticator().verify(&token).expect("valid");
        assert_eq!((profile.id.as_str(), &*profile.name), ("u1", "Ann"));
        assert_eq!(profile.roles, vec!["admin".to_string()]);
        assert_eq!(profile.claims.get("team"), Some(&json!(7)));
        assert!(!profile.claims.contains_key("sub") && !profile.anonymous);
        assert_eq!(profile.expires_at, Some(exp));
    }

    #[test]
    fn name_defaults_to_sub_and_roles_must_be_strings() {
        let token = sign(json!({"sub": "u1", "exp": now() + 60}), SECRET);
        assert_eq!(authenticator().verify(&token).expect("valid").name, "u1");
        let token = sign(json!({"sub": "u1", "exp": now() + 60, "roles": [1]}), SECRET);
        assert_eq!(authenticator().verify(&token).unwrap_err().status, 401);
        let token = sign(json!({"exp": now() + 60}), SECRET);
        assert_eq!(authenticator().verify(&token).unwrap_err().reason, "token has no subject");
    }

    #[test]
    fn bad_tokens_get_short_reasons() {
        let cases = [
            (sign(json!({"sub": "u", "exp": now() - 5}), SECRET), "token expired"),
            (sign(json!({"sub": "u", "exp": now() + 60, "nbf": now() + 30}), SECRET), "token not yet valid"),
            (sign(json!({"sub": "u", "exp": now() + 60}), b"another secret"), "bad token signature"),
            (sign(json!({"sub": "u"}), SECRET), "token has no expiry"),
            ("not.a.token".to_string(), "malformed token"),
        ];
        for (token, reason) in cases {
            let refusal = authenticator().verify(&token).unwrap_err();
            assert_eq!((refusal.status, refusal.reason.as_str()), (401, reason));
        }
    }

    #[test]
    fn audience_and_issuer_are_required_when_configured() {
        let strict = JwtAuthenticator::new(SECRET, Some("app"), Some("me")).expect("authenticator");
        let good = sign(json!({"sub": "u", "exp": now() + 60, "aud": "app", "iss": "me"}), SECRET);
        assert!(strict.verify(&good).is_ok());
        let wrong_aud = sign(json!({"sub": "u", "exp": now() + 60, "aud": "other", "iss": "me"}), SECRET);
        assert_eq!(strict.verify(&wrong_aud).unwrap_err().reason, "wrong token audience");
        let no_aud = sign(json!({"sub": "u", "exp": now() + 60, "iss": "me"}), SECRET);
        assert!(strict.verify(&no_aud).is_err());
        let wrong_iss = sign(json!({"sub": "u", "exp": now() + 60, "aud": "app", "iss": "them"}), SECRET);
        assert_eq!(strict.verify(&wrong_iss).unwrap_err().reason, "wrong token issuer");
        assert!(authenticator().verify(&good).is_ok(), "aud and iss are not checked when not configured");
    }

    #[test]
    fn token_sources_in_order() {
        assert_eq!(token_of(&request("ch=a&token=q", &[("Authorization", "Bearer h")])), Some("q".into()));
        assert_eq!(token_of(&request("token=", &[("authorization", "bearer h")])), Some("h".into()));
        assert_eq!(token_of(&request("", &[("Authorization", "Basic xyz")])), None);
        let cookie = [("Cookie", "a=1; switchyard_token=c; b=2")];
        assert_eq!(token_of(&request("", &cookie)), Some("c".into()));
        assert_eq!(token_of(&request("", &[("Cookie", "switchyard_token=")])), None);
        let both = [("Authorization", "Bearer h"), ("Cookie", "switchyard_token=c")];
        assert_eq!(token_of(&request("", &both)), Some("h".into()), "the header before the cookie");
        assert_eq!(token_of(&request("", &[])), None);
    }

    #[test]
    fn refresh_keeps_the_user() {
        let auth = authenticator();
        let current = auth.verify(&sign(json!({"sub": "u1", "exp": now() + 5}), SECRET)).expect("valid");
        let exp = now() + 600;
        let renewed = auth.refresh(&sign(json!({"sub": "u1", "exp": exp}), SECRET), &current).expect("ok");
        assert_eq!(renewed.expires_at, Some(exp));
        let other = sign(json!({"sub": "u2", "exp": now() + 600}), SECRET);
        assert_eq!(auth.refresh(&other, &current).unwrap_err().reason, "the new token is for another user");
        let expired = sign(json!({"sub": "u1", "exp": now() - 5}), SECRET);
        assert_eq!(auth.refresh(&expired, &current).unwrap_err().reason, "token expired");
    }

    #[test]
    fn config_reads_the_secret_file_and_refuses_empty_secrets() {
        let path = std::env::temp_dir().join(format!("switchyard-jwt-{}", std::process::id()));
        std::fs::write(&path, "file secret\n").expect("write");
        let config = Config { jwt_secret_file: Some(path.clone()), ..Config::default() };
        let auth = from_config(&config).expect("config").expect("authenticator");
        assert!(auth.verify(&sign(json!({"sub": "u", "exp": now() + 60}), b"file secret")).is_ok());
        std::fs::write(&path, "\n").expect("write");
        assert!(from_config(&config).is_err());
        let _ = std::fs::remove_file(&path);
        assert!(from_config(&Config { jwt_secret: Some(String::new()), ..Config::default() }).is_err());
        assert!(from_config(&Config::default()).expect("config").is_none());
    }
}
