//! The ingest's state machine, with no Kafka in it: a consumed message is classified (decoded,
//! checked, placed in its series' window or dead-lettered), due series are batched, deliveries
//! finish messages, and what is finished decides each partition's commit position. The Kafka
//! shell ([`crate::shell`]) feeds it messages and delivery reports and does what it answers;
//! the tests below drive it directly.

use std::collections::HashMap;
use std::time::Instant;

use seer_core::stream::{
    DeadLetterReason, DueTracker, FastMap, FastSet, OffsetTracker, SeriesKey, WindowStore,
};
use seer_proto::convert::{decode_observation, frequency_fields, seconds, timestamp};
use seer_proto::v1::{CovariateValues, Observation, SeriesWindow};

use crate::config::IngestConfig;
use crate::error::IngestError;

/// One consumed message, as the shell hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
}

/// A series of a dispatched batch: its messages up to `offset` are finished once its forecast
/// is delivered; `first_seen` is when the oldest of its points in the batch was consumed.
#[derive(Debug, Clone, PartialEq)]
pub struct InFlight {
    pub key: SeriesKey,
    pub offset: i64,
    pub first_seen: Instant,
}

/// What [`IngestState::on_message`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Its point is in its series' window.
    Placed,
    /// It belongs on the dead-letter topic, for this reason.
    DeadLetter(DeadLetterReason),
    /// Its series is at the cadence floor (`ingest.max_points_per_forecast`): nothing was done
    /// with it, and the caller hands it over again once a batch has taken the series, reading
    /// nothing else meanwhile.
    Held,
}

impl Placement {
    /// The dead-letter reason, if it is one.
    pub fn dead_letter(self) -> Option<DeadLetterReason> {
        match self {
            Placement::DeadLetter(reason) => Some(reason),
            Placement::Placed | Placement::Held => None,
        }
    }
}

/// Windows for one Engine.Forecast call and the series they finish.
#[derive(Debug, Clone)]
pub struct Batch {
    pub windows: Vec<SeriesWindow>,
    pub series: Vec<InFlight>,
}

pub struct IngestState {
    max_message_bytes: usize,
    max_future_seconds: i64,
    store: WindowStore,
    due: DueTracker,
    offsets: OffsetTracker,
    /// Newest offset and first-seen time of each series' points not yet in a dispatched batch.
    latest: FastMap<SeriesKey, (i64, Instant)>,
    assigned: FastSet<i32>,
    /// Partitions whose commit position may have moved since the last [`Self::take_committable`].
    moved: FastSet<i32>,
    /// `Observation.features` keys kept per series and sent as the windows' covariates.
    covariates: Vec<String>,
    /// One point's covariate values, reused so that a message allocates nothing for them.
    covariate_values: Vec<f64>,
}

impl IngestState {
    pub fn new(config: &IngestConfig) -> Result<Self, IngestError> {
        Ok(IngestState {
            max_message_bytes: config.max_message_bytes,
            max_future_seconds: config.max_future_seconds.min(i64::MAX as u64) as i64,
            store: WindowStore::new(config.freq_rules()?, config.default_freq()?, config.window)?,
            due: DueTracker::new(config.policy())?,
            offsets: OffsetTracker::new(),
            latest: FastMap::default(),
            assigned: FastSet::default(),
            moved: FastSet::default(),
            covariates: config.covariates.clone(),
            covariate_values: Vec::with_capacity(config.covariates.len()),
        })
    }

    /// The point's values of the kept covariates into `covariate_values` (NaN: not carried or
    /// not finite).
    fn read_covariates(&mut self, features: &HashMap<String, f64>) {
        self.covariate_values.clear();
        self.covariate_values
            .extend(self.covariates.iter().map(|name| {
                features
                    .get(name)
                    .copied()
                    .filter(|v| v.is_finite())
                    .unwrap_or(f64::NAN)
            }));
    }

