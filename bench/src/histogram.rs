//! A fixed-size log-linear latency histogram (nanoseconds in, percentiles out): recording is
//! an index computation and an increment, with no allocation after construction.

/// Sub-buckets per power of two: about 3 % relative precision.
const SUB_BUCKET_BITS: u32 = 5;
const SUB_BUCKETS: usize = 1 << SUB_BUCKET_BITS;
const BUCKET_COUNT: usize = (64 - SUB_BUCKET_BITS as usize + 1) * SUB_BUCKETS;

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; BUCKET_COUNT], total: 0, max: 0 }
    }
}

impl Histogram {
    #[inline]
    pub fn record(&mut self, nanos: u64) {
        self.counts[bucket_of(nanos)] += 1;
        self.total += 1;
        self.max = self.max.max(nanos);
    }

    /// The value at quantile `q` (0.0..=1.0), in nanoseconds; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return upper_bound_of(bucket).min(self.max);
            }
        }
        self.max
    }

    /// Latency summary in microseconds.
    pub fn summary(&self) -> LatencySummary {
        let micros = |q| self.quantile(q) as f64 / 1000.0;
        LatencySummary {
            samples: self.total,
            p50_us: micros(0.50),
            p90_us: micros(0.90),
            p99_us: micros(0.99),
            p999_us: micros(0.999),
            max_us: self.max as f64 / 1000.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct LatencySummary {
    pub samples: u64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

#[inline]
fn bucket_of(value: u64) -> usize {
    if value < SUB_BUCKETS as u64 {
        return value as usize;
    }
    let magnitude = 63 - value.leading_zeros(); // >= SUB_BUCKET_BITS
    let shift = magnitude - SUB_BUCKET_BITS;
    let sub = (value >> shift) as usize & (SUB_BUCKETS - 1);
    ((shift + 1) as usize) * SUB_BUCKETS + sub
}

fn upper_bound_of(bucket: usize) -> u64 {
    if bucket < SUB_BUCKETS {
        return bucket as u64;
    }
    let shift = (bucket / SUB_BUCKETS - 1) as u32;
    let sub = (bucket % SUB_BUCKETS) as u64;
    (((SUB_BUCKETS as u64) | sub) << shift) + (1u64 << shift) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_precision() {
        let mut histogram = Histogram::default();
        for value in 1..=100_000u64 {
            histogram.record(value * 1000);
        }
        let p50 = histogram.quantile(0.5) as f64;
        let p99 = histogram.quantile(0.99) as f64;
        assert!((p50 / 50_000_000.0 - 1.0).abs() < 0.04, "{p50}");
        assert!((p99 / 99_000_000.0 - 1.0).abs() < 0.04, "{p99}");
        assert_eq!(histogram.quantile(1.0), 100_000_000);
    }

    #[test]
    fn buckets_are_monotonic() {
        let mut last = 0;
        for value in (0..1_000_000u64).step_by(7) {
            let bucket = bucket_of(value);
            assert!(bucket >= last);
            assert!(upper_bound_of(bucket) >= value);
            last = bucket;
        }
        assert!(bucket_of(u64::MAX) < BUCKET_COUNT);
    }
}
