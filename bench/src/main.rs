//! `switchyard-bench`: the load generator (echo, fanout, conns, storm, churn) and the `compare`
//! command that runs switchyard and the peers (tokio-tungstenite, fastwebsockets) side by side.

mod chat_text;
mod cli;
mod client;
mod compare;
mod filler;
mod fleet;
mod histogram;
mod inflated;
mod net;
mod observer;
mod order_check;
mod presence;
mod report;
mod scenario;
mod selftest;
mod server_proc;
mod targets;
mod tls;
mod usage;
mod wire;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use cli::{Cli, Command};
use scenario::{api, churn, conns, echo, fanout, storm, ChannelLayout};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("switchyard-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    let result = match command {
        Command::Compare(args) => return compare::run(&args),
        Command::Selftest { seconds } => {
            let rate = selftest::frames_per_second(seconds)?;
            println!("user-space scan + check: {} frames/s on one core (no sockets)", report::format_number(rate));
            return Ok(());
        }
        Command::Echo { common, conns, in_flight, payload, path, words } => {
            let config = echo::EchoConfig { conns, in_flight, payload_bytes: payload, path, words };
            echo::run(&common.to_common()?, &config)
        }
        Command::Fanout { common, subscribers, publishers, payload, rate, window, channel, sample_every, words } => {
            let config = fanout::FanoutConfig {
                subscribers,
                publishers: publishers.max(1),
                payload_bytes: payload,
                rate,
                window: window.max(1),
                channel,
                latency_sample_every: sample_every,
                words,
            };
            fanout::run(&common.to_common()?, &config)
        }
        Command::Conns { common, conns, path, channels, channel, hold } => {
            let layout = match (channels, channel) {
                (_, Some(name)) => Some(ChannelLayout::One(name)),
                (Some(name), None) => Some(ChannelLayout::parse(&name)?),
                (None, None) => None,
            };
            let (path, layout) = match layout {
                Some(layout) => (layout.path_template(), layout.describe().to_string()),
                None => (path, "path template".to_string()),
            };
            let config = conns::ConnsConfig { conns, path, layout, hold: Duration::from_secs_f64(hold) };
            conns::run(&common.to_common()?, &config)
        }
        Command::Storm { common, clients, channel, phase_timeout, no_reconnect, no_presence } => {
            let config = storm::StormConfig {
                clients,
                channel,
                phase_timeout: Duration::from_secs_f64(phase_timeout),
                reconnect: !no_reconnect,
                expect_presence: !no_presence,
            };
            storm::run(&common.to_common()?, &config)
        }
        Command::Api { switchyard, batch, duration, server_cpus } => {
            let switchyard = switchyard.unwrap_or_else(|| {
                std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/switchyard"))
            });
            let duration = Duration::from_secs_f64(duration);
            api::run(&api::ApiConfig { switchyard, batch: batch.max(1), duration, server_cpus })
        }
        Command::Churn { common, concurrency } => churn::run(&common.to_common()?, &churn::ChurnConfig { concurrency }),
    };
    let result = result.map_err(|err| err.to_string())?;
    result.print();
    match result.errors {
        0 => Ok(()),
        errors => Err(format!("{errors} errors (see above)")),
    }
}
