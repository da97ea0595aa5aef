//! Starting a server under test as a child process — on a fresh loopback port, pinned to a
//! core with `taskset`, its output to a log file — waiting until it accepts, and stopping it.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::net;

/// How to start one server.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Short name used in tables: `switchyard`, `peer-default`, `peer-4k`, `fastws`.
    pub name: String,
    pub program: PathBuf,
    /// Arguments after `--listen ADDR`.
    pub args: Vec<String>,
}

/// A started server; stopped (killed and reaped) on drop.
pub struct RunningServer {
    child: Child,
    pub addr: SocketAddr,
}

impl RunningServer {
    /// Starts `spec`, pinned to `cpus` (a `taskset -c` list) when given.
    pub fn start(spec: &ServerSpec, cpus: Option<&str>) -> io::Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], net::free_loopback_port()?));
        let log_path = std::env::temp_dir().join(format!("switchyard-bench-{}.log", spec.name));
        let log = std::fs::File::create(&log_path)?;
        let mut command = match cpus {
            Some(cpus) => {
                let mut taskset = Command::new("taskset");
                taskset.arg("-c").arg(cpus).arg(&spec.program);
                taskset
            }
            None => Command::new(&spec.program),
        };
        command.arg("--listen").arg(addr.to_string()).args(&spec.args);
        command.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        let child = command.spawn().map_err(|err| io::Error::other(format!("{}: {err}", spec.program.display())))?;
        let mut server = RunningServer { child, addr };
        server.wait_until_accepting(Duration::from_secs(10)).map_err(|err| {
            io::Error::other(format!("{} did not start: {err} (see {})", spec.name, log_path.display()))
        })?;
        Ok(server)
    }

    /// The server's pid (taskset execs the program, so it is the same process).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_until_accepting(&mut self, limit: Duration) -> io::Result<()> {
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!("exited with {status}")));
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            if Instant::now() > until {
                return Err(io::ErrorKind::TimedOut.into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pins this process (the generator: one thread) to `core`.
pub fn pin_self_to(core: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays in bounds for core < 1024.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
