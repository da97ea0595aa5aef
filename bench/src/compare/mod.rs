//! The `compare` command: every benchmark scenario against switchyard and the peers (the
//! tokio-tungstenite peer with its defaults and with a 4 KiB read buffer, the fastwebsockets
//! peer), each server on its own core and the generator on another, repeated; prints medians,
//! switchyard ÷ peer ratios and one JSON line.

mod summary;

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::CompareArgs;
use crate::report::ScenarioResult;
use crate::scenario::{churn, conns, echo, fanout, storm, ChannelLayout, Common};
use crate::server_proc::{self, RunningServer, ServerSpec};
use summary::{print_run, print_summary, Row};

/// The measured scenarios, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    EchoOne,
    EchoSixteen,
    FanoutSmall,
    FanoutLarge,
    IdleConns,
    OneChannelConns,
    Storm,
    Churn,
    HalfRateLatency,
}

const STEPS: [Step; 9] = [
    Step::EchoOne,
    Step::EchoSixteen,
    Step::FanoutSmall,
    Step::FanoutLarge,
    Step::IdleConns,
    Step::OneChannelConns,
    Step::Storm,
    Step::Churn,
    Step::HalfRateLatency,
];

/// Sizes and times of one compare run.
#[derive(Debug, Clone)]
struct Plan {
    reps: usize,
    warmup: Duration,
    duration: Duration,
    echo_conns: usize,
    fanout_small: usize,
    fanout_large: usize,
    idle_conns: usize,
    one_channel_conns: usize,
    storm_clients: usize,
    phase_timeout: Duration,
    /// How long `conns` holds its connections after the last connect before reading the RSS.
    conns_hold: Duration,
    churn_loops: usize,
    strict: bool,
    /// Wait for a quiet machine and rerun disturbed runs (not in the quick smoke test).
    patient: bool,
    generator_core: Option<usize>,
    server_cpus: Option<String>,
}

impl Plan {
    fn from_args(args: &CompareArgs) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pinning = cores > args.generator_core;
        let (reps, duration, warmup) = if args.quick { (1, 0.5, 0.2) } else { (args.reps.max(1), 3.0, 0.5) };
        let sized = |full, quick| if args.quick { quick } else { full };
        Plan {
            reps,
            warmup: Duration::from_secs_f64(warmup),
            duration: Duration::from_secs_f64(args.duration.unwrap_or(duration)),
            echo_conns: sized(100, 10),
            fanout_small: sized(1_000, 100),
            fanout_large: sized(10_000, 500),
            idle_conns: sized(19_000, 500),
            one_channel_conns: args.one_channel_conns.unwrap_or(sized(19_000, 500)),
            storm_clients: args.storm_clients.unwrap_or(sized(10_000, 200)),
            phase_timeout: Duration::from_secs_f64(args.phase_timeout),
            conns_hold: Duration::from_millis(sized(3_000, 300) as u64),
            churn_loops: sized(64, 8),
            strict: args.quick,
            patient: !args.quick && !args.no_wait,
            generator_core: pinning.then_some(args.generator_core),
            server_cpus: pinning.then(|| args.server_cpus.clone()),
        }
    }
}
/// Every run of one server.
struct ServerRuns {
    spec: ServerSpec,
    runs: Vec<(Step, ScenarioResult)>,
    failures: Vec<String>,
}

impl ServerRuns {
    fn values(&self, row: &Row) -> Vec<f64> {
        self.runs
            .iter()
            .filter(|(step, _)| *step == row.step)
            .filter_map(|(_, result)| value_of(result, &row.metric))
            .collect()
    }

    /// Medians of the generator's, the server's and everything else's CPU shares.
    fn cpu_medians(&self, step: Step) -> [Option<f64>; 3] {
        let results: Vec<&ScenarioResult> =
            self.runs.iter().filter(|(s, _)| *s == step).map(|(_, result)| result).collect();
        let generator: Vec<f64> = results.iter().map(|result| result.cpu.generator).collect();
        let server: Vec<f64> = results.iter().filter_map(|result| result.cpu.server).collect();
        let others: Vec<f64> = results.iter().filter_map(|result| result.cpu.others).collect();
        [median(&generator), median(&server), median(&others)]
    }

    fn errors(&self, step: Step) -> u64 {
        self.runs.iter().filter(|(s, _)| *s == step).map(|(_, result)| result.errors).sum()
    }
}

fn value_of(result: &ScenarioResult, metric: &str) -> Option<f64> {
    if metric == "p99" {
        return result.latency.map(|latency| latency.p99_us);
    }
    result.metric(metric)
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[mid]),
        _ => Some((sorted[mid - 1] + sorted[mid]) / 2.0),
    }
}

