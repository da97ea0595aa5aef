//! Scale-out: several switchyard nodes share channels through Redis pub/sub.
//! (Being built: issue 7.)

use crate::config::Config;
use crate::service::Service;

/// Links this node to the cluster at `url`.
pub fn join(_service: &Service, url: &str, _config: &Config) -> Result<(), crate::Error> {
    Err(crate::Error::Io(std::io::Error::other(format!("--redis {url}: clustering is not built yet"))))
}
