//! The windows of every series a consumer owns, grouped by the Kafka partition they arrive on.

use super::{FastMap, FastSet};

use super::window::{Placement, Rejection, SeriesWindow, validate};
use crate::CoreError;
use crate::time::Frequency;

/// The grid spacing of the series whose id starts with `prefix`.
///
/// An empty prefix or `*` matches every series; a trailing `*` is ignored (`sensor.*` is the
/// prefix `sensor.`), so rules read like the globs people write in configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrequencyRule {
    pub prefix: String,
    pub freq: Frequency,
}

/// One series' window and whether its history is known to be incomplete.
#[derive(Debug, Clone)]
pub struct SeriesEntry {
    window: SeriesWindow,
    partial: bool,
    /// One window per covariate the store keeps, slot for slot with `window` (empty when it
    /// keeps none).
    covariates: Vec<SeriesWindow>,
}

impl SeriesEntry {
    pub fn window(&self) -> &SeriesWindow {
        &self.window
    }

    /// The covariates' windows, in the order their values were given to
    /// [`WindowStore::observe_with_covariates`]; each has the target window's slots.
    pub fn covariates(&self) -> &[SeriesWindow] {
        &self.covariates
    }

    /// The window was built after its partition was (re)assigned and has not spanned its full
    /// capacity since: older points exist in Kafka before the resumed offset but not here. The
    /// ingest passes this on with the forecast.
    pub fn is_partial(&self) -> bool {
        self.partial
    }
}

/// Windows keyed by partition, then series id, each on the grid its id's rule gives.
///
/// A series is expected on one partition only (Kafka's key = series id); the same id on two
/// partitions gets two independent windows.
#[derive(Debug, Clone)]
pub struct WindowStore {
    /// Normalised prefixes (trailing `*` removed), in the order given.
    rules: Vec<(String, Frequency)>,
    default_freq: Frequency,
    capacity: usize,
    partitions: FastMap<i32, FastMap<String, SeriesEntry>>,
    /// Partitions whose windows are rebuilt from a resumed offset: new windows there start
    /// partial.
    rebuilt: FastSet<i32>,
    series_count: usize,
}

