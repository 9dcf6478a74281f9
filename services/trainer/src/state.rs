//! What the trainer knows about the stream, with no Kafka or GPU: each series' window on the
//! model's grid, the published forecasts still waiting for their actuals, live quality per
//! model version, and the replay buffer the windows feed. Scoring is leak-free: a forecast step
//! is scored only against an actual that is in the window after the forecast was published,
//! never against anything the forecast could have read.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use seer_core::stream::{FastMap, Placement, SeriesWindow};
use seer_core::time::Frequency;
use seer_model::History;
use seer_proto::v1::Forecast;

use crate::quality::{Point, Rolling};
use crate::replay::{ReplayBuffer, Segment};
use crate::selection::{SelectionRule, Versus, naive_steps};

/// Published forecasts of one series kept waiting for their actuals at most.
const MAX_PENDING: usize = 8;

/// Why an observation did not reach the trainer's windows (the metric's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// NaN or ±Inf: never reaches the weights.
    NonFinite,
    /// Late, off the model's grid, or beyond single precision.
    Rejected(&'static str),
}

impl Skipped {
    pub fn label(&self) -> &'static str {
        match self {
            Skipped::NonFinite => "non_finite",
            Skipped::Rejected(r) => r,
        }
    }
}

#[derive(Debug, Clone)]
struct Step {
    ts: i64,
    mean: f64,
    quantiles: Vec<(f64, f64)>,
    /// The seasonal naive's quantiles for this step from the same origin (the selected
    /// version's forecasts only; empty otherwise).
    naive: Vec<(f64, f64)>,
}

#[derive(Debug, Clone)]
struct Pending {
    version: usize,
    steps: VecDeque<Step>,
    scale: Option<f64>,
}

struct SeriesState {
    window: SeriesWindow,
    pending: VecDeque<Pending>,
    /// Grid points advanced since the last window went to the replay buffer.
    since_capture: usize,
    /// Seasonal-naive errors |y_t − y_{t−m}| over the series' history, for MASE's scale: lag m
    /// = the season, and lag 1 for a series younger than a season (`seer eval`'s rule).
    naive_season: (f64, u64),
    naive_step: (f64, u64),
    /// The selected version's live quantile loss beside the seasonal naive's.
    versus: Versus,
}

impl SeriesState {
    /// MASE's scale: the in-sample seasonal-naive error of everything read so far.
    fn scale(&self) -> Option<f64> {
        let (sum, n) = if self.naive_season.1 > 0 {
            self.naive_season
        } else {
            self.naive_step
        };
        let s = sum / n.max(1) as f64;
        (n > 0 && s > 0.0 && s.is_finite()).then_some(s)
    }
}

/// The shapes the trainer works with, from the model's config.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub freq: Frequency,
    pub context: usize,
    pub horizon: usize,
    /// MASE's seasonal lag.
    pub season: usize,
}

impl Shape {
    /// Points of a replay window: long enough that the training sampler, which keeps each
    /// window's last horizon out, still draws windows with a full context.
    pub fn segment_len(&self) -> usize {
        2 * (self.context + self.horizon) + 2
    }

    /// Points of a series' window: a replay window, a season back for MASE's scale, and a
    /// season before a horizon, so the seasonal naive the selection backtests against reads its
    /// season as the engine's does.
    pub fn window_len(&self) -> usize {
        self.segment_len().max(self.season + self.horizon + 1)
    }
}

pub struct StreamState {
    shape: Shape,
    window_points: usize,
    drift_points: usize,
    series: FastMap<Arc<str>, SeriesState>,
    /// (model, version) of each index a Pending refers to.
    versions: Vec<(String, String)>,
    quality: BTreeMap<(String, String), Rolling>,
    pub replay: ReplayBuffer,
    /// Points scored since the counter was last taken (the round schedule).
    scored: u64,
    /// The (model, version) whose forecasts are compared with the seasonal naive per series:
    /// the active one.
    selecting: Option<(String, String)>,
    rule: SelectionRule,
}