    /// Classifies and places one message: [`Placement`] says what became of it. A dead letter
    /// stays unfinished (holding the commit position) until [`Self::dead_lettered`] says it was
    /// delivered there; a held message is not tracked at all.
    pub fn on_message(&mut self, m: Incoming<'_>, wall_seconds: i64, now: Instant) -> Placement {
        let obs = match self.accept(m, wall_seconds) {
            Ok(obs) => obs,
            Err(reason) => {
                self.offsets.track(m.partition, m.offset);
                return Placement::DeadLetter(reason);
            }
        };
        let key = SeriesKey::new(m.partition, obs.series_id);
        if self.due.at_floor(&key) {
            return Placement::Held;
        }
        self.offsets.track(m.partition, m.offset);
        let ts = obs.timestamp.as_ref().map(seconds).unwrap_or(0);
        self.read_covariates(&obs.features);
        if let Err(rejection) = self.store.observe_with_covariates(
            m.partition,
            &key.series_id,
            ts,
            obs.value,
            &self.covariate_values,
        ) {
            return Placement::DeadLetter(rejection.reason());
        }
        self.offsets.attach(m.partition, m.offset, &key.series_id);
        self.due.note_point(&key, now);
        self.latest
            .entry(key)
            .and_modify(|e| e.0 = m.offset)
            .or_insert((m.offset, now));
        Placement::Placed
    }

    /// The checks a message passes before its point is placed: size, decoding, key, and event
    /// time against the wall clock.
    fn accept(&self, m: Incoming<'_>, wall_seconds: i64) -> Result<Observation, DeadLetterReason> {
        if m.payload.len() > self.max_message_bytes {
            return Err(DeadLetterReason::Oversized);
        }
        let obs = decode_observation(m.payload).map_err(|e| e.reason())?;
        if let Some(key) = m.key
            && key != obs.series_id.as_bytes()
        {
            return Err(DeadLetterReason::KeyMismatch);
        }
        let ts = obs.timestamp.as_ref().map(seconds).unwrap_or(0);
        if ts > wall_seconds.saturating_add(self.max_future_seconds) {
            return Err(DeadLetterReason::FutureTimestamp);
        }
        Ok(obs)
    }

    /// A point re-read from the topic to rebuild a window: placed, never forecast, offsets
    /// untouched. A point the live path would dead-letter is skipped: it already was.
    pub fn replay_point(&mut self, partition: i32, series_id: &str, ts: i64, value: f64) {
        // no covariate values, but as many (missing) as the windows keep
        self.covariate_values.clear();
        self.covariate_values
            .resize(self.covariates.len(), f64::NAN);
        let _ = self.store.observe_with_covariates(
            partition,
            series_id,
            ts,
            value,
            &self.covariate_values,
        );
    }

    /// As [`Self::replay_point`], with the observation's kept covariates.
    pub fn replay_observation(&mut self, partition: i32, obs: &Observation) {
        let ts = obs.timestamp.as_ref().map(seconds).unwrap_or(0);
        self.read_covariates(&obs.features);
        let _ = self.store.observe_with_covariates(
            partition,
            &obs.series_id,
            ts,
            obs.value,
            &self.covariate_values,
        );
    }

    /// The dead letter of (`partition`, `offset`) is delivered.
    pub fn dead_lettered(&mut self, partition: i32, offset: i64) {
        if self.offsets.finish(partition, offset) {
            self.moved.insert(partition);
        }
    }

    /// The forecasts of a batch are delivered (or the engine refused them for good): their
    /// messages are finished. Series of partitions revoked meanwhile are ignored; their new
    /// owner redoes them.
    pub fn delivered(&mut self, series: &[InFlight]) {
        for s in series {
            if self.assigned.contains(&s.key.partition) {
                self.offsets
                    .finish_series_up_to(s.key.partition, &s.key.series_id, s.offset);
                self.moved.insert(s.key.partition);
            }
        }
    }

    pub fn assign(&mut self, partitions: &[i32]) {
        self.assigned.extend(partitions.iter().copied());
    }

    /// Forgets everything about `partitions`: their new owner rebuilds it from the topic.
    pub fn revoke(&mut self, partitions: &[i32]) {
        for &p in partitions {
            self.assigned.remove(&p);
            self.store.drop_partition(p);
            self.due.drop_partition(p);
            self.offsets.drop_partition(p);
            self.latest.retain(|k, _| k.partition != p);
            self.moved.remove(&p);
        }
    }

    /// History before the committed offset exists: windows of the partition stay flagged
    /// partial until they hold what the model reads.
    pub fn mark_rebuilt(&mut self, partition: i32) {
        self.store.mark_partition_rebuilt(partition);
    }

