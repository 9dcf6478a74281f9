//! Live per-series baseline selection (docs/training.md, "Online fine-tuning"): for every series
//! the active version answers, its live quantile loss beside the seasonal naive's forecast from
//! the same origin, so the trainer can leave a series to the seasonal naive once the model is
//! measurably worse on it, and give it back when a new version beats the naive there.

use seer_core::naive::seasonal_naive_forecast;

/// What the selection needs to call a series worse: enough points, by enough.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelectionRule {
    /// Scored forecast steps (exponentially weighted) a series needs before it can be left to
    /// the seasonal naive.
    pub min_points: f64,
    /// How fast old points fade: a point's weight halves after this many newer ones.
    pub half_life_points: f64,
    /// The seasonal naive must beat the model's quantile loss by this fraction.
    pub margin: f64,
}

impl SelectionRule {
    fn decay(&self) -> f64 {
        0.5f64.powf(1.0 / self.half_life_points.max(1.0))
    }
}

/// One series' exponentially weighted live quantile losses: the model's and the seasonal
/// naive's on the same forecast steps.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Versus {
    weight: f64,
    model: f64,
    naive: f64,
}

impl Versus {
    pub fn push(&mut self, model_loss: f64, naive_loss: f64, rule: &SelectionRule) {
        if !(model_loss.is_finite() && naive_loss.is_finite()) {
            return;
        }
        let d = rule.decay();
        self.weight = self.weight * d + 1.0;
        self.model = self.model * d + model_loss;
        self.naive = self.naive * d + naive_loss;
    }

    /// Weighted points behind the comparison.
    pub fn points(&self) -> f64 {
        self.weight
    }

    /// Mean quantile losses (model, naive), `None` before any point.
    pub fn losses(&self) -> Option<(f64, f64)> {
        (self.weight > 0.0).then(|| (self.model / self.weight, self.naive / self.weight))
    }

    /// Whether the seasonal naive did better than the model by the rule's margin, on enough
    /// points to say so.
    pub fn naive_better(&self, rule: &SelectionRule) -> bool {
        self.weight >= rule.min_points && self.naive < self.model * (1.0 - rule.margin)
    }
}

/// The seasonal naive's quantiles at `levels` for the `horizon` steps after the last of
/// `values` (the series up to a forecast's origin), `[step][level]` as (level, value) pairs,
/// exactly as the engine would have answered from that window; `None` without intervals.
pub fn naive_steps(
    values: &[f64],
    season: usize,
    horizon: usize,
    levels: &[f64],
) -> Option<Vec<Vec<(f64, f64)>>> {
    let (_, per_level) = seasonal_naive_forecast(values, season, horizon, levels)?;
    if per_level.len() != levels.len() || levels.is_empty() {
        return None;
    }
    Some(
        (0..horizon)
            .map(|k| {
                levels
                    .iter()
                    .zip(&per_level)
                    .map(|(&l, row)| (l, row[k]))
                    .collect()
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: SelectionRule = SelectionRule {
        min_points: 4.0,
        half_life_points: f64::INFINITY,
        margin: 0.1,
    };

    #[test]
    fn a_series_is_left_to_the_naive_only_on_enough_points_by_the_margin() {
        let mut v = Versus::default();
        for _ in 0..3 {
            v.push(2.0, 1.0, &RULE);
        }
        assert!(!v.naive_better(&RULE), "3 points are not enough");
        v.push(2.0, 1.0, &RULE);
        assert!(v.naive_better(&RULE));
        let mut close = Versus::default();
        for _ in 0..10 {
            close.push(1.0, 0.95, &RULE);
        }
        assert!(!close.naive_better(&RULE), "5% better is inside the margin");
        let (m, n) = close.losses().unwrap();
        assert!((m - 1.0).abs() < 1e-12 && (n - 0.95).abs() < 1e-12);
        close.push(f64::NAN, 0.0, &RULE);
        assert!(
            (close.points() - 10.0).abs() < 1e-9,
            "non-finite losses are skipped"
        );
    }

    #[test]
    fn old_points_fade_so_a_recovered_model_wins_back() {
        let rule = SelectionRule {
            half_life_points: 5.0,
            ..RULE
        };
        let mut v = Versus::default();
        for _ in 0..50 {
            v.push(3.0, 1.0, &rule);
        }
        assert!(v.naive_better(&rule));
        for _ in 0..30 {
            v.push(0.5, 1.0, &rule);
        }
        assert!(!v.naive_better(&rule));
        // the weight converges to 1 / (1 − d), about 7.7 for a half-life of 5
        assert!((v.points() - 1.0 / (1.0 - rule.decay())).abs() < 0.1);
    }

    #[test]
    fn the_naive_steps_are_the_engines_seasonal_naive() {
        // season 2: the last season repeated; seasonal differences all 2 → quantiles mean + 2
        let values = [1.0, 5.0, 3.0, 7.0, 5.0, 9.0];
        let steps = naive_steps(&values, 2, 3, &[0.5]).unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0], [(0.5, 7.0)]);
        assert_eq!(steps[1], [(0.5, 11.0)]);
        // the second season ahead widens by √2
        assert!((steps[2][0].1 - (5.0 + 2.0 * 2f64.sqrt())).abs() < 1e-12);
        assert!(naive_steps(&[f64::NAN, f64::NAN], 2, 2, &[0.5]).is_none());
        assert!(naive_steps(&values, 2, 2, &[]).is_none());
    }
}
