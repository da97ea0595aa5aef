//! What `compare` prints: a line per run, the table of medians with switchyard ÷ peer ratios,
//! the big-channel targets and one JSON line. It measures nothing itself.

use serde::Serialize;

use super::{median, step_name, value_of, Plan, ServerRuns, Step};
use crate::report::{format_number, ScenarioResult};
use crate::targets;

/// One row of the table: a step and the number taken from its result.
pub(super) struct Row {
    pub(super) step: Step,
    pub(super) name: String,
    pub(super) metric: String,
    pub(super) unit: &'static str,
    pub(super) higher_is_better: bool,
}

fn rows(plan: &Plan) -> Vec<Row> {
    let row = |step, name: String, metric: &str, unit, higher_is_better| Row {
        step,
        name,
        metric: metric.to_string(),
        unit,
        higher_is_better,
    };
    vec![
        row(Step::EchoOne, format!("echo {} conns x 1 in flight", plan.echo_conns), "echo msgs/s", "msgs/s", true),
        row(Step::EchoSixteen, format!("echo {} conns x 16 in flight", plan.echo_conns), "echo msgs/s", "msgs/s", true),
        row(Step::FanoutSmall, format!("fanout 1 -> {}", plan.fanout_small), "deliveries/s", "deliv/s", true),
        row(Step::FanoutLarge, format!("fanout 1 -> {}", plan.fanout_large), "deliveries/s", "deliv/s", true),
        row(
            Step::IdleConns,
            format!("RSS per idle conn ({} held, a channel each)", plan.idle_conns),
            "server RSS per connection",
            "KiB",
            false,
        ),
        row(
            Step::IdleConns,
            format!("connects+upgrades ({}, a channel each)", plan.idle_conns),
            "connects+upgrades/s",
            "conns/s",
            true,
        ),
        row(
            Step::OneChannelConns,
            format!("RSS per idle conn ({} held, one channel)", plan.one_channel_conns),
            "server RSS per connection",
            "KiB",
            false,
        ),
        row(
            Step::OneChannelConns,
            format!("connects+upgrades ({}, one channel)", plan.one_channel_conns),
            "connects+upgrades/s",
            "conns/s",
            true,
        ),
        row(
            Step::IdleConns,
            format!("server CPU per connect ({}, a channel each)", plan.idle_conns),
            "server CPU per connection",
            "us",
            false,
        ),
        row(
            Step::OneChannelConns,
            format!("server CPU per connect ({}, one channel)", plan.one_channel_conns),
            "server CPU per connection",
            "us",
            false,
        ),
        row(
            Step::Churn,
            format!("churn ({} loops) connect/chat/close", plan.churn_loops),
            "cycles/s",
            "cycles/s",
            true,
        ),
        row(
            Step::HalfRateLatency,
            format!("p99 delivery latency, 1 -> {} at half max", plan.fanout_small),
            "p99",
            "us",
            false,
        ),
    ]
    .into_iter()
    .chain(storm_rows(plan))
    .collect()
}

/// The storm's rows: both phases.
fn storm_rows(plan: &Plan) -> Vec<Row> {
    let n = plan.storm_clients;
    let rows = [
        ("connects+upgrades/s", "conns/s", true),
        ("presence lag", "ms", false),
        ("worst join lag", "ms", false),
        ("echo p50", "us", false),
        ("echo p99", "us", false),
        ("slow-consumer closes", "closes", false),
        ("frames received", "frames", false),
        ("bytes received", "B", false),
        ("server CPU", "s", false),
        ("server CPU per join", "us", false),
    ];
    let mut out = Vec::new();
    for (phase, title) in [("storm", format!("storm {n} -> one channel")), ("wave", format!("reconnect wave {n}"))] {
        for (metric, unit, higher_is_better) in rows {
            out.push(Row {
                step: Step::Storm,
                name: format!("{title}: {metric}"),
                metric: format!("{phase} {metric}"),
                unit,
                higher_is_better,
            });
        }
    }
    out
}
pub(super) fn print_run(server: &str, step: Step, rep: usize, result: &ScenarioResult) {
    let headline: Vec<String> = result
        .metrics
        .iter()
        .filter(|metric| in_headline(step, &metric.name))
        .map(|metric| format!("{} {}", format_number(metric.value), metric.unit))
        .collect();
    let p99 = result.latency.map_or(String::new(), |latency| format!(", p99 {:.0} us", latency.p99_us));
    let percent = |share: Option<f64>| share.map_or("n/a".into(), |share| format!("{:.0}%", share * 100.0));
    let (server_cpu, others_cpu) = (percent(result.cpu.server), percent(result.cpu.others));
    println!(
        "{server:<13} {:<13} rep {rep}: {}{p99} (cpu: generator {:.0}%, server {server_cpu}, others {others_cpu}) errors {}",
        step_name(step),
        headline.join(", "),
        result.cpu.generator * 100.0,
        result.errors
    );
    for note in result.notes.iter().filter(|note| result.errors > 0 || note.starts_with("WARNING")) {
        println!("    {note}");
    }
}