    /// The next batch of due series, if one is ready at `now` (full, or its oldest series has
    /// waited `max_delay`).
    pub fn take_batch(&mut self, now: Instant) -> Option<Batch> {
        loop {
            let keys = self.due.take_batch(now)?;
            let mut windows = Vec::with_capacity(keys.len());
            let mut series = Vec::with_capacity(keys.len());
            for key in keys {
                let (Some(entry), Some((offset, first_seen))) = (
                    self.store.entry(key.partition, &key.series_id),
                    self.latest.remove(&key),
                ) else {
                    continue;
                };
                let w = entry.window();
                let (freq_seconds, freq_months) = frequency_fields(w.freq());
                windows.push(SeriesWindow {
                    series_id: key.series_id.clone(),
                    start: w.first_timestamp().map(timestamp),
                    freq_seconds,
                    values: w.values(),
                    partial: entry.is_partial(),
                    freq_months,
                    covariates: entry
                        .covariates()
                        .iter()
                        .zip(&self.covariates)
                        .map(|(w, name)| CovariateValues {
                            name: name.clone(),
                            values: w.values(),
                        })
                        .collect(),
                });
                series.push(InFlight {
                    key,
                    offset,
                    first_seen,
                });
            }
            if !windows.is_empty() {
                return Some(Batch { windows, series });
            }
        }
    }

    /// The partitions whose commit position moved, with the offset to commit (the next
    /// message to read after a restart: the lowest unfinished one).
    pub fn take_committable(&mut self) -> Vec<(i32, i64)> {
        let mut out: Vec<(i32, i64)> = self
            .moved
            .drain()
            .filter_map(|p| self.offsets.committable(p).map(|o| (p, o)))
            .collect();
        out.sort_unstable();
        out
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.due.next_deadline()
    }

    pub fn due_count(&self) -> usize {
        self.due.due_count()
    }

    /// Whether this consumer owns `partition` (a held message of a partition revoked meanwhile
    /// is its new owner's).
    pub fn owns(&self, partition: i32) -> bool {
        self.assigned.contains(&partition)
    }