pub fn run(args: &CompareArgs) -> Result<(), String> {
    let plan = Plan::from_args(args);
    crate::scenario::conns::raise_fd_limit();
    if let Some(core) = plan.generator_core {
        server_proc::pin_self_to(core).map_err(|err| format!("pinning the generator: {err}"))?;
    }
    let specs = server_specs(args)?;
    let only: Option<Vec<String>> = args.only.as_ref().map(|list| list.split(',').map(str::to_string).collect());
    let mut all = Vec::new();
    for spec in specs {
        all.push(run_server(&plan, spec, only.as_deref()));
    }
    print_summary(&plan, &all);
    let failed = all.iter().any(|runs| !runs.failures.is_empty());
    let erred = all.iter().any(|runs| runs.runs.iter().any(|(_, result)| result.errors > 0));
    if failed || (plan.strict && erred) {
        return Err("some runs failed or counted errors (see above)".into());
    }
    Ok(())
}

fn server_specs(args: &CompareArgs) -> Result<Vec<ServerSpec>, String> {
    let mut specs = Vec::new();
    if !args.skip_switchyard {
        let program = args.switchyard.clone().unwrap_or_else(default_switchyard_path);
        if !program.exists() {
            return Err(format!(
                "{} not found: run `cargo build --release` in the repository root, or pass --switchyard or --skip-switchyard",
                program.display()
            ));
        }
        let mut server_args = vec!["--workers".to_string(), args.workers.to_string()];
        server_args.extend(args.switchyard_args.split_whitespace().map(str::to_string));
        specs.push(ServerSpec { name: "switchyard".into(), program, args: server_args });
    }
    if !args.skip_peers {
        let peer = peer_path()?;
        let base = vec!["--workers".to_string(), args.workers.to_string()];
        for name in chosen_peers(&args.peers)? {
            let extra: &[&str] = match name {
                "peer-4k" => &["--read-buffer-size", "4096"],
                "fastws" => &["--engine", "fastwebsockets"],
                _ => &[],
            };
            let mut peer_args = base.clone();
            peer_args.extend(extra.iter().map(|arg| arg.to_string()));
            specs.push(ServerSpec { name: name.into(), program: peer.clone(), args: peer_args });
        }
    }
    Ok(specs)
}

/// The peers `compare` knows: tokio-tungstenite with its default and a 4 KiB read buffer, and
/// fastwebsockets (all `peer-tokio`, engines and flags differing).
const PEERS: [&str; 3] = ["peer-default", "peer-4k", "fastws"];

/// The peers named in `--peers` (comma separated), in the order of `PEERS`.
fn chosen_peers(list: &str) -> Result<Vec<&'static str>, String> {
    let names: Vec<&str> = list.split(',').map(str::trim).filter(|name| !name.is_empty()).collect();
    if let Some(unknown) = names.iter().find(|name| !PEERS.contains(name)) {
        return Err(format!("unknown peer {unknown:?}: the peers are {}", PEERS.join(", ")));
    }
    Ok(PEERS.into_iter().filter(|peer| names.contains(peer)).collect())
}

fn default_switchyard_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/switchyard")
}

fn peer_path() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|err| err.to_string())?;
    let peer = exe.with_file_name("peer-tokio");
    if peer.exists() {
        Ok(peer)
    } else {
        Err(format!("{} not found: run `cargo build --release` in bench/", peer.display()))
    }
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::EchoOne => "echo-1",
        Step::EchoSixteen => "echo-16",
        Step::FanoutSmall => "fanout-small",
        Step::FanoutLarge => "fanout-large",
        Step::IdleConns => "conns",
        Step::OneChannelConns => "conns-one",
        Step::Storm => "storm",
        Step::Churn => "churn",
        Step::HalfRateLatency => "latency",
    }
}

fn run_server(plan: &Plan, spec: ServerSpec, only: Option<&[String]>) -> ServerRuns {
    let mut runs = ServerRuns { spec, runs: Vec::new(), failures: Vec::new() };
    for step in STEPS {
        if only.is_some_and(|names| !names.iter().any(|name| name == step_name(step))) {
            continue;
        }
        for rep in 1..=plan.reps {
            match run_on_a_quiet_machine(plan, &runs, step) {
                Ok(result) => {
                    print_run(&runs.spec.name, step, rep, &result);
                    runs.runs.push((step, result));
                }
                Err(err) => {
                    let failure = format!("{} {} rep {rep}: {err}", runs.spec.name, step_name(step));
                    eprintln!("FAILED {failure}");
                    runs.failures.push(failure);
                }
            }
        }
    }
    runs
}

/// Attempts at one run before keeping a result measured while other work was busy.
const ATTEMPTS: usize = 3;

