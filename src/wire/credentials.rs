//! Where a request carries a credential: the `Authorization: Bearer` token and the `Cookie`
//! header's values, as `HttpRequest::bearer_token` and `HttpRequest::cookie`.
//!
//! The one place both are parsed (the JWT authenticator and the admin guard call it). It
//! only reads header syntax: it never decides whether a credential is right, never compares
//! one (see `auth::secret`) and never logs one.

use super::http::HttpRequest;

impl HttpRequest {
    /// The token of the first `Authorization: Bearer <token>` header (the scheme is
    /// case-insensitive); None if absent, another scheme or empty.
    pub fn bearer_token(&self) -> Option<&str> {
        bearer_of(self.header("authorization")?)
    }

    /// The value of cookie `name` (exact, case-sensitive name) in the request's `Cookie`
    /// headers, the first one that has it; a quoted value loses its quotes. Empty counts as
    /// absent.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(header, _)| header.eq_ignore_ascii_case("cookie"))
            .find_map(|(_, value)| cookie_of(value, name))
    }
}

/// The credential of an `Authorization` header value, if its scheme is `Bearer`.
fn bearer_of(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Cookie `name` of one `Cookie` header value (`a=1; b="2"`).
fn cookie_of<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| unquote(value.trim()))
        .filter(|value| !value.is_empty())
}

/// `"v"` → `v`; anything else as is.
fn unquote(value: &str) -> &str {
    value.strip_prefix('"').and_then(|inner| inner.strip_suffix('"')).unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: "/".into(),
            query: String::new(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: Vec::new(),
            remote: "127.0.0.1:1".parse().expect("addr"),
            version: 1,
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "  Bearer   abc  ", "Bearer\tabc"] {
            assert_eq!(request(&[("Authorization", value)]).bearer_token(), Some("abc"), "{value:?}");
        }
        assert_eq!(request(&[("authorization", "Bearer a.b.c")]).bearer_token(), Some("a.b.c"));
    }

    #[test]
    fn no_bearer_without_the_header_the_scheme_or_a_token() {
        assert_eq!(request(&[]).bearer_token(), None);
        for value in ["Basic dXNlcjpwdw==", "Bearer", "Bearer   ", "Bearerabc", "", "abc"] {
            assert_eq!(request(&[("Authorization", value)]).bearer_token(), None, "{value:?}");
        }
    }

    #[test]
    fn one_cookie_among_several() {
        let req = request(&[("Cookie", "a=1; switchyard_token=t0k; b=2")]);
        assert_eq!(req.cookie("switchyard_token"), Some("t0k"));
        assert_eq!(req.cookie("a"), Some("1"));
        assert_eq!(req.cookie("b"), Some("2"));
        assert_eq!(req.cookie("c"), None);
        assert_eq!(req.cookie("switchyard"), None, "names match whole");
        assert_eq!(request(&[("Cookie", "xa=1")]).cookie("a"), None);
        assert_eq!(request(&[("Cookie", "A=1")]).cookie("a"), None, "names are case-sensitive");
    }

    #[test]
    fn quoted_values_lose_their_quotes_and_padding_stays() {
        assert_eq!(request(&[("Cookie", "a=\"q v\"")]).cookie("a"), Some("q v"));
        assert_eq!(request(&[("Cookie", "a=\"")]).cookie("a"), Some("\""));
        assert_eq!(request(&[("Cookie", "a=YWJj==; b=2")]).cookie("a"), Some("YWJj=="));
    }

    #[test]
    fn absent_and_empty_cookies() {
        assert_eq!(request(&[]).cookie("a"), None);
        assert_eq!(request(&[("Cookie", "")]).cookie("a"), None);
        assert_eq!(request(&[("Cookie", "a=")]).cookie("a"), None);
        assert_eq!(request(&[("Cookie", "a=\"\"")]).cookie("a"), None);
        assert_eq!(request(&[("Cookie", "a; b=2")]).cookie("a"), None);
    }

    #[test]
    fn every_cookie_header_counts() {
        let req = request(&[("Cookie", "a=1"), ("cookie", "b=2"), ("Cookie", "b=3")]);
        assert_eq!((req.cookie("a"), req.cookie("b")), (Some("1"), Some("2")));
    }
}