impl WindowStore {
    /// A store whose windows hold `capacity` points on the grid of the first rule whose prefix
    /// the series id starts with, else of `default_freq`.
    ///
    /// Errors: a frequency below 1 (the rule's prefix is named) or a capacity outside
    /// 1..=[`super::MAX_WINDOW_CAPACITY`].
    pub fn new(
        rules: Vec<FrequencyRule>,
        default_freq: impl Into<Frequency>,
        capacity: usize,
    ) -> Result<Self, CoreError> {
        let default_freq = default_freq.into();
        validate(default_freq, capacity)?;
        let rules = rules
            .into_iter()
            .map(|rule| {
                if !rule.freq.is_valid() {
                    return Err(CoreError::InvalidFrequencyRule {
                        prefix: rule.prefix,
                        freq: rule.freq,
                    });
                }
                let mut prefix = rule.prefix;
                if prefix.ends_with('*') {
                    prefix.pop();
                }
                Ok((prefix, rule.freq))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(WindowStore {
            rules,
            default_freq,
            capacity,
            partitions: FastMap::default(),
            rebuilt: FastSet::default(),
            series_count: 0,
        })
    }

    /// The frequency a window for `series_id` gets. A window keeps the frequency it was created
    /// with for as long as it lives.
    pub fn freq_for(&self, series_id: &str) -> Frequency {
        rule_freq(&self.rules, self.default_freq, series_id)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Inserts one observation into its series' window, creating the window on the series'
    /// first point (which is never rejected).
    ///
    /// The caller has already rejected non-finite values (see [`SeriesWindow`]).
    pub fn observe(
        &mut self,
        partition: i32,
        series_id: &str,
        ts: i64,
        value: f64,
    ) -> Result<Placement, Rejection> {
        self.observe_with_covariates(partition, series_id, ts, value, &[])
    }

    /// As [`WindowStore::observe`], with the point's covariate values (NaN: not carried), which
    /// go into windows of their own, slot for slot with the target's. A series keeps as many
    /// covariate windows as its first point brought values; a later point with another count
    /// leaves its covariates missing.
    pub fn observe_with_covariates(
        &mut self,
        partition: i32,
        series_id: &str,
        ts: i64,
        value: f64,
        covariates: &[f64],
    ) -> Result<Placement, Rejection> {
        let series = self.partitions.entry(partition).or_default();
        // Looked up by &str first: allocating the id for every observation would dominate.
        if let Some(entry) = series.get_mut(series_id) {
            let placement = entry.window.insert(ts, value)?;
            // A reset means everything older than the span is a real gap, not history this
            // consumer missed.
            if entry.window.is_full() || matches!(placement, Placement::Reset { .. }) {
                entry.partial = false;
            }
            if entry.covariates.len() == covariates.len() {
                place_covariates(&mut entry.covariates, ts, covariates);
            } else {
                // keep the slots in step, with nothing known at this one
                for w in &mut entry.covariates {
                    let _ = w.insert(ts, f64::NAN);
                }
            }
            return Ok(placement);
        }
        let freq = rule_freq(&self.rules, self.default_freq, series_id);
        let mut window = SeriesWindow::new(freq, self.capacity);
        let placement = window.insert(ts, value)?;
        let partial = self.rebuilt.contains(&partition) && !window.is_full();
        let mut columns = vec![SeriesWindow::new(freq, self.capacity); covariates.len()];
        place_covariates(&mut columns, ts, covariates);
        series.insert(
            series_id.to_owned(),
            SeriesEntry {
                window,
                partial,
                covariates: columns,
            },
        );
        self.series_count += 1;
        Ok(placement)
    }

    /// Called when `partition` is assigned and consumption resumes from its committed offset:
    /// windows created there from now on are partial until full, and so are the ones already
    /// there (normally none, as revocation dropped them) that are not full.
    ///
    /// Call it on every assignment, the first one after start-up included: the history before
    /// the committed offset was read by an earlier consumer and is not replayed.
    pub fn mark_partition_rebuilt(&mut self, partition: i32) {
        self.rebuilt.insert(partition);
        if let Some(series) = self.partitions.get_mut(&partition) {
            for entry in series.values_mut() {
                entry.partial = !entry.window.is_full();
            }
        }
    }

    /// Forgets every window of `partition` and its rebuilt mark (on revocation: another
    /// consumer owns those series now). Returns how many series were dropped.
    pub fn drop_partition(&mut self, partition: i32) -> usize {
        self.rebuilt.remove(&partition);
        let dropped = self.partitions.remove(&partition).map_or(0, |s| s.len());
        self.series_count -= dropped;
        dropped
    }

    /// Forgets one series (eviction of a series that stopped reporting). Returns whether it was
    /// there.
    pub fn remove_series(&mut self, partition: i32, series_id: &str) -> bool {
        let removed = self
            .partitions
            .get_mut(&partition)
            .and_then(|series| series.remove(series_id))
            .is_some();
        self.series_count -= usize::from(removed);
        removed
    }

    /// Series held, over all partitions.
    pub fn series_count(&self) -> usize {
        self.series_count
    }

    pub fn window(&self, partition: i32, series_id: &str) -> Option<&SeriesWindow> {
        self.entry(partition, series_id).map(SeriesEntry::window)
    }

    pub fn entry(&self, partition: i32, series_id: &str) -> Option<&SeriesEntry> {
        self.partitions.get(&partition)?.get(series_id)
    }

    /// `None` when the series has no window.
    pub fn is_partial(&self, partition: i32, series_id: &str) -> Option<bool> {
        self.entry(partition, series_id)
            .map(SeriesEntry::is_partial)
    }
}

/// The target's point was placed at `ts`, so each covariate window, holding the same slots,
/// places there too; a value beyond single precision is kept as missing rather than refused.
fn place_covariates(windows: &mut [SeriesWindow], ts: i64, values: &[f64]) {
    for (w, &v) in windows.iter_mut().zip(values) {
        if w.insert(ts, v).is_err() {
            let _ = w.insert(ts, f64::NAN);
        }
    }
}

/// A free function so that `observe` can read the rules while it holds a series mutably.
fn rule_freq(rules: &[(String, Frequency)], default_freq: Frequency, series_id: &str) -> Frequency {
    rules
        .iter()
        .find(|(prefix, _)| series_id.starts_with(prefix.as_str()))
        .map_or(default_freq, |&(_, freq)| freq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(prefix: &str, freq: i64) -> FrequencyRule {
        FrequencyRule {
            prefix: prefix.to_owned(),
            freq: Frequency::Seconds(freq),
        }
    }

    #[test]
    fn first_matching_prefix_wins() {
        let store = WindowStore::new(
            vec![
                rule("sensor.fast.", 1),
                rule("sensor.*", 60),
                rule("sales", 86_400),
                rule("*", 900),
                rule("never", 5),
            ],
            3600,
            4,
        )
        .unwrap();
        assert_eq!(store.freq_for("sensor.fast.7").seconds(), Some(1));
        assert_eq!(store.freq_for("sensor.slow.7").seconds(), Some(60));
        assert_eq!(store.freq_for("sales/eu").seconds(), Some(86_400));
        // `*` catches everything after it, so later rules and the default never apply.
        assert_eq!(store.freq_for("never").seconds(), Some(900));
        assert_eq!(store.freq_for("").seconds(), Some(900));

        let store = WindowStore::new(vec![rule("a", 10), rule("", 20)], 30, 4).unwrap();
        assert_eq!(
            (
                store.freq_for("ab").seconds(),
                store.freq_for("b").seconds()
            ),
            (Some(10), Some(20))
        );
        let store = WindowStore::new(vec![rule("a", 10)], 30, 4).unwrap();
        assert_eq!(
            (store.freq_for("A").seconds(), store.freq_for("b").seconds()),
            (Some(30), Some(30))
        );
    }

    #[test]
    fn covariate_windows_keep_the_targets_slots() {
        let mut store = WindowStore::new(vec![], 60, 3).unwrap();
        let nan = f64::NAN;
        store
            .observe_with_covariates(0, "s", 0, 1.0, &[10.0, nan])
            .unwrap();
        store
            .observe_with_covariates(0, "s", 120, 3.0, &[30.0, 3e39])
            .unwrap();
        // late for the target: the covariates are not placed either
        assert!(
            store
                .observe_with_covariates(0, "s", -600, 0.0, &[0.0, 0.0])
                .is_err()
        );
        store
            .observe_with_covariates(0, "s", 60, 2.0, &[20.0, 2.0])
            .unwrap();
        let e = store.entry(0, "s").unwrap();
        assert_eq!(e.window().values(), [1.0, 2.0, 3.0]);
        assert_eq!(e.covariates()[0].values(), [10.0, 20.0, 30.0]);
        let second = e.covariates()[1].values();
        // absent and beyond single precision read as missing
        assert!(second[0].is_nan() && second[1] == 2.0 && second[2].is_nan());
        // a point with another count of covariates places its target only
        store
            .observe_with_covariates(0, "s", 180, 4.0, &[40.0])
            .unwrap();
        let e = store.entry(0, "s").unwrap();
        assert_eq!(e.window().values(), [2.0, 3.0, 4.0]);
        assert_eq!(e.covariates()[0].values()[..2], [20.0, 30.0]);
        assert!(e.covariates()[0].values()[2].is_nan());
        // and a store fed without covariates keeps none
        store.observe(0, "t", 0, 1.0).unwrap();
        assert!(store.entry(0, "t").unwrap().covariates().is_empty());
    }

    #[test]
    fn windows_use_their_rule_and_keep_it() {
        let mut store = WindowStore::new(vec![rule("m", 60)], 3600, 3).unwrap();
        assert_eq!(store.observe(0, "m1", 0, 1.0), Ok(Placement::Started));
        assert_eq!(
            store.observe(0, "m1", 60, 2.0),
            Ok(Placement::Advanced { gaps: 0 })
        );
        assert_eq!(store.observe(0, "h1", 0, 1.0), Ok(Placement::Started));
        let err = store.observe(0, "h1", 60, 2.0).unwrap_err();
        assert_eq!(err.reason().as_str(), "off_grid");
        assert_eq!(
            store.observe(0, "h1", 3600, 2.0),
            Ok(Placement::Advanced { gaps: 0 })
        );
        assert_eq!(
            store.window(0, "m1").unwrap().freq(),
            Frequency::Seconds(60)
        );
        assert_eq!(store.window(0, "h1").unwrap().values(), vec![1.0, 2.0]);
        assert_eq!(store.series_count(), 2);
        assert!(store.window(1, "m1").is_none());
        assert!(store.window(0, "m2").is_none());
    }

    #[test]
    fn invalid_settings_are_errors() {
        assert_eq!(
            WindowStore::new(vec![rule("x.*", 0)], 60, 4).unwrap_err(),
            CoreError::InvalidFrequencyRule {
                prefix: "x.*".to_owned(),
                freq: Frequency::Seconds(0)
            }
        );
        assert_eq!(
            WindowStore::new(vec![], -1, 4).unwrap_err(),
            CoreError::InvalidFrequency(Frequency::Seconds(-1))
        );
        assert!(matches!(
            WindowStore::new(vec![], 60, 0),
            Err(CoreError::InvalidWindowCapacity { capacity: 0, .. })
        ));
    }

    #[test]
    fn dropping_a_partition_forgets_only_its_series() {
        let mut store = WindowStore::new(vec![], 1, 4).unwrap();
        store.observe(0, "a", 0, 1.0).unwrap();
        store.observe(0, "b", 0, 1.0).unwrap();
        store.observe(1, "a", 5, 9.0).unwrap();
        assert_eq!(store.series_count(), 3);
        assert_eq!(store.drop_partition(0), 2);
        assert_eq!(store.drop_partition(0), 0);
        assert_eq!(store.drop_partition(7), 0);
        assert_eq!(store.series_count(), 1);
        assert!(store.window(0, "a").is_none());
        assert_eq!(store.window(1, "a").unwrap().values(), vec![9.0]);
        // Reassigned later, the series starts a fresh window and grid.
        assert_eq!(store.observe(0, "a", 3, 2.0), Ok(Placement::Started));
        assert_eq!(store.series_count(), 2);
        assert!(store.remove_series(0, "a"));
        assert!(!store.remove_series(0, "a"));
        assert!(!store.remove_series(9, "a"));
        assert_eq!(store.series_count(), 1);
    }

    #[test]
    fn partial_flag_lifecycle() {
        let mut store = WindowStore::new(vec![], 1, 3).unwrap();
        // Before any assignment mark a new series is simply young, not partial.
        store.observe(0, "young", 0, 1.0).unwrap();
        assert_eq!(store.is_partial(0, "young"), Some(false));
        assert_eq!(store.is_partial(0, "nobody"), None);

        store.mark_partition_rebuilt(1);
        store.observe(1, "s", 10, 1.0).unwrap();
        assert_eq!(store.is_partial(1, "s"), Some(true));
        store.observe(1, "s", 11, 1.0).unwrap();
        // Rejections and duplicates do not fill it.
        assert!(store.observe(1, "s", 5, 1.0).is_err());
        store.observe(1, "s", 11, 2.0).unwrap();
        assert_eq!(store.is_partial(1, "s"), Some(true));
        // Full through a backfill at the front: complete from here on.
        assert_eq!(store.observe(1, "s", 9, 1.0), Ok(Placement::Backfilled));
        assert!(!store.entry(1, "s").unwrap().is_partial());
        store.observe(1, "s", 12, 1.0).unwrap();
        assert_eq!(store.is_partial(1, "s"), Some(false));

        // A reset clears it: what lies before the new point is a real gap.
        store.observe(1, "t", 0, 1.0).unwrap();
        assert_eq!(store.is_partial(1, "t"), Some(true));
        assert_eq!(
            store.observe(1, "t", 100, 1.0),
            Ok(Placement::Reset { skipped: 99 })
        );
        assert_eq!(store.is_partial(1, "t"), Some(false));

        // Marking a partition with windows in it: the ones not full become partial.
        store.observe(0, "full", 0, 1.0).unwrap();
        store.observe(0, "full", 2, 1.0).unwrap();
        store.mark_partition_rebuilt(0);
        assert_eq!(store.is_partial(0, "young"), Some(true));
        assert_eq!(store.is_partial(0, "full"), Some(false));
        store.observe(0, "young", 1, 1.0).unwrap();
        store.observe(0, "young", 2, 1.0).unwrap();
        assert_eq!(store.is_partial(0, "young"), Some(false));

        // Revocation forgets the mark with the windows; a capacity-1 window is never partial.
        store.drop_partition(1);
        store.observe(1, "u", 0, 1.0).unwrap();
        assert_eq!(store.is_partial(1, "u"), Some(false));
        let mut one = WindowStore::new(vec![], 1, 1).unwrap();
        one.mark_partition_rebuilt(0);
        one.observe(0, "v", 0, 1.0).unwrap();
        assert_eq!(one.is_partial(0, "v"), Some(false));
    }
}
