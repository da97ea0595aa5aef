//! Admission limits that span workers: connections in total and per remote IP.
//!
//! Checked once per upgrade and released once per session end (cold path), so a lock is
//! fine here. Per-connection limits (message size, out-queue, rate, channels) live with the
//! connection on its worker and are not here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::config::Config;

pub struct Limits {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    Server,
    Ip,
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        Limits {
            max_total: config.max_connections,
            max_per_ip: config.max_connections_per_ip,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// Counts a new connection from `ip`, unless a limit is reached.
    pub fn admit(&self, ip: IpAddr) -> Result<(), Full> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if self.max_total != 0 && counts.total >= self.max_total {
            return Err(Full::Server);
        }
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if self.max_per_ip != 0 && from_ip >= self.max_per_ip && !ip.is_loopback() {
            return Err(Full::Ip);
        }
        counts.total += 1;
        counts.per_ip.insert(ip, from_ip + 1);
        Ok(())
    }

    /// Releases what `admit` counted.
    pub fn release(&self, ip: IpAddr) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limits_and_releases() {
        let config = Config { max_connections: 3, max_connections_per_ip: 2, ..Config::default() };
        let limits = Limits::new(&config);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert_eq!(limits.admit(a), Ok(()));
        assert_eq!(limits.admit(a), Ok(()));
        assert_eq!(limits.admit(a), Err(Full::Ip));
        assert_eq!(limits.admit(b), Ok(()));
        assert_eq!(limits.admit(b), Err(Full::Server));
        limits.release(a);
        assert_eq!(limits.admit(b), Ok(()));
        assert!(limits.counts.lock().unwrap().per_ip.len() == 2);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        limits.release(b);
        let lenient = Limits::new(&Config { max_connections: 10, max_connections_per_ip: 1, ..Config::default() });
        assert!((0..5).all(|_| lenient.admit(local).is_ok()), "loopback is exempt from the per-IP limit");
    }
}
