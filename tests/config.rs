//! The configuration boundary: `Config::default()` is the documented defaults whatever the
//! process's environment holds; the binary reads flags and `SWITCHYARD_*` variables and
//! refuses bad ones (`--workers 0`) with a clear message and exit status 2.

use std::process::Command;
use std::time::Duration;

use switchyard::{Config, Server};

/// Set in the child process that runs the environment-dependent checks.
const CHILD: &str = "SWITCHYARD_CONFIG_TEST_CHILD";

/// Runs one test of this binary in a child process with a hostile `SWITCHYARD_*` environment.
fn in_hostile_environment(test: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .env("SWITCHYARD_WORKERS", "abc")
        .env("SWITCHYARD_LISTEN", "10.9.8.7:9")
        .env("SWITCHYARD_MAX_MESSAGE_BYTES", "12")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child {test} failed ({}):\n{stdout}\n{stderr}", output.status);
    stdout
}

#[test]
fn default_ignores_switchyard_variables() {
    assert!(in_hostile_environment("child_default_is_the_documented_defaults").contains("defaults checked"));
}

#[test]
fn from_env_and_args_returns_an_error_instead_of_exiting() {
    assert!(in_hostile_environment("child_from_env_and_args_refuses_abc").contains("refusal checked"));
}

#[test]
fn child_default_is_the_documented_defaults() {
    if std::env::var_os(CHILD).is_none() {
        return; // only meaningful in the child, whose environment is hostile
    }
    assert_eq!(std::env::var("SWITCHYARD_WORKERS").as_deref(), Ok("abc"));
    let config = Config::default();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.max_message_bytes, 65536);
    assert!(config.workers >= 1);
    println!("defaults checked");
}

#[test]
fn child_from_env_and_args_refuses_abc() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let error = Config::from_env_and_arg_list(["switchyard"]).unwrap_err();
    assert!(error.to_string().contains("abc"), "{error}");
    println!("refusal checked");
}

#[test]
fn flags_override_and_are_read_from_arguments() {
    let config = Config::from_env_and_arg_list(["switchyard", "--workers", "3", "--listen", "127.0.0.1:0"]).unwrap();
    assert_eq!(config.workers, 3);
    assert_eq!(config.listen.port(), 0);
}

#[test]
fn the_library_refuses_zero_workers() {
    let config = Config { workers: 0, listen: "127.0.0.1:0".parse().unwrap(), ..Config::default() };
    let error = Server::new(config).err().expect("0 workers refused");
    assert!(error.to_string().contains("at least 1"), "{error}");
}

#[test]
fn the_binary_refuses_zero_workers() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["--listen", "127.0.0.1:0", "--workers", "0"])
        .env_remove("SWITCHYARD_WORKERS")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("switchyard --workers 0 kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--workers") && stderr.contains("at least 1 worker"), "{stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");
}

#[test]
fn the_binary_says_worker_not_workers_for_one() {
    let mut binary = common::Binary::start(&["--workers", "1"]);
    let log = binary.drain_log().join("\n");
    assert!(log.contains("with 1 worker") && !log.contains("1 workers"), "{log}");
}

mod common;
