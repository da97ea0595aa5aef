//! `redis://[[user]:password@]host[:port][/db]`: where the cluster's Redis is and how to log
//! in. Parsing only; it must not resolve or connect, and `Display` never shows the password.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl RedisUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("redis://").ok_or_else(|| format!("'{url}' is not a redis:// URL"))?;
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let (credentials, address) = match authority.rsplit_once('@') {
            Some((credentials, address)) => (Some(credentials), address),
            None => (None, authority),
        };
        let (host, port) = split_port(address).ok_or_else(|| format!("'{url}': bad host or port"))?;
        let (user, password) = credentials.map_or((None, None), split_credentials);
        Ok(RedisUrl { host, port, user, password })
    }

    /// `host:port`, for connecting.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn split_port(address: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(v6) = address.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match address.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (address, None),
        }
    };
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => 6379,
    };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

fn split_credentials(credentials: &str) -> (Option<String>, Option<String>) {
    // Percent-decoding as RFC 3986 says (not as a form: a `+` stays a `+`).
    let decode = |s: &str| Some(percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned());
    match credentials.split_once(':') {
        Some((user, password)) => (decode(user).filter(|u| !u.is_empty()), decode(password)),
        None => (None, decode(credentials).filter(|p| !p.is_empty())),
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let login = if self.password.is_some() { "***@" } else { "" };
        write!(f, "redis://{login}{}", self.address())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::RedisUrl;

    #[test]
    fn parses_host_port_and_login() {
        let url = RedisUrl::parse("redis://127.0.0.1:7000").expect("valid");
        assert_eq!((url.host.as_str(), url.port, url.password), ("127.0.0.1", 7000, None));
        let url = RedisUrl::parse("redis://:s%40cret@localhost/0").expect("valid");
        assert_eq!((url.port, url.password.as_deref(), url.user.as_deref()), (6379, Some("s@cret"), None));
        assert_eq!(url.to_string(), "redis://***@localhost:6379");
        let url = RedisUrl::parse("redis://:pa+ss%2Bw@localhost").expect("valid");
        assert_eq!(url.password.as_deref(), Some("pa+ss+w"), "a plus is a plus, not a space");
        let url = RedisUrl::parse("redis://bob:pw@[::1]:6380").expect("valid");
        assert_eq!((url.address(), url.user.as_deref()), ("[::1]:6380".to_string(), Some("bob")));
    }

    #[test]
    fn refuses_what_is_not_a_redis_url() {
        for bad in ["http://x", "redis://", "redis://host:port", "redis://:1"] {
            assert!(RedisUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
