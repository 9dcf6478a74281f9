//! Live forecast quality of one model version: a rolling window of scored points, each a
//! forecast step whose actual arrived after the forecast was published. MASE scales each error
//! by the series' in-sample seasonal-naive error (as `seer eval` does); the weighted quantile
//! loss is GluonTS's mean over the 0.1/0.5/0.9 levels of `2 Σ ρ_q / Σ |y|`; coverage is the
//! share of actuals inside [q0.1, q0.9].

use std::collections::VecDeque;

use seer_core::metrics::pinball;

/// The levels a scored forecast is asked for (the ingest's default quantiles).
pub const LEVELS: [f64; 3] = [0.1, 0.5, 0.9];

/// One forecast step against its actual.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// |y − ŷ| / scale; `None` when the series has no scale yet (too short, constant).
    pub scaled_error: Option<f64>,
    /// Mean over the levels present of 2·ρ_q(y − q̂); `None` when the forecast has no levels.
    pub quantile_loss: Option<f64>,
    pub abs_actual: f64,
    /// Whether y ∈ [q0.1, q0.9]; `None` without both levels.
    pub covered: Option<bool>,
}

impl Point {
    /// Scores one step: `mean` the point forecast, `quantiles` the (level, value) pairs given.
    pub fn score(actual: f64, mean: f64, quantiles: &[(f64, f64)], scale: Option<f64>) -> Point {
        let losses: Vec<f64> = quantiles
            .iter()
            .map(|&(l, q)| 2.0 * pinball(actual, q, l))
            .collect();
        let find = |level: f64| {
            quantiles
                .iter()
                .find(|(l, _)| (l - level).abs() < 1e-9)
                .map(|&(_, q)| q)
        };
        Point {
            scaled_error: scale.map(|s| (actual - mean).abs() / s),
            quantile_loss: (!losses.is_empty())
                .then(|| losses.iter().sum::<f64>() / losses.len() as f64),
            abs_actual: actual.abs(),
            covered: match (find(0.1), find(0.9)) {
                (Some(lo), Some(hi)) => Some(lo <= actual && actual <= hi),
                _ => None,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sums {
    scaled: f64,
    scaled_n: usize,
    loss: f64,
    loss_abs: f64,
    covered: usize,
    coverage_n: usize,
    n: usize,
}

impl Sums {
    fn add(&mut self, p: &Point, sign: f64) {
        let step = |n: &mut usize| {
            if sign > 0.0 { *n += 1 } else { *n -= 1 }
        };
        if let Some(e) = p.scaled_error {
            self.scaled += sign * e;
            step(&mut self.scaled_n);
        }
        if let Some(l) = p.quantile_loss {
            self.loss += sign * l;
            self.loss_abs += sign * p.abs_actual;
        }
        if let Some(c) = p.covered {
            if c {
                step(&mut self.covered);
            }
            step(&mut self.coverage_n);
        }
        step(&mut self.n);
    }

    fn mase(&self) -> Option<f64> {
        (self.scaled_n > 0).then(|| (self.scaled / self.scaled_n as f64).max(0.0))
    }
}

/// What a rolling window says.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    pub mase: Option<f64>,
    pub wql: Option<f64>,
    pub coverage_80: Option<f64>,
    pub points: usize,
    /// MASE over the most recent `recent` points only (the drift trigger's view).
    pub recent_mase: Option<f64>,
}

/// The rolling window of one version, with a shorter recent window inside it.
#[derive(Debug, Clone)]
pub struct Rolling {
    points: VecDeque<Point>,
    capacity: usize,
    recent: usize,
    all: Sums,
    latest: Sums,
    /// Points ever scored (the Prometheus counter's source).
    pub total: u64,
}

impl Rolling {
    pub fn new(capacity: usize, recent: usize) -> Rolling {
        let capacity = capacity.max(1);
        Rolling {
            points: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            recent: recent.clamp(1, capacity),
            all: Sums::default(),
            latest: Sums::default(),
            total: 0,
        }
    }

    pub fn push(&mut self, p: Point) {
        if self.points.len() == self.capacity
            && let Some(old) = self.points.pop_front()
        {
            self.all.add(&old, -1.0);
        }
        // the point leaving the recent window is the one `recent` places back
        if self.points.len() >= self.recent {
            let leaving = self.points[self.points.len() - self.recent];
            self.latest.add(&leaving, -1.0);
        }
        self.points.push_back(p);
        self.all.add(&p, 1.0);
        self.latest.add(&p, 1.0);
        self.total += 1;
    }

    pub fn summary(&self) -> Summary {
        let s = &self.all;
        Summary {
            mase: s.mase(),
            wql: (s.loss_abs > 0.0).then(|| (s.loss / s.loss_abs).max(0.0)),
            coverage_80: (s.coverage_n > 0).then(|| s.covered as f64 / s.coverage_n as f64),
            points: self.points.len(),
            recent_mase: self.latest.mase(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_scores_like_the_formulas() {
        let q = [(0.1, 8.0), (0.5, 10.0), (0.9, 12.0)];
        let p = Point::score(13.0, 10.0, &q, Some(2.0));
        assert_eq!(p.scaled_error, Some(1.5));
        // 2ρ: 0.1·5, 0.5·3, 0.9·1 → 2·(0.5 + 1.5 + 0.9) / 3
        let want = 2.0 * (0.5 + 1.5 + 0.9) / 3.0;
        assert!((p.quantile_loss.unwrap() - want).abs() < 1e-12);
        assert_eq!(p.covered, Some(false));
        let inside = Point::score(11.0, 10.0, &q, None);
        assert_eq!((inside.scaled_error, inside.covered), (None, Some(true)));
        let bare = Point::score(11.0, 10.0, &[], Some(1.0));
        assert_eq!((bare.quantile_loss, bare.covered), (None, None));
    }

    #[test]
    fn the_window_rolls_and_the_recent_part_follows_the_newest_points() {
        let mut r = Rolling::new(4, 2);
        assert_eq!(r.summary().mase, None);
        for e in [1.0, 1.0, 1.0, 1.0, 3.0, 3.0] {
            r.push(Point {
                scaled_error: Some(e),
                quantile_loss: Some(e),
                abs_actual: 10.0,
                covered: Some(e < 2.0),
            });
        }
        let s = r.summary();
        assert_eq!(s.points, 4);
        assert_eq!(r.total, 6);
        // window [1, 1, 3, 3]
        assert!((s.mase.unwrap() - 2.0).abs() < 1e-12);
        assert!((s.wql.unwrap() - 8.0 / 40.0).abs() < 1e-12);
        assert_eq!(s.coverage_80, Some(0.5));
        assert!((s.recent_mase.unwrap() - 3.0).abs() < 1e-12);
    }

    #[test]
    fn undefined_parts_stay_undefined() {
        let mut r = Rolling::new(10, 3);
        r.push(Point {
            scaled_error: None,
            quantile_loss: None,
            abs_actual: 0.0,
            covered: None,
        });
        let s = r.summary();
        assert_eq!(
            (s.mase, s.wql, s.coverage_80, s.points),
            (None, None, None, 1)
        );
    }
}
