//! The trainer's decisions, as pure functions: when a round is due, whether a candidate beats
//! the active version, and whether a promoted version must be rolled back.

use std::time::Duration;

use seer_core::metrics::AccuracySummary;

use crate::quality::Summary;

/// Why a round starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The active version's recent error rose past its window's by the drift ratio.
    Drift,
    Points,
    Time,
}

impl Trigger {
    pub fn label(&self) -> &'static str {
        match self {
            Trigger::Drift => "drift",
            Trigger::Points => "points",
            Trigger::Time => "time",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub every_points: u64,
    pub every: Duration,
    pub min_new_windows: usize,
    pub drift_ratio: f64,
    pub drift_points: usize,
}

impl Schedule {
    /// Whether a round is due: enough new windows, and drift, the point count or the time.
    pub fn due(
        &self,
        scored_since: u64,
        since_last: Duration,
        new_windows: usize,
        active: Option<&Summary>,
    ) -> Option<Trigger> {
        if new_windows < self.min_new_windows {
            return None;
        }
        let drifting = active.is_some_and(|s| {
            s.points >= 2 * self.drift_points
                && matches!((s.recent_mase, s.mase), (Some(r), Some(m)) if r > self.drift_ratio * m)
        });
        if drifting {
            Some(Trigger::Drift)
        } else if scored_since >= self.every_points {
            Some(Trigger::Points)
        } else if since_last >= self.every {
            Some(Trigger::Time)
        } else {
            None
        }
    }
}

/// The mean weighted quantile loss over the levels a summary holds.
pub fn mean_wql(s: &AccuracySummary) -> Option<f64> {
    (!s.quantile_loss.is_empty())
        .then(|| s.quantile_loss.iter().map(|(_, l)| l).sum::<f64>() / s.quantile_loss.len() as f64)
}

/// What the gate decided about a candidate.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Promote,
    /// Not better by the margin on both metrics.
    Worse(String),
    /// A metric of the candidate (or of the active version) is not defined or not finite.
    Undefined(String),
}

impl Verdict {
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Promote => "promoted",
            Verdict::Worse(_) => "discarded_worse",
            Verdict::Undefined(_) => "discarded_undefined",
        }
    }
}

/// Promote only when the candidate is better than the active version by `margin` (a fraction)
/// on both MASE and the weighted quantile loss, on the same holdout windows.
pub fn judge(candidate: &AccuracySummary, active: &AccuracySummary, margin: f64) -> Verdict {
    let pair = |s: &AccuracySummary| match (s.mase, mean_wql(s)) {
        (Some(m), Some(w)) if m.is_finite() && w.is_finite() => Some((m, w)),
        _ => None,
    };
    let Some((cm, cw)) = pair(candidate) else {
        return Verdict::Undefined("the candidate's MASE or wQL is not defined".into());
    };
    let Some((am, aw)) = pair(active) else {
        return Verdict::Undefined("the active version's MASE or wQL is not defined".into());
    };
    let keep = 1.0 - margin;
    if cm <= am * keep && cw <= aw * keep {
        Verdict::Promote
    } else {
        Verdict::Worse(format!(
            "MASE {cm:.4} vs {am:.4}, wQL {cw:.4} vs {aw:.4} (needs both {:.0}% better)",
            margin * 100.0
        ))
    }
}

/// After a promotion: `None` while the new version has fewer than `min_points` scored points
/// (or either MASE is not defined); then whether its live MASE is worse than the previous
/// version's by more than `margin`.
pub fn rollback_due(
    new: &Summary,
    previous_mase: Option<f64>,
    min_points: usize,
    margin: f64,
) -> Option<bool> {
    if new.points < min_points {
        return None;
    }
    let (n, p) = (new.mase?, previous_mase?);
    Some(n > p * (1.0 + margin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(mase: Option<f64>, wql: &[f64]) -> AccuracySummary {
        AccuracySummary {
            mase,
            smape: None,
            nd: None,
            nrmse: None,
            crps: None,
            quantile_loss: wql
                .iter()
                .enumerate()
                .map(|(i, &l)| (0.1 + i as f64 * 0.4, l))
                .collect(),
            coverage_80: None,
            count: 1,
            observations: 1,
            mase_undefined: 0,
        }
    }

    #[test]
    fn a_candidate_must_win_on_both_metrics_by_the_margin() {
        let active = acc(Some(1.0), &[0.2, 0.2, 0.2]);
        assert_eq!(
            judge(&acc(Some(0.9), &[0.1, 0.1, 0.1]), &active, 0.05),
            Verdict::Promote
        );
        // better MASE, worse wQL
        assert_eq!(
            judge(&acc(Some(0.5), &[0.3, 0.3, 0.3]), &active, 0.05).label(),
            "discarded_worse"
        );
        // better on both, but within the margin
        assert_eq!(
            judge(&acc(Some(0.97), &[0.195, 0.195, 0.195]), &active, 0.05).label(),
            "discarded_worse"
        );
        assert_eq!(
            judge(&acc(Some(f64::NAN), &[0.1]), &active, 0.05).label(),
            "discarded_undefined"
        );
        assert_eq!(
            judge(&acc(None, &[0.1]), &active, 0.05).label(),
            "discarded_undefined"
        );
        assert_eq!(
            judge(&acc(Some(0.1), &[0.1]), &acc(None, &[]), 0.0).label(),
            "discarded_undefined"
        );
    }

    #[test]
    fn rollback_waits_for_enough_points_then_compares() {
        let s = |mase, points| Summary {
            mase: Some(mase),
            points,
            ..Summary::default()
        };
        assert_eq!(rollback_due(&s(2.0, 10), Some(1.0), 100, 0.1), None);
        assert_eq!(rollback_due(&s(2.0, 100), Some(1.0), 100, 0.1), Some(true));
        assert_eq!(
            rollback_due(&s(1.05, 100), Some(1.0), 100, 0.1),
            Some(false)
        );
        assert_eq!(rollback_due(&s(2.0, 100), None, 100, 0.1), None);
    }

    #[test]
    fn drift_comes_first_then_points_then_time() {
        let sched = Schedule {
            every_points: 100,
            every: Duration::from_secs(60),
            min_new_windows: 4,
            drift_ratio: 1.5,
            drift_points: 10,
        };
        let calm = Summary {
            mase: Some(1.0),
            recent_mase: Some(1.1),
            points: 50,
            ..Summary::default()
        };
        let drifting = Summary {
            recent_mase: Some(2.0),
            ..calm
        };
        let z = Duration::ZERO;
        assert_eq!(sched.due(0, z, 3, Some(&drifting)), None, "too few windows");
        assert_eq!(sched.due(0, z, 4, Some(&drifting)), Some(Trigger::Drift));
        assert_eq!(sched.due(0, z, 4, Some(&calm)), None);
        assert_eq!(sched.due(100, z, 4, Some(&calm)), Some(Trigger::Points));
        assert_eq!(
            sched.due(0, Duration::from_secs(60), 4, None),
            Some(Trigger::Time)
        );
        // a window too short to tell drift from noise
        let young = Summary {
            points: 15,
            ..drifting
        };
        assert_eq!(sched.due(0, z, 4, Some(&young)), None);
    }
}
