//! What a scenario run produces ([`ScenarioResult`]) and how it is shown: a human-readable
//! table on stdout and one JSON line.

use serde::Serialize;

use crate::histogram::LatencySummary;
use crate::usage::CpuShares;

/// One headline number of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub higher_is_better: bool,
}

impl Metric {
    pub fn higher(name: &str, value: f64, unit: &'static str) -> Self {
        Metric { name: name.into(), value, unit, higher_is_better: true }
    }

    pub fn lower(name: &str, value: f64, unit: &'static str) -> Self {
        Metric { name: name.into(), value, unit, higher_is_better: false }
    }
}

/// Everything one scenario run measured.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub setup: String,
    pub metrics: Vec<Metric>,
    pub latency: Option<LatencySummary>,
    pub cpu: CpuShares,
    pub errors: u64,
    pub notes: Vec<String>,
}

impl ScenarioResult {
    pub fn new(scenario: &str, setup: String) -> Self {
        ScenarioResult {
            scenario: scenario.into(),
            setup,
            metrics: Vec::new(),
            latency: None,
            cpu: CpuShares::default(),
            errors: 0,
            notes: Vec::new(),
        }
    }

    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.iter().find(|metric| metric.name == name).map(|metric| metric.value)
    }

    /// Adds the generator-bottleneck and busy-machine warnings when the CPU figures call for it.
    pub fn note_bottleneck(&mut self) {
        if self.cpu.machine_is_busy() {
            self.notes.push(format!(
                "WARNING: other work on the machine used {:.0}% of a core during the run: figures are noisy",
                self.cpu.others.unwrap_or(0.0) * 100.0
            ));
        }
        if self.cpu.generator_is_bottleneck() {
            self.notes.push(format!(
                "WARNING: the generator used {:.0}% of its core: it, not the server, may be the limit",
                self.cpu.generator * 100.0
            ));
        }
    }

    /// Prints the table and the JSON line.
    pub fn print(&self) {
        println!("{}", self.table());
        match serde_json::to_string(self) {
            Ok(json) => println!("{json}"),
            Err(err) => eprintln!("cannot encode the result as JSON: {err}"),
        }
    }

    fn table(&self) -> String {
        let mut out = format!("== {} ({})\n", self.scenario, self.setup);
        for metric in &self.metrics {
            out += &format!("  {:<28} {:>14} {}\n", metric.name, format_number(metric.value), metric.unit);
        }
        if let Some(latency) = &self.latency {
            out += &format!(
                "  {:<28} p50 {:.0} / p90 {:.0} / p99 {:.0} / p99.9 {:.0} / max {:.0} us ({} samples)\n",
                "latency",
                latency.p50_us,
                latency.p90_us,
                latency.p99_us,
                latency.p999_us,
                latency.max_us,
                latency.samples
            );
        }
        let server_cpu = self.cpu.server.map_or("n/a".to_string(), |share| format!("{:.0}%", share * 100.0));
        let others = self.cpu.others.map_or("n/a".to_string(), |share| format!("{:.0}%", share * 100.0));
        out += &format!(
            "  {:<28} generator {:.0}%, server {server_cpu}, others {others}\n",
            "cpu (of one core)",
            self.cpu.generator * 100.0
        );
        out += &format!("  {:<28} {}\n", "errors", self.errors);
        for note in &self.notes {
            out += &format!("  {note}\n");
        }
        out
    }
}

/// 1234567.8 -> "1,234,568"; small values keep two decimals.
pub fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".into();
    }
    if value.abs() < 100.0 {
        return format!("{value:.2}");
    }
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0.0 {
        grouped.insert(0, '-');
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers() {
        assert_eq!(format_number(1234567.8), "1,234,568");
        assert_eq!(format_number(512.0), "512");
        assert_eq!(format_number(7.123), "7.12");
    }
}