/// The storm reports many figures; a run's line shows the main ones.
fn in_headline(step: Step, metric: &str) -> bool {
    const STORM: [&str; 4] = ["connects+upgrades/s", "worst join lag", "echo p99", "slow-consumer closes"];
    step != Step::Storm || STORM.iter().any(|name| metric.ends_with(name))
}

#[derive(Serialize)]
struct JsonRow {
    scenario: String,
    metric: String,
    unit: &'static str,
    higher_is_better: bool,
    servers: Vec<JsonServer>,
}

#[derive(Serialize)]
struct JsonServer {
    server: String,
    median: Option<f64>,
    runs: Vec<f64>,
    errors: u64,
    switchyard_ratio: Option<f64>,
    /// Medians of the CPU shares (1.0 = one core) over the runs.
    generator_cpu: Option<f64>,
    server_cpu: Option<f64>,
    others_cpu: Option<f64>,
}

pub(super) fn print_summary(plan: &Plan, all: &[ServerRuns]) {
    let switchyard = all.iter().find(|runs| runs.spec.name == "switchyard");
    println!();
    println!(
        "medians of {} run(s); server on core {:?}, generator on core {:?}",
        plan.reps, plan.server_cpus, plan.generator_core
    );
    let mut header = format!("{:<44}", "scenario");
    for runs in all {
        header += &format!(" {:>14}", runs.spec.name);
    }
    if switchyard.is_some() {
        for runs in all.iter().filter(|runs| runs.spec.name != "switchyard") {
            header += &format!(" {:>16}", format!("sy/{}", runs.spec.name));
        }
    }
    println!("{header}");
    let mut json_rows = Vec::new();
    for row in rows(plan) {
        if all.iter().all(|runs| runs.values(&row).is_empty()) {
            continue;
        }
        let (line, json) = summary_row(&row, all, switchyard);
        println!("{line}");
        json_rows.push(json);
    }
    println!("ratios are switchyard / peer: above 1 is better for rates; for RSS and latency below 1 is better");
    let checks = print_targets(all);
    for failure in all.iter().flat_map(|runs| &runs.failures) {
        println!("FAILED {failure}");
    }
    let json = serde_json::json!({
        "compare": json_rows,
        "targets": checks,
        "reps": plan.reps,
        "duration_s": plan.duration.as_secs_f64(),
        "machine": machine_description(),
    });
    println!("{json}");
}

/// The big-channel targets, when switchyard's storm or conns ran; printed and returned.
fn print_targets(all: &[ServerRuns]) -> Vec<targets::Check> {
    let lookup = |server: &str, step: &str, metric: &str| {
        let runs = all.iter().find(|runs| runs.spec.name == server)?;
        let values: Vec<f64> = runs
            .runs
            .iter()
            .filter(|(ran, _)| step_name(*ran) == step)
            .filter_map(|(_, result)| value_of(result, metric))
            .collect();
        median(&values)
    };
    let peers: Vec<String> =
        all.iter().map(|runs| runs.spec.name.clone()).filter(|name| name != "switchyard").collect();
    let checks = targets::storm_checks(&lookup, &peers);
    if checks.iter().any(|check| check.value.is_some()) {
        println!("big-channel targets (issue 12), medians:");
        for check in &checks {
            println!("{}", check.line());
        }
    }
    checks
}

fn summary_row(row: &Row, all: &[ServerRuns], switchyard: Option<&ServerRuns>) -> (String, JsonRow) {
    let label = format!("{} ({})", row.name, row.unit);
    let mut line = format!("{label:<44}");
    let switchyard_median = switchyard.and_then(|runs| median(&runs.values(row)));
    let mut servers = Vec::new();
    for runs in all {
        let values = runs.values(row);
        let value = median(&values);
        let errors = runs.errors(row.step);
        let mark = if errors > 0 { "!" } else { "" };
        line += &format!(" {:>14}", value.map_or("-".into(), |v| format!("{}{mark}", format_number(v))));
        let switchyard_ratio = match (switchyard_median, value) {
            (Some(ours), Some(theirs)) if theirs > 0.0 && runs.spec.name != "switchyard" => Some(ours / theirs),
            _ => None,
        };
        let [generator_cpu, server_cpu, others_cpu] = runs.cpu_medians(row.step);
        servers.push(JsonServer {
            server: runs.spec.name.clone(),
            median: value,
            runs: values,
            errors,
            switchyard_ratio,
            generator_cpu,
            server_cpu,
            others_cpu,
        });
    }
    if switchyard.is_some() {
        for server in servers.iter().filter(|server| server.server != "switchyard") {
            line += &format!(" {:>16}", server.switchyard_ratio.map_or("-".into(), |ratio| format!("{ratio:.2}x")));
        }
    }
    let json = JsonRow {
        scenario: row.name.clone(),
        metric: row.metric.clone(),
        unit: row.unit,
        higher_is_better: row.higher_is_better,
        servers,
    };
    (line, json)
}

/// The CPU model, core count and kernel, for the record.
fn machine_description() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|text| text.trim().to_string()).ok();
    // Online cores, not this process's affinity (the generator is pinned to one by now).
    // SAFETY: sysconf with a valid name has no preconditions.
    let cores = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    serde_json::json!({ "cpu": model, "cores": cores, "kernel": kernel })
}