    pub fn series_count(&self) -> usize {
        self.store.series_count()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use prost::Message as _;

    use super::*;

    const T0: i64 = 1_700_000_000;
    const NOW: i64 = T0 + 100 * 3600;

    fn config() -> IngestConfig {
        IngestConfig {
            window: 4,
            max_batch: 100,
            max_message_bytes: 200,
            max_future_seconds: 3600,
            ..Default::default()
        }
    }

    fn observation(id: &str, ts: i64, value: f64) -> Observation {
        Observation {
            series_id: id.into(),
            timestamp: Some(timestamp(ts)),
            value,
            features: Default::default(),
        }
    }

    fn obs(id: &str, ts: i64, value: f64) -> Vec<u8> {
        observation(id, ts, value).encode_to_vec()
    }

    fn message<'a>(offset: i64, key: Option<&'a [u8]>, payload: &'a [u8]) -> Incoming<'a> {
        Incoming {
            partition: 0,
            offset,
            key,
            payload,
        }
    }

    #[test]
    fn every_dead_letter_reason_from_a_payload() {
        use DeadLetterReason::*;
        let big = vec![b' '; 201];
        // (case, Kafka key, payload, dead-letter reason or None for placed)
        type Case<'a> = (&'a str, Option<&'a [u8]>, Vec<u8>, Option<DeadLetterReason>);
        let cases: Vec<Case> = vec![
            ("a point", Some(b"a"), obs("a", T0 + 10 * 3600, 1.0), None),
            ("no key is fine", None, obs("a", T0 + 11 * 3600, 1.0), None),
            (
                "json",
                Some(b"j"),
                br#"{"series_id":"j","timestamp":1700000000,"value":2}"#.to_vec(),
                None,
            ),
            ("oversized", Some(b"a"), big, Some(Oversized)),
            (
                "garbage",
                Some(b"a"),
                b"\xff\xfe\x00".to_vec(),
                Some(Undecodable),
            ),
            (
                "bad json",
                Some(b"a"),
                b"{\"series_id\":".to_vec(),
                Some(Undecodable),
            ),
            (
                "no series",
                None,
                br#"{"timestamp":1,"value":1}"#.to_vec(),
                Some(MissingField),
            ),
            (
                "no timestamp",
                None,
                br#"{"series_id":"a","value":1}"#.to_vec(),
                Some(MissingField),
            ),
            (
                "nan",
                None,
                br#"{"series_id":"a","timestamp":1,"value":"NaN"}"#.to_vec(),
                Some(NonFiniteValue),
            ),
            (
                "infinite",
                Some(b"a"),
                obs("a", T0, f64::INFINITY),
                Some(NonFiniteValue),
            ),
            (
                "bad timestamp",
                None,
                br#"{"series_id":"a","timestamp":"soon","value":1}"#.to_vec(),
                Some(BadTimestamp),
            ),
            (
                "key of another series",
                Some(b"b"),
                obs("a", T0 + 12 * 3600, 1.0),
                Some(KeyMismatch),
            ),
            (
                "future",
                Some(b"a"),
                obs("a", NOW + 7200, 1.0),
                Some(FutureTimestamp),
            ),
            (
                "within max_future",
                Some(b"a"),
                obs("a", T0 + 13 * 3600, 1.0),
                None,
            ),
            ("late", Some(b"a"), obs("a", T0 + 3600, 1.0), Some(Late)),
            (
                "off grid",
                Some(b"a"),
                obs("a", T0 + 13 * 3600 + 5, 1.0),
                Some(OffGrid),
            ),
            (
                "beyond single precision",
                Some(b"a"),
                obs("a", T0 + 14 * 3600, 1e39),
                Some(OutOfRange),
            ),
        ];
        let mut state = IngestState::new(&config()).unwrap();
        let now = Instant::now();
        let mut seen = HashSet::new();
        for (offset, (name, key, payload, want)) in cases.into_iter().enumerate() {
            let got = state
                .on_message(message(offset as i64, key, &payload), NOW, now)
                .dead_letter();
            assert_eq!(got, want, "{name}");
            seen.extend(got);
        }
        // the table covers every reason there is
        assert_eq!(seen.len(), DeadLetterReason::ALL.len());
        assert_eq!(state.series_count(), 2);
    }

    #[test]
    fn the_streaming_docs_list_every_reason() {
        let docs = include_str!("../../../docs/streaming.md");
        for r in DeadLetterReason::ALL {
            assert!(
                docs.contains(&format!("| `{r}` |")),
                "docs/streaming.md lacks {r}"
            );
        }
    }

    #[test]
    fn out_of_order_and_duplicate_points_land_in_their_slots() {
        let mut state = IngestState::new(&config()).unwrap();
        let now = Instant::now();
        // (timestamp step, value, window after, in offset order)
        let steps: [(i64, f64, [f64; 4]); 5] = [
            (10, 1.0, [1.0, f64::NAN, f64::NAN, f64::NAN]),
            (12, 3.0, [1.0, f64::NAN, 3.0, f64::NAN]),
            (11, 2.0, [1.0, 2.0, 3.0, f64::NAN]),
            (12, 30.0, [1.0, 2.0, 30.0, f64::NAN]),
            (13, 4.0, [1.0, 2.0, 30.0, 4.0]),
        ];
        for (offset, (step, value, want)) in steps.into_iter().enumerate() {
            let payload = obs("s", T0 + step * 3600, value);
            assert_eq!(
                state.on_message(message(offset as i64, Some(b"s"), &payload), NOW, now),
                Placement::Placed
            );
            let batch = state.take_batch(now + Duration::from_secs(1)).unwrap();
            let got = &batch.windows[0].values;
            let got: Vec<f64> = got.iter().take(want.len()).copied().collect();
            let same = got
                .iter()
                .zip(&want)
                .all(|(g, w)| g == w || (g.is_nan() && w.is_nan()));
            assert!(same, "after step {step}: {got:?}, want {want:?}");
            assert_eq!(batch.series[0].offset, offset as i64);
        }
    }

    /// What the commit position is after each event: the lowest unfinished offset, per
    /// partition, only ever reported when it moved.
    #[test]
    fn which_offset_becomes_committable_after_which_delivery() {
        enum Ev {
            Msg(i64, &'static str, i64),
            Poison(i64),
            Dispatch,
            Deliver(usize),
            DeadLettered(i64),
            Revoke,
            Assign,
        }
        use Ev::*;
        // (event, committable reported after it)
        let script: Vec<(Ev, Vec<(i32, i64)>)> = vec![
            (Msg(0, "a", 10), vec![]),
            (Poison(1), vec![]),
            (Msg(2, "b", 10), vec![]),
            (Dispatch, vec![]), // batch 0: a@0, b@2
            (Msg(3, "a", 11), vec![]),
            (Dispatch, vec![]), // batch 1: a@3
            // a's second forecast first: a@0 and a@3 are done, but the dead letter at 1 and b@2
            // are not, so the position stays at the first unfinished message
            (Deliver(1), vec![(0, 1)]),
            (DeadLettered(1), vec![(0, 2)]),
            (Deliver(0), vec![(0, 4)]),
            (Msg(4, "c", 10), vec![]),
            (Dispatch, vec![]),
            // revoked before its delivery: the new owner redoes offset 4, so nothing is reported
            (Revoke, vec![]),
            (Assign, vec![]),
            (Deliver(2), vec![]),
        ];
        let mut state = IngestState::new(&config()).unwrap();
        state.assign(&[0]);
        let now = Instant::now();
        let mut batches: Vec<Batch> = Vec::new();
        for (i, (ev, want)) in script.into_iter().enumerate() {
            match ev {
                Msg(o, id, step) => {
                    let p = obs(id, T0 + step * 3600, 1.0);
                    assert_eq!(
                        state.on_message(message(o, None, &p), NOW, now),
                        Placement::Placed
                    );
                }
                Poison(o) => {
                    let r = state.on_message(message(o, None, b"\xff"), NOW, now);
                    assert_eq!(r, Placement::DeadLetter(DeadLetterReason::Undecodable));
                }
                Dispatch => batches.push(state.take_batch(now + Duration::from_secs(1)).unwrap()),
                Deliver(b) => state.delivered(&batches[b].series),
                DeadLettered(o) => state.dead_lettered(0, o),
                Revoke => state.revoke(&[0]),
                Assign => state.assign(&[0]),
            }
            assert_eq!(state.take_committable(), want, "after event {i}");
        }
        assert_eq!(state.series_count(), 0);
    }

    #[test]
    fn kept_covariates_travel_with_the_window() {
        let mut cfg = config();
        cfg.covariates = vec!["temperature".into(), "price".into()];
        let mut state = IngestState::new(&cfg).unwrap();
        let now = Instant::now();
        for (offset, (step, temp)) in [(0, Some(20.0)), (1, None), (2, Some(22.0))]
            .into_iter()
            .enumerate()
        {
            let mut o = observation("s", T0 + step * 3600, step as f64);
            if let Some(t) = temp {
                o.features.insert("temperature".into(), t);
            }
            o.features.insert("other".into(), 1.0);
            state.on_message(message(offset as i64, None, &o.encode_to_vec()), NOW, now);
        }
        // a rebuilt point brings its covariates too
        let mut replayed = observation("s", T0 + 3 * 3600, 3.0);
        replayed.features.insert("price".into(), 9.5);
        state.replay_observation(0, &replayed);
        let p = obs("s", T0 + 4 * 3600, 4.0);
        state.on_message(message(3, None, &p), NOW, now);
        let b = state.take_batch(now + Duration::from_secs(1)).unwrap();
        let covs = &b.windows[0].covariates;
        let names: Vec<&str> = covs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["temperature", "price"]);
        assert_eq!(b.windows[0].values, vec![1.0, 2.0, 3.0, 4.0]);
        let temp = &covs[0].values;
        assert!(temp[0].is_nan() && temp[1] == 22.0 && temp[2].is_nan() && temp[3].is_nan());
        assert!(covs[1].values[..2].iter().all(|v| v.is_nan()) && covs[1].values[2] == 9.5);
    }

    #[test]
    fn a_calendar_rule_gives_monthly_windows() {
        let mut cfg = config();
        cfg.frequencies.insert("sales.*".into(), "1mo".into());
        let mut state = IngestState::new(&cfg).unwrap();
        let now = Instant::now();
        let day = |s: &str| seer_core::time::parse_timestamp(s).unwrap();
        // month ends, then another day of October: the same slot, the later point wins
        for (offset, (date, value)) in [
            ("2023-08-31", 8.0),
            ("2023-10-31", 10.0),
            ("2023-09-30", 9.0),
            ("2023-10-15", 10.5),
        ]
        .into_iter()
        .enumerate()
        {
            let p = obs("sales.eu", day(date), value);
            state.on_message(message(offset as i64, None, &p), NOW, now);
        }
        let b = state.take_batch(now + Duration::from_secs(1)).unwrap();
        let w = &b.windows[0];
        assert_eq!((w.freq_seconds, w.freq_months), (0, 1));
        assert_eq!(w.values, vec![8.0, 9.0, 10.5]);
        // counted back from the newest slot's first point (31 October): month ends
        assert_eq!(w.start.as_ref().map(seconds), Some(day("2023-08-31")));
        // series without the rule stay on the hourly default
        let p = obs("other", T0, 1.0);
        state.on_message(message(9, None, &p), NOW, now);
        let b = state.take_batch(now + Duration::from_secs(1)).unwrap();
        assert_eq!(
            (b.windows[0].freq_seconds, b.windows[0].freq_months),
            (3600, 0)
        );
    }

    #[test]
    fn a_batch_waits_for_max_delay_unless_full() {
        let cfg = IngestConfig {
            max_batch: 2,
            max_delay_ms: 50,
            ..config()
        };
        let mut state = IngestState::new(&cfg).unwrap();
        let now = Instant::now();
        let p = obs("a", T0, 1.0);
        state.on_message(message(0, None, &p), NOW, now);
        assert!(state.take_batch(now).is_none());
        assert_eq!(state.next_deadline(), Some(now + Duration::from_millis(50)));
        let p = obs("b", T0, 1.0);
        state.on_message(message(1, None, &p), NOW, now);
        let b = state.take_batch(now).unwrap();
        assert_eq!(b.windows.len(), 2);
        assert_eq!(state.due_count(), 0);
    }

    #[test]
    fn a_point_beyond_the_cadence_floor_is_held_untouched_until_its_series_is_taken() {
        let cfg = IngestConfig {
            max_points_per_forecast: 2,
            ..config()
        };
        let mut state = IngestState::new(&cfg).unwrap();
        state.assign(&[0]);
        let now = Instant::now();
        let point = |k: i64| obs("a", T0 + k * 3600, k as f64);
        for k in 0..2 {
            assert_eq!(
                state.on_message(message(k, None, &point(k)), NOW, now),
                Placement::Placed
            );
        }
        let third = point(2);
        assert_eq!(
            state.on_message(message(2, None, &third), NOW, now),
            Placement::Held
        );
        // held means untouched: not tracked (the commit position cannot pass it), not placed
        let batch = state.take_batch(now + Duration::from_secs(1)).unwrap();
        assert_eq!(
            batch.windows[0]
                .values
                .iter()
                .filter(|v| v.is_finite())
                .count(),
            2
        );
        assert_eq!(batch.series[0].offset, 1);
        state.delivered(&batch.series);
        assert_eq!(state.take_committable(), vec![(0, 2)]);
        // once taken, the series takes it; bad input is still a dead letter at the floor
        assert_eq!(
            state.on_message(message(2, None, &third), NOW, now),
            Placement::Placed
        );
        assert_eq!(
            state.on_message(message(3, None, &point(3)), NOW, now),
            Placement::Placed
        );
        assert_eq!(
            state.on_message(message(4, None, b"\xff"), NOW, now),
            Placement::DeadLetter(DeadLetterReason::Undecodable)
        );
        assert_eq!(
            state.on_message(message(5, None, &point(4)), NOW, now),
            Placement::Held
        );
    }

    #[test]
    fn replayed_history_fills_windows_without_forecasts_or_offsets() {
        let mut state = IngestState::new(&config()).unwrap();
        state.assign(&[0]);
        state.mark_rebuilt(0);
        for step in 0..3 {
            state.replay_point(0, "a", T0 + step * 3600, step as f64);
        }
        state.replay_point(0, "a", T0 + 5, 9.0); // off grid: skipped
        let now = Instant::now();
        assert!(state.take_batch(now + Duration::from_secs(1)).is_none());
        assert!(state.take_committable().is_empty());
        let p = obs("a", T0 + 3 * 3600, 3.0);
        state.on_message(message(7, None, &p), NOW, now);
        let b = state.take_batch(now + Duration::from_secs(1)).unwrap();
        assert_eq!(b.windows[0].values, vec![0.0, 1.0, 2.0, 3.0]);
        // the window is full now, so no longer partial
        assert!(!b.windows[0].partial);
    }
}