/// Waits (a while) for the machine to be idle, runs, and runs again when other work
/// disturbed the measurement.
fn run_on_a_quiet_machine(plan: &Plan, runs: &ServerRuns, step: Step) -> Result<ScenarioResult, String> {
    let mut attempt = 1;
    loop {
        if plan.patient {
            wait_for_quiet_machine(Duration::from_secs(20));
        }
        let result = run_once(plan, runs, step)?;
        if !plan.patient || !result.cpu.machine_is_busy() || attempt == ATTEMPTS {
            return Ok(result);
        }
        let others = result.cpu.others.unwrap_or(0.0) * 100.0;
        println!("    (again: other work used {others:.0}% of a core during {})", step_name(step));
        attempt += 1;
    }
}

/// Returns once the machine runs less than a fifth of a core's worth of other work, or after
/// `limit` (saying so).
fn wait_for_quiet_machine(limit: Duration) {
    let until = std::time::Instant::now() + limit;
    let mut busy = 0.0;
    while std::time::Instant::now() < until {
        busy = crate::usage::machine_busy_cores(Duration::from_millis(250)).unwrap_or(0.0);
        if busy < 0.2 {
            return;
        }
    }
    println!("    (the machine stayed busy: {:.0}% of a core in use before the run)", busy * 100.0);
}

fn run_once(plan: &Plan, runs: &ServerRuns, step: Step) -> Result<ScenarioResult, String> {
    let server = RunningServer::start(&runs.spec, plan.server_cpus.as_deref()).map_err(|err| err.to_string())?;
    let common = Common {
        target: server.addr,
        server_pid: Some(server.pid()),
        warmup: plan.warmup,
        duration: plan.duration,
        connect_concurrency: 256,
        deflate: false,
    };
    let result = match step {
        Step::EchoOne => echo::run(&common, &echo_config(plan, 1)),
        Step::EchoSixteen => echo::run(&common, &echo_config(plan, 16)),
        Step::FanoutSmall => fanout::run(&common, &fanout_config(plan.fanout_small, None)),
        Step::FanoutLarge => fanout::run(&common, &fanout_config(plan.fanout_large, None)),
        Step::IdleConns => conns::run(&common, &conns_config(plan, plan.idle_conns, ChannelLayout::Each)),
        Step::OneChannelConns => {
            let layout = ChannelLayout::One(crate::scenario::BIG_CHANNEL.into());
            conns::run(&common, &conns_config(plan, plan.one_channel_conns, layout))
        }
        Step::Storm => storm::run(
            &common,
            &storm::StormConfig {
                clients: plan.storm_clients,
                channel: crate::scenario::BIG_CHANNEL.into(),
                phase_timeout: plan.phase_timeout,
                reconnect: true,
                expect_presence: true,
            },
        ),
        Step::Churn => churn::run(&common, &churn::ChurnConfig { concurrency: plan.churn_loops }),
        Step::HalfRateLatency => {
            let rate = half_max_rate(runs, plan).ok_or("no fanout-small result to take half the rate of")?;
            let mut config = fanout_config(plan.fanout_small, Some(rate));
            config.latency_sample_every = 1;
            fanout::run(&common, &config)
        }
    };
    drop(server);
    result.map_err(|err| err.to_string())
}

/// Idle connections in `layout`, RSS read the plan's hold time (3 s) after the last connect.
fn conns_config(plan: &Plan, count: usize, layout: ChannelLayout) -> conns::ConnsConfig {
    conns::ConnsConfig {
        conns: count,
        path: layout.path_template(),
        layout: layout.describe().into(),
        hold: plan.conns_hold,
    }
}

fn echo_config(plan: &Plan, in_flight: usize) -> echo::EchoConfig {
    echo::EchoConfig {
        conns: plan.echo_conns,
        in_flight,
        payload_bytes: 64,
        path: "/example/socket?ch=echo-{i}".into(),
        words: false,
    }
}

fn fanout_config(subscribers: usize, rate: Option<f64>) -> fanout::FanoutConfig {
    fanout::FanoutConfig {
        subscribers,
        publishers: 1,
        payload_bytes: 64,
        rate,
        window: 64,
        channel: "fan".into(),
        latency_sample_every: 8,
        words: false,
    }
}

/// Half the median maximum message rate this server reached in the small fan-out.
fn half_max_rate(runs: &ServerRuns, plan: &Plan) -> Option<f64> {
    let row = Row {
        step: Step::FanoutSmall,
        name: String::new(),
        metric: "messages/s".into(),
        unit: "",
        higher_is_better: true,
    };
    let _ = plan;
    median(&runs.values(&row)).map(|rate| rate / 2.0)
}

#[cfg(test)]
mod tests {
    use super::chosen_peers;

    #[test]
    fn peers_are_chosen_by_name_in_a_fixed_order() {
        assert_eq!(chosen_peers("fastws,peer-4k"), Ok(vec!["peer-4k", "fastws"]));
        assert_eq!(chosen_peers(""), Ok(vec![]));
        assert!(chosen_peers("peer-4k,uws").is_err());
    }
}