impl StreamState {
    pub fn new(
        shape: Shape,
        window_points: usize,
        drift_points: usize,
        replay: ReplayBuffer,
        rule: SelectionRule,
    ) -> StreamState {
        StreamState {
            shape,
            window_points,
            drift_points,
            series: FastMap::default(),
            versions: Vec::new(),
            quality: BTreeMap::new(),
            replay,
            scored: 0,
            selecting: None,
            rule,
        }
    }

    /// Compares `version` of `model` with the seasonal naive from now on; a different version
    /// than before starts every series' comparison afresh (evidence about one version's
    /// weights says nothing about another's).
    pub fn select_for(&mut self, model: &str, version: &str) {
        if self
            .selecting
            .as_ref()
            .is_some_and(|(m, v)| m == model && v == version)
        {
            return;
        }
        self.selecting = Some((model.to_string(), version.to_string()));
        for st in self.series.values_mut() {
            st.versus = Versus::default();
        }
    }

    /// The series the selected version did worse on than the seasonal naive, sorted.
    pub fn naive_better(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .series
            .iter()
            .filter(|(_, st)| st.versus.naive_better(&self.rule))
            .map(|(id, _)| id.to_string())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// One series' comparison so far.
    pub fn versus(&self, id: &str) -> Option<Versus> {
        self.series.get(id).map(|st| st.versus)
    }

    /// The newest fully observed `len` points of a series, as a history (`None` while it has
    /// fewer, or a gap among them).
    pub fn latest_history(&self, id: &str, len: usize) -> Option<History> {
        let st = self.series.get(id)?;
        let values = st.window.values();
        let last = st.window.last_timestamp()?;
        let recent = values.get(values.len().checked_sub(len)?..)?;
        if recent.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let freq = st.window.freq();
        Some(History::new(
            id,
            (0..len as i64)
                .map(|k| freq.step_saturating(last, k + 1 - len as i64))
                .collect(),
            recent.to_vec(),
        ))
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    fn state_of(&mut self, id: &str) -> &mut SeriesState {
        if !self.series.contains_key(id) {
            let capacity = self.shape.window_len();
            self.series.insert(
                Arc::from(id),
                SeriesState {
                    window: SeriesWindow::new(self.shape.freq, capacity),
                    pending: VecDeque::new(),
                    since_capture: 0,
                    naive_season: (0.0, 0),
                    naive_step: (0.0, 0),
                    versus: Versus::default(),
                },
            );
        }
        self.series.get_mut(id).expect("inserted above")
    }

    fn version_index(&mut self, model: &str, version: &str) -> usize {
        match self
            .versions
            .iter()
            .position(|(m, v)| m == model && v == version)
        {
            Some(i) => i,
            None => {
                self.versions.push((model.to_string(), version.to_string()));
                self.versions.len() - 1
            }
        }
    }

    /// An actual. Returns the forecast points it scored.
    pub fn observe(&mut self, id: &str, ts: i64, value: f64) -> Result<usize, Skipped> {
        if !value.is_finite() {
            return Err(Skipped::NonFinite);
        }
        let seg_len = self.shape.segment_len();
        let horizon = self.shape.horizon;
        let season = self.shape.season;
        let st = self.state_of(id);
        let placed = st
            .window
            .insert(ts, value)
            .map_err(|r| Skipped::Rejected(r.reason().as_str()))?;
        match placed {
            Placement::Advanced { gaps } => st.since_capture += 1 + gaps,
            Placement::Started | Placement::Reset { .. } => st.since_capture = 1,
            Placement::Backfilled | Placement::Duplicate => {}
        }
        // an advanced point is the newest slot, so a lag is that many slots back
        if matches!(placed, Placement::Advanced { .. }) {
            for (lag, acc) in [
                (1, &mut st.naive_step),
                (season.max(1), &mut st.naive_season),
            ] {
                if let Some(before) = st.window.steps_back(lag) {
                    acc.0 += (value - before).abs();
                    acc.1 += 1;
                }
            }
        }
        // a window every `horizon` new points, once the series spans a whole one
        let capture = st.since_capture >= horizon && st.window.len() >= seg_len;
        let segment = if capture {
            st.since_capture = 0;
            let values = st.window.values();
            let recent = &values[values.len() - seg_len..];
            let start = st
                .window
                .freq()
                .step_saturating(st.window.last_timestamp().unwrap_or(ts), 1 - seg_len as i64);
            recent.iter().all(|v| v.is_finite()).then(|| Segment {
                series: Arc::from(id),
                start,
                freq: st.window.freq(),
                values: recent.iter().map(|&v| v as f32).collect(),
                seq: 0,
            })
        } else {
            None
        };
        let scored = self.score_pending(id);
        if let Some(s) = segment {
            self.replay.push(s);
        }
        Ok(scored)
    }

    /// A published forecast: its steps wait for their actuals; steps whose actuals are already
    /// in the window (the forecast topic lagged the observations) are scored at once.
    pub fn forecast(&mut self, f: &Forecast) -> usize {
        if f.model_version.is_empty() || f.timestamps.len() != f.mean.len() {
            return 0;
        }
        let version = self.version_index(&f.model, &f.model_version);
        let selected = self
            .selecting
            .as_ref()
            .is_some_and(|(m, v)| *m == f.model && *v == f.model_version);
        let mut steps: VecDeque<Step> = f
            .timestamps
            .iter()
            .zip(&f.mean)
            .enumerate()
            .filter(|(_, (_, m))| m.is_finite())
            .map(|(i, (t, &mean))| Step {
                ts: t.seconds,
                mean,
                quantiles: f
                    .quantiles
                    .iter()
                    .filter_map(|q| q.values.get(i).map(|&v| (q.level, v)))
                    .filter(|(_, v)| v.is_finite())
                    .collect(),
                naive: Vec::new(),
            })
            .collect();
        if steps.is_empty() {
            return 0;
        }
        let season = self.shape.season;
        let st = self.state_of(&f.series_id);
        if selected && let Some(origin) = f.latest_observation.as_ref().map(|t| t.seconds) {
            counterfactual(&st.window, origin, season, &mut steps);
        }
        // MASE's scale: the series' seasonal-naive error over its history as read so far (a
        // forecast read late sees a few more pairs in its scale, never in what is scored)
        let scale = st.scale();
        if st.pending.len() == MAX_PENDING {
            st.pending.pop_front();
        }
        st.pending.push_back(Pending {
            version,
            steps,
            scale,
        });
        self.score_pending(&f.series_id)
    }

    /// Scores the pending steps of `id` up to the window's newest point.
    fn score_pending(&mut self, id: &str) -> usize {
        let Some(st) = self.series.get_mut(id) else {
            return 0;
        };
        let last = st.window.last_timestamp();
        let rule = self.rule;
        let mut points: Vec<(usize, Point)> = Vec::new();
        for p in st.pending.iter_mut() {
            while let Some(step) = p.steps.front() {
                if last.is_none_or(|l| step.ts > l) {
                    break;
                }
                let step = p.steps.pop_front().expect("front exists");
                // a step whose slot is missing is given up on: that actual never came
                if let Some(y) = st.window.get(step.ts) {
                    let point = Point::score(y, step.mean, &step.quantiles, p.scale);
                    if !step.naive.is_empty()
                        && let (Some(model), Some(naive)) = (
                            point.quantile_loss,
                            Point::score(y, step.mean, &step.naive, None).quantile_loss,
                        )
                    {
                        st.versus.push(model, naive, &rule);
                    }
                    points.push((p.version, point));
                }
            }
        }
        st.pending.retain(|p| !p.steps.is_empty());
        let n = points.len();
        for (v, point) in points {
            let key = self.versions[v].clone();
            self.quality
                .entry(key)
                .or_insert_with(|| Rolling::new(self.window_points, self.drift_points))
                .push(point);
        }
        self.scored += n as u64;
        n
    }

    /// Points scored since the last call.
    pub fn take_scored(&mut self) -> u64 {
        std::mem::take(&mut self.scored)
    }

    pub fn quality(&self, model: &str, version: &str) -> Option<&Rolling> {
        self.quality.get(&(model.to_string(), version.to_string()))
    }

    pub fn qualities(&self) -> impl Iterator<Item = (&(String, String), &Rolling)> {
        self.quality.iter()
    }
}

/// Fills each step's seasonal-naive quantiles, at the step's own levels, from the window's
/// values up to `origin` (the forecast's newest observation): what the engine would have
/// answered had it left the series to the naive. Nothing when the origin is outside the window.
fn counterfactual(window: &SeriesWindow, origin: i64, season: usize, steps: &mut VecDeque<Step>) {
    let (Some(last), Some(levels)) = (
        window.last_timestamp(),
        steps
            .front()
            .map(|s| s.quantiles.iter().map(|&(l, _)| l).collect::<Vec<f64>>()),
    ) else {
        return;
    };
    let freq = window.freq();
    let Some(back) = freq
        .steps_between(origin, last)
        .and_then(|b| usize::try_from(b).ok())
    else {
        return;
    };
    let values = window.values();
    let Some(upto) = values.len().checked_sub(back).filter(|&n| n > 0) else {
        return;
    };
    let ahead = |ts: i64| {
        freq.steps_between(origin, ts)
            .and_then(|k| usize::try_from(k).ok())
            .filter(|&k| k >= 1)
    };
    let Some(horizon) = steps.iter().filter_map(|s| ahead(s.ts)).max() else {
        return;
    };
    let Some(naive) = naive_steps(&values[..upto], season, horizon, &levels) else {
        return;
    };
    for step in steps.iter_mut() {
        // a step whose levels differ from the first step's has no like-for-like comparison
        let same_levels = step.quantiles.len() == levels.len()
            && step.quantiles.iter().zip(&levels).all(|((l, _), m)| l == m);
        if let (Some(k), true) = (ahead(step.ts), same_levels) {
            step.naive = naive[k - 1].clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seer_proto::convert::timestamp;
    use seer_proto::v1::QuantileValues;

    const H: i64 = 3600;

    fn shape() -> Shape {
        Shape {
            freq: Frequency::Seconds(H),
            context: 4,
            horizon: 2,
            season: 1,
        }
    }

    fn state() -> StreamState {
        StreamState::new(
            shape(),
            100,
            10,
            ReplayBuffer::new(100, 0, 0),
            SelectionRule {
                min_points: 3.0,
                half_life_points: f64::INFINITY,
                margin: 0.1,
            },
        )
    }

    fn forecast(id: &str, version: &str, latest: i64, mean: f64) -> Forecast {
        Forecast {
            series_id: id.into(),
            model: "lstm".into(),
            model_version: version.into(),
            latest_observation: Some(timestamp(latest)),
            timestamps: vec![timestamp(latest + H), timestamp(latest + 2 * H)],
            mean: vec![mean, mean],
            quantiles: [(0.1, mean - 1.0), (0.5, mean), (0.9, mean + 1.0)]
                .iter()
                .map(|&(level, v)| QuantileValues {
                    level,
                    values: vec![v, v],
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_step_is_scored_only_when_its_actual_arrives() {
        let mut s = state();
        // history 10, 12, 10, 12: seasonal (lag 1) error 2
        for (k, v) in [10.0, 12.0, 10.0, 12.0].iter().enumerate() {
            assert_eq!(s.observe("a", k as i64 * H, *v).unwrap(), 0);
        }
        assert_eq!(s.forecast(&forecast("a", "v1", 3 * H, 11.0)), 0);
        assert!(
            s.quality("lstm", "v1").is_none(),
            "nothing scored before an actual"
        );
        assert_eq!(s.observe("a", 4 * H, 14.0).unwrap(), 1);
        let q = s.quality("lstm", "v1").unwrap().summary();
        assert_eq!(q.points, 1);
        assert!((q.mase.unwrap() - 1.5).abs() < 1e-12, "{q:?}");
        assert_eq!(q.coverage_80, Some(0.0));
        assert_eq!(s.observe("a", 5 * H, 11.0).unwrap(), 1);
        let q = s.quality("lstm", "v1").unwrap().summary();
        assert!((q.mase.unwrap() - 0.75).abs() < 1e-12, "mean of 1.5 and 0");
        assert_eq!(q.coverage_80, Some(0.5));
        assert_eq!(s.take_scored(), 2);
        assert_eq!(s.take_scored(), 0);
    }

    #[test]
    fn a_forecast_read_after_its_actuals_is_scored_at_once_and_versions_apart() {
        let mut s = state();
        for k in 0..6 {
            s.observe("a", k * H, 10.0 + (k % 2) as f64).unwrap();
        }
        // issued after point 3; points 4 and 5 already arrived
        assert_eq!(s.forecast(&forecast("a", "v2", 3 * H, 10.0)), 2);
        assert!(s.quality("lstm", "v1").is_none());
        assert_eq!(s.quality("lstm", "v2").unwrap().summary().points, 2);
    }

    #[test]
    fn bad_actuals_never_enter_and_windows_feed_the_replay_buffer() {
        let mut s = state();
        assert_eq!(s.observe("a", 0, f64::NAN), Err(Skipped::NonFinite));
        assert_eq!(s.observe("a", 0, f64::INFINITY), Err(Skipped::NonFinite));
        s.observe("a", 0, 1.0).unwrap();
        assert_eq!(s.observe("a", 90, 1.0).unwrap_err().label(), "off_grid");
        // segment length 2·(4+2)+2 = 14; a window every 2 points once full
        for k in 1..14 {
            s.observe("a", k * H, k as f64).unwrap();
        }
        assert_eq!(s.replay.recent_len(), 1);
        let seg = &s.replay.since(0)[0];
        assert_eq!(seg.values.len(), 14);
        assert_eq!(seg.values[13], 13.0);
        s.observe("a", 14 * H, 14.0).unwrap();
        assert_eq!(s.replay.recent_len(), 1);
        s.observe("a", 15 * H, 15.0).unwrap();
        assert_eq!(s.replay.recent_len(), 2);
        // a gap keeps the windows that contain it out
        s.observe("a", 17 * H, 17.0).unwrap();
        s.observe("a", 18 * H, 18.0).unwrap();
        assert_eq!(s.replay.recent_len(), 2);
    }

    #[test]
    fn the_selected_version_is_compared_with_the_naive_from_the_same_origin() {
        let mut s = state();
        // season 1: the naive repeats the last value, 10; its differences are ±2, so its
        // interval is wide and the model's exact forecasts win
        for k in 0..6 {
            s.observe("a", k * H, 10.0 + 2.0 * (k % 2) as f64).unwrap();
            s.observe("b", k * H, 10.0).unwrap();
        }
        s.select_for("lstm", "v1");
        // origin 5 (value 12): steps 6, 7 will be 10, 12
        s.forecast(&forecast("a", "v1", 5 * H, 11.0));
        s.forecast(&forecast("a", "v0", 5 * H, 11.0));
        s.forecast(&forecast("b", "v1", 5 * H, 30.0));
        s.observe("a", 6 * H, 10.0).unwrap();
        s.observe("a", 7 * H, 12.0).unwrap();
        s.observe("b", 6 * H, 10.0).unwrap();
        s.observe("b", 7 * H, 10.0).unwrap();
        let a = s.versus("a").unwrap();
        assert_eq!(a.points(), 2.0, "v0's forecast is not compared");
        let b = s.versus("b").unwrap();
        assert_eq!(b.points(), 2.0);
        let (model, naive) = b.losses().unwrap();
        // b is constant: the naive is exact (no interval), the model 20 off
        assert_eq!(naive, 0.0);
        assert!(model > 10.0, "{model}");
        assert!(s.naive_better().is_empty(), "2 points, below the rule's 3");
        s.forecast(&forecast("b", "v1", 7 * H, 30.0));
        s.observe("b", 8 * H, 10.0).unwrap();
        assert_eq!(s.naive_better(), ["b"]);
        // a model's and the naive's losses on a (the model's exact, 1-wide band) stay apart
        let (model, naive) = a.losses().unwrap();
        assert!(model < naive, "{model} vs {naive}");
        // another version starts from nothing
        s.select_for("lstm", "v2");
        assert!(s.naive_better().is_empty());
        assert_eq!(s.versus("b").unwrap().points(), 0.0);
    }
}
