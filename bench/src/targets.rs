//! The big-channel targets (issue 12) checked against a compare run's medians: the storm's
//! connect rate against switchyard's own rate with a channel per connection and against each
//! peer's storm, the observer's presence lag and echo round trip, and closes. Pure: it reads
//! medians through a lookup and decides; printing is the caller's.

use serde::Serialize;

/// One target: the measured value (None when a run is missing), its bound and the verdict.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Check {
    pub what: String,
    pub value: Option<f64>,
    pub unit: &'static str,
    /// `>=` or `<=`.
    pub relation: &'static str,
    pub bound: f64,
    pub met: Option<bool>,
}

impl Check {
    fn new(what: String, value: Option<f64>, unit: &'static str, relation: &'static str, bound: f64) -> Self {
        let met = value.map(|value| if relation == ">=" { value >= bound } else { value <= bound });
        Check { what, value, unit, relation, bound, met }
    }

    /// `what  value unit  (target >= bound)  met|MISSED|n/a`.
    pub fn line(&self) -> String {
        let value = self.value.map_or("-".to_string(), |value| format!("{value:.2}{}", self.unit));
        let verdict = match self.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a",
        };
        format!("  {:<58} {value:>12}  (target {} {}{})  {verdict}", self.what, self.relation, self.bound, self.unit)
    }
}

/// A median by server name, step name (`conns`, `conns-one`, `storm`) and metric name.
pub type Lookup<'a> = &'a dyn Fn(&str, &str, &str) -> Option<f64>;

fn ratio(top: Option<f64>, bottom: Option<f64>) -> Option<f64> {
    match (top, bottom) {
        (Some(top), Some(bottom)) if bottom > 0.0 => Some(top / bottom),
        _ => None,
    }
}

/// Every target for switchyard, with `peers` (server names) for the ratios against them.
pub fn storm_checks(lookup: Lookup<'_>, peers: &[String]) -> Vec<Check> {
    let ours = |step: &str, metric: &str| lookup("switchyard", step, metric);
    let each_rate = ours("conns", "connects+upgrades/s");
    let mut checks = vec![Check::new(
        "one-channel conns rate / own rate with a channel each".into(),
        ratio(ours("conns-one", "connects+upgrades/s"), each_rate),
        "x",
        ">=",
        0.8,
    )];
    for phase in ["storm", "wave"] {
        let rate = ours("storm", &format!("{phase} connects+upgrades/s"));
        checks.push(Check::new(
            format!("{phase} connects+upgrades / own rate with a channel each"),
            ratio(rate, each_rate),
            "x",
            ">=",
            0.8,
        ));
        for peer in peers {
            let theirs = lookup(peer, "storm", &format!("{phase} connects+upgrades/s"));
            checks.push(Check::new(
                format!("{phase} connects+upgrades / {peer}'s"),
                ratio(rate, theirs),
                "x",
                ">=",
                0.7,
            ));
        }
        let metric = |name: &str| ours("storm", &format!("{phase} {name}"));
        checks.push(Check::new(
            format!("{phase}: worst join lag at the observer"),
            metric("worst join lag"),
            " ms",
            "<=",
            1000.0,
        ));
        checks.push(Check::new(
            format!("{phase}: observer echo p99"),
            metric("echo p99").map(|us| us / 1000.0),
            " ms",
            "<=",
            50.0,
        ));
        checks.push(Check::new(
            format!("{phase}: slow-consumer closes"),
            metric("slow-consumer closes"),
            "",
            "<=",
            0.0,
        ));
        checks.push(Check::new(format!("{phase}: unexpected closes"), metric("unexpected closes"), "", "<=", 0.0));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(server: &str, step: &str, metric: &str) -> Option<f64> {
        match (server, step, metric) {
            ("switchyard", "conns", "connects+upgrades/s") => Some(10_000.0),
            ("switchyard", "conns-one", "connects+upgrades/s") => Some(400.0),
            ("switchyard", "storm", "storm connects+upgrades/s") => Some(9_000.0),
            ("switchyard", "storm", "storm worst join lag") => Some(1200.0),
            ("switchyard", "storm", "storm echo p99") => Some(20_000.0),
            ("switchyard", "storm", "storm slow-consumer closes") => Some(0.0),
            ("peer-4k", "storm", "storm connects+upgrades/s") => Some(15_000.0),
            _ => None,
        }
    }

    fn find<'a>(checks: &'a [Check], what: &str) -> &'a Check {
        checks.iter().find(|check| check.what == what).unwrap_or_else(|| panic!("no check {what}"))
    }

    #[test]
    fn decides_each_target() {
        let checks = storm_checks(&lookup, &["peer-4k".to_string()]);
        let own = find(&checks, "storm connects+upgrades / own rate with a channel each");
        assert_eq!((own.value, own.met), (Some(0.9), Some(true)));
        let one = find(&checks, "one-channel conns rate / own rate with a channel each");
        assert_eq!((one.value, one.met), (Some(0.04), Some(false)));
        let peer = find(&checks, "storm connects+upgrades / peer-4k's");
        assert_eq!((peer.value, peer.met), (Some(0.6), Some(false)));
        assert_eq!(find(&checks, "storm: worst join lag at the observer").met, Some(false));
        let echo = find(&checks, "storm: observer echo p99");
        assert_eq!((echo.value, echo.met), (Some(20.0), Some(true)));
        assert_eq!(find(&checks, "storm: slow-consumer closes").met, Some(true));
    }

    #[test]
    fn missing_runs_decide_nothing() {
        let checks = storm_checks(&lookup, &["peer-4k".to_string()]);
        let wave = find(&checks, "wave connects+upgrades / own rate with a channel each");
        assert_eq!((wave.value, wave.met), (None, None));
        assert!(wave.line().ends_with("n/a"), "{}", wave.line());
        assert_eq!(storm_checks(&|_, _, _| None, &[]).iter().filter(|check| check.met.is_some()).count(), 0);
    }
}
