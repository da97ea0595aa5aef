//! The built-in token authenticator: HS256 JSON Web Tokens. (Being built: issue 6.)

use super::Authenticator;
use crate::config::Config;

/// The JWT authenticator the flags ask for, if any.
pub fn from_config(_config: &Config) -> Result<Option<impl Authenticator>, crate::Error> {
    Ok(None::<fn(&crate::HttpRequest) -> Result<Option<crate::Profile>, super::Refusal>>)
}
