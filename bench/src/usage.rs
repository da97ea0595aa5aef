//! CPU and memory accounting: the generator's own CPU time (getrusage), and a server
//! process's CPU time and resident set size read from /proc/PID.

use std::time::{Duration, Instant};

/// This process's user + system CPU time so far.
pub fn own_cpu_time() -> Duration {
    // SAFETY: getrusage fills the zeroed struct we pass; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let to_duration =
        |tv: libc::timeval| Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64);
    to_duration(usage.ru_utime) + to_duration(usage.ru_stime)
}

/// A server process's user + system CPU time so far (None if it is gone).
pub fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf with a valid name has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_nanos((utime + stime) * 1_000_000_000 / ticks_per_second))
}

/// A process's resident set size in bytes (VmRSS), None if it is gone.
pub fn process_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Busy CPU time of the whole machine so far (all cores; /proc/stat, less idle and iowait).
pub fn machine_busy_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu_line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = cpu_line.split_whitespace().filter_map(|field| field.parse().ok()).collect();
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    // SAFETY: sysconf with a valid name has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_nanos((total - idle) * 1_000_000_000 / ticks_per_second))
}

/// How many cores' worth of CPU the machine is using, sampled over `period`.
pub fn machine_busy_cores(period: Duration) -> Option<f64> {
    let start = machine_busy_time()?;
    std::thread::sleep(period);
    let end = machine_busy_time()?;
    Some(end.saturating_sub(start).as_secs_f64() / period.as_secs_f64())
}

/// CPU used by the generator and (when known) the server over a measured window.
#[derive(Debug, Clone, Copy)]
pub struct CpuWindow {
    started: Instant,
    own_start: Duration,
    server_pid: Option<u32>,
    server_start: Option<Duration>,
    machine_start: Option<Duration>,
}

/// Shares of one core (1.0 = one core busy all the time) over a window.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CpuShares {
    pub generator: f64,
    pub server: Option<f64>,
    /// Everything else on the machine (other processes, unattributed kernel work).
    pub others: Option<f64>,
}

impl CpuWindow {
    pub fn start(server_pid: Option<u32>) -> Self {
        CpuWindow {
            started: Instant::now(),
            own_start: own_cpu_time(),
            server_pid,
            server_start: server_pid.and_then(process_cpu_time),
            machine_start: machine_busy_time(),
        }
    }

    pub fn finish(&self) -> CpuShares {
        let wall = self.started.elapsed().as_secs_f64().max(1e-9);
        let generator = (own_cpu_time() - self.own_start).as_secs_f64() / wall;
        let server = match (self.server_pid.and_then(process_cpu_time), self.server_start) {
            (Some(end), Some(start)) => Some(end.saturating_sub(start).as_secs_f64() / wall),
            _ => None,
        };
        let others = match (machine_busy_time(), self.machine_start) {
            (Some(end), Some(start)) => {
                let busy = end.saturating_sub(start).as_secs_f64() / wall;
                Some((busy - generator - server.unwrap_or(0.0)).max(0.0))
            }
            _ => None,
        };
        CpuShares { generator, server, others }
    }
}

impl CpuShares {
    /// The generator, not the server, limited the measurement.
    pub fn generator_is_bottleneck(&self) -> bool {
        self.generator > 0.90 && self.server.is_none_or(|server| server < 0.90)
    }

    /// Other work on the machine took enough CPU to disturb the figures.
    pub fn machine_is_busy(&self) -> bool {
        self.others.is_some_and(|others| others > 0.25)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        assert!(process_rss_bytes(pid).unwrap_or(0) > 0);
        assert!(process_cpu_time(pid).is_some());
    }
}
