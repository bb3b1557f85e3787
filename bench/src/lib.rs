//! Statistics for the cycle-count benchmarks: every figure the benchmarks
//! report (min, median, mean, standard deviation) comes from here, so all
//! paths are summarised the same way.

/// Summary of one benchmark case's samples, in cycles.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub samples: usize,
    pub min: u64,
    pub max: u64,
    pub median: f64,
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator).
    pub stddev: f64,
}

/// Summarises `samples`; `None` when there are none.
pub fn summarise(samples: &[u64]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let median = if n % 2 == 1 { sorted[n / 2] as f64 } else { (sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0 };
    let mean = sorted.iter().map(|&s| s as f64).sum::<f64>() / n as f64;
    let stddev = if n > 1 {
        let var = sorted.iter().map(|&s| (s as f64 - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        var.sqrt()
    } else {
        0.0
    };
    Some(Summary { samples: n, min: sorted[0], max: sorted[n - 1], median, mean, stddev })
}

/// Subtracts the measured overhead of the timing itself from each sample,
/// never going below zero.
pub fn subtract_overhead(samples: &mut [u64], overhead: u64) {
    for s in samples {
        *s = s.saturating_sub(overhead);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_samples() {
        let s = summarise(&[4, 8, 6, 2]).unwrap();
        assert_eq!((s.samples, s.min, s.max), (4, 2, 8));
        assert_eq!(s.median, 5.0);
        assert_eq!(s.mean, 5.0);
        assert!((s.stddev - (20.0f64 / 3.0).sqrt()).abs() < 1e-12);
        let odd = summarise(&[9, 1, 5]).unwrap();
        assert_eq!(odd.median, 5.0);
    }

    #[test]
    fn single_and_empty() {
        assert_eq!(summarise(&[]), None);
        let one = summarise(&[7]).unwrap();
        assert_eq!((one.median, one.mean, one.stddev), (7.0, 7.0, 0.0));
    }

    #[test]
    fn overhead_saturates() {
        let mut v = [10, 3, 50];
        subtract_overhead(&mut v, 5);
        assert_eq!(v, [5, 0, 45]);
    }
}
