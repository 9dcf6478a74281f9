//! Which series need a forecast, and when enough of them are waiting to send a batch.
//!
//! Time is always passed in, never read here, so that tests (and replays) are deterministic.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::FastMap;
use crate::CoreError;

/// A series as the ingest owns it: the partition it arrives on and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub partition: i32,
    pub series_id: String,
}

impl SeriesKey {
    pub fn new(partition: i32, series_id: impl Into<String>) -> Self {
        SeriesKey {
            partition,
            series_id: series_id.into(),
        }
    }
}

/// When due series are sent for a forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Most series in one batch; a batch goes as soon as this many are due.
    pub max_batch: usize,
    /// Longest a due series waits for its batch to fill.
    pub max_delay: Duration,
    /// A series is due once this many points arrived since its last forecast (1: every point).
    pub every_points: usize,
    /// The cadence floor: a series with this many points since its last forecast takes no more
    /// until a batch has taken it (0: no floor, and every point that arrives while a series
    /// waits goes into its one forecast).
    pub max_points: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            max_batch: 1024,
            // 10 ms keeps p99 event→forecast under 50 ms at 10k events/s (BENCHMARKS.md)
            max_delay: Duration::from_millis(10),
            every_points: 1,
            max_points: 0,
        }
    }
}

impl BatchPolicy {
    /// Errors on a `max_batch` or `every_points` of 0, which would never send anything.
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.max_batch == 0 {
            return Err(CoreError::InvalidBatchPolicy(
                "max_batch must be at least 1".to_owned(),
            ));
        }
        if self.every_points == 0 {
            return Err(CoreError::InvalidBatchPolicy(
                "every_points must be at least 1".to_owned(),
            ));
        }
        if self.max_points != 0 && self.max_points < self.every_points {
            return Err(CoreError::InvalidBatchPolicy(format!(
                "max_points ({}) must be 0 or at least every_points ({})",
                self.max_points, self.every_points
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    /// Points since the series was last taken into a batch.
    points: usize,
    /// When the first of those points arrived.
    since: Instant,
    due: bool,
}

/// Counts points per series, marks series due, and hands out batches of due series.
///
/// A series is due once `every_points` points arrived since it was last taken; points arriving
/// while it waits are read by the same forecast (the caller reads the window when it takes the
/// batch), so they count towards the next one only from the take on. A series is due at most
/// once at a time. With a floor (`max_points`), [`DueTracker::at_floor`] says a series may take
/// no more points until it is taken: the caller holds its next point back and sends the due
/// series without waiting.
#[derive(Debug, Clone)]
pub struct DueTracker {
    policy: BatchPolicy,
    /// Series with points since their last take. Entries leave on take, so the map holds the
    /// active series only.
    pending: FastMap<SeriesKey, Pending>,
    /// Due series in the order they became due, each once.
    due: VecDeque<(SeriesKey, Instant)>,
}

impl DueTracker {
    /// Errors as [`BatchPolicy::validate`].
    pub fn new(policy: BatchPolicy) -> Result<Self, CoreError> {
        policy.validate()?;
        Ok(DueTracker {
            policy,
            pending: FastMap::default(),
            due: VecDeque::new(),
        })
    }

    pub fn policy(&self) -> &BatchPolicy {
        &self.policy
    }

    /// Counts one accepted point of `key` at `now`. Returns whether the series became due with
    /// it.
    pub fn note_point(&mut self, key: &SeriesKey, now: Instant) -> bool {
        // One lookup for a series already pending; the key is cloned once per series, not per
        // point.
        if let Some(state) = self.pending.get_mut(key) {
            return Self::count_point(&self.policy, &mut self.due, state, key, now);
        }
        let mut state = Pending::new(now);
        let became_due = Self::count_point(&self.policy, &mut self.due, &mut state, key, now);
        self.pending.insert(key.clone(), state);
        became_due
    }

    fn count_point(
        policy: &BatchPolicy,
        due: &mut VecDeque<(SeriesKey, Instant)>,
        state: &mut Pending,
        key: &SeriesKey,
        now: Instant,
    ) -> bool {
        state.points = state.points.saturating_add(1);
        if state.due || state.points < policy.every_points {
            return false;
        }
        state.due = true;
        due.push_back((key.clone(), now));
        true
    }

    /// Makes `key` due at `now` whatever its point count (a retry after a failed forecast, or a
    /// series whose last points would otherwise wait for points that never come). Returns false
    /// when it was due already.
    pub fn force_due(&mut self, key: &SeriesKey, now: Instant) -> bool {
        let state = self
            .pending
            .entry(key.clone())
            .or_insert_with(|| Pending::new(now));
        if state.due {
            return false;
        }
        state.due = true;
        self.due.push_back((key.clone(), now));
        true
    }

    /// Makes due every series that has points not yet due whose first one arrived at least
    /// `idle` before `now`. Returns how many became due.
    ///
    /// With `every_points > 1` the last points of a series that goes quiet would never be
    /// forecast, and their offsets never finished; calling this now and then (it walks every
    /// pending series) bounds how long that lasts. Series become due oldest first.
    pub fn promote_idle(&mut self, now: Instant, idle: Duration) -> usize {
        let mut stale: Vec<(Instant, &SeriesKey)> = self
            .pending
            .iter()
            .filter(|(_, p)| !p.due && now.saturating_duration_since(p.since) >= idle)
            .map(|(key, p)| (p.since, key))
            .collect();
        // The map's order is random; sorting keeps batches reproducible.
        stale.sort();
        let keys: Vec<SeriesKey> = stale.into_iter().map(|(_, key)| key.clone()).collect();
        for key in &keys {
            if let Some(state) = self.pending.get_mut(key) {
                state.due = true;
            }
            self.due.push_back((key.clone(), now));
        }
        keys.len()
    }

    /// Up to `max_batch` due series, oldest due first, when `max_batch` of them are due or the
    /// oldest has waited `max_delay`; `None` otherwise. The series taken start counting points
    /// afresh.
    ///
    /// To flush regardless of the delay (shutdown, revocation), pass `now + max_delay`.
    pub fn take_batch(&mut self, now: Instant) -> Option<Vec<SeriesKey>> {
        let (_, oldest) = self.due.front()?;
        let full = self.due.len() >= self.policy.max_batch;
        if !full && now.saturating_duration_since(*oldest) < self.policy.max_delay {
            return None;
        }
        let n = self.due.len().min(self.policy.max_batch);
        let batch: Vec<SeriesKey> = self.due.drain(..n).map(|(key, _)| key).collect();
        for key in &batch {
            self.pending.remove(key);
        }
        Some(batch)
    }

    /// When [`DueTracker::take_batch`] will next return a batch if no more points arrive: the
    /// oldest due series' time plus `max_delay`, or that series' time itself (a past instant:
    /// take now) when a full batch is waiting. `None` when nothing is due, or when the deadline
    /// lies beyond what `Instant` can represent.
    pub fn next_deadline(&self) -> Option<Instant> {
        let (_, oldest) = self.due.front()?;
        if self.due.len() >= self.policy.max_batch {
            return Some(*oldest);
        }
        oldest.checked_add(self.policy.max_delay)
    }

    /// Series due and not yet taken; the caller stops consuming while this is above its bound.
    pub fn due_count(&self) -> usize {
        self.due.len()
    }

    /// Whether `key` has `max_points` points since it was last taken: its next point must wait
    /// until a batch takes it, so that no forecast reads more than the floor's points. Such a
    /// series is due (`every_points <= max_points`).
    pub fn at_floor(&self, key: &SeriesKey) -> bool {
        self.policy.max_points != 0
            && self
                .pending
                .get(key)
                .is_some_and(|p| p.points >= self.policy.max_points)
    }

    /// Series with points since their last take, due or not.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Forgets the series of `partition` (on revocation).
    pub fn drop_partition(&mut self, partition: i32) {
        self.pending.retain(|key, _| key.partition != partition);
        self.due.retain(|(key, _)| key.partition != partition);
    }
}

impl Pending {
    fn new(now: Instant) -> Self {
        Pending {
            points: 0,
            since: now,
            due: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> SeriesKey {
        SeriesKey::new(0, id)
    }

    fn keys(ids: &[&str]) -> Vec<SeriesKey> {
        ids.iter().map(|id| key(id)).collect()
    }

    fn tracker(max_batch: usize, delay_ms: u64, every_points: usize) -> DueTracker {
        DueTracker::new(BatchPolicy {
            max_batch,
            max_delay: Duration::from_millis(delay_ms),
            every_points,
            max_points: 0,
        })
        .unwrap()
    }

    fn floored(max_batch: usize, every_points: usize, max_points: usize) -> DueTracker {
        DueTracker::new(BatchPolicy {
            max_batch,
            max_delay: Duration::from_secs(3600),
            every_points,
            max_points,
        })
        .unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_batch_goes_when_full() {
        let t0 = Instant::now();
        let mut due = tracker(3, 1000, 1);
        assert_eq!(due.take_batch(t0), None);
        assert_eq!(due.next_deadline(), None);
        assert!(due.note_point(&key("a"), t0));
        assert!(due.note_point(&key("b"), t0 + ms(1)));
        assert_eq!(due.take_batch(t0 + ms(2)), None);
        assert_eq!(due.next_deadline(), Some(t0 + ms(1000)));
        for id in ["c", "d", "e"] {
            due.note_point(&key(id), t0 + ms(3));
        }
        assert_eq!(due.due_count(), 5);
        // A full batch is ready now: its deadline is already past.
        assert_eq!(due.next_deadline(), Some(t0));
        assert_eq!(due.take_batch(t0 + ms(3)), Some(keys(&["a", "b", "c"])));
        assert_eq!(due.due_count(), 2);
        // The rest waits for the delay of the oldest of them.
        assert_eq!(due.take_batch(t0 + ms(4)), None);
        assert_eq!(due.next_deadline(), Some(t0 + ms(1003)));
        assert_eq!(due.take_batch(t0 + ms(1003)), Some(keys(&["d", "e"])));
        assert_eq!((due.due_count(), due.pending_count()), (0, 0));
        assert_eq!(due.take_batch(t0 + ms(5000)), None);
    }

    #[test]
    fn a_batch_goes_when_the_oldest_has_waited() {
        let t0 = Instant::now();
        let mut due = tracker(100, 1000, 1);
        due.note_point(&key("a"), t0);
        due.note_point(&key("b"), t0 + ms(400));
        assert_eq!(due.take_batch(t0 + ms(999)), None);
        assert_eq!(due.next_deadline(), Some(t0 + ms(1000)));
        // b goes along although it has waited only 600 ms.
        assert_eq!(due.take_batch(t0 + ms(1000)), Some(keys(&["a", "b"])));
        // A clock reading before the due time counts as no wait at all.
        due.note_point(&key("c"), t0 + ms(2000));
        assert_eq!(due.take_batch(t0), None);
        // Flushing: now + max_delay.
        assert_eq!(due.take_batch(t0 + ms(2000) + ms(1000)), Some(keys(&["c"])));

        let mut eager = tracker(100, 0, 1);
        eager.note_point(&key("a"), t0);
        assert_eq!(eager.next_deadline(), Some(t0));
        assert_eq!(eager.take_batch(t0), Some(keys(&["a"])));
    }

    #[test]
    fn a_series_is_due_once_until_taken() {
        let t0 = Instant::now();
        let mut due = tracker(10, 100, 1);
        assert!(due.note_point(&key("a"), t0));
        assert!(due.note_point(&key("b"), t0));
        assert!(!due.note_point(&key("a"), t0 + ms(50)));
        assert_eq!(due.due_count(), 2);
        // a keeps its place (and its deadline) from the first time it became due.
        assert_eq!(due.next_deadline(), Some(t0 + ms(100)));
        assert_eq!(due.take_batch(t0 + ms(100)), Some(keys(&["a", "b"])));
        assert!(due.note_point(&key("a"), t0 + ms(101)));
        // The same id on another partition is another series.
        assert!(due.note_point(&SeriesKey::new(1, "a"), t0 + ms(101)));
        assert_eq!(due.due_count(), 2);
    }

    #[test]
    fn every_k_points_counts_from_the_last_take() {
        let t0 = Instant::now();
        let mut due = tracker(10, 0, 3);
        let a = key("a");
        assert!(!due.note_point(&a, t0));
        assert!(!due.note_point(&a, t0));
        assert_eq!((due.due_count(), due.pending_count()), (0, 1));
        assert_eq!(due.take_batch(t0), None);
        assert!(due.note_point(&a, t0));
        // Points while due are read by the coming forecast; they do not count twice.
        assert!(!due.note_point(&a, t0));
        assert!(!due.note_point(&a, t0));
        assert_eq!(due.take_batch(t0), Some(vec![a.clone()]));
        assert!(!due.note_point(&a, t0));
        assert!(!due.note_point(&a, t0));
        assert!(due.note_point(&a, t0));
    }

    #[test]
    fn forced_and_idle_series_become_due() {
        let t0 = Instant::now();
        let mut due = tracker(10, 1000, 3);
        due.note_point(&key("a"), t0);
        due.note_point(&key("b"), t0 + ms(1000));
        due.note_point(&key("b"), t0 + ms(1100));
        assert_eq!(due.promote_idle(t0 + ms(2000), ms(1500)), 1);
        assert_eq!(due.promote_idle(t0 + ms(2000), ms(1500)), 0);
        // b's first pending point is what counts, not its last.
        assert_eq!(due.promote_idle(t0 + ms(2500), ms(1500)), 1);
        assert_eq!(due.take_batch(t0 + ms(3000)), Some(keys(&["a", "b"])));

        assert!(due.force_due(&key("c"), t0));
        assert!(!due.force_due(&key("c"), t0));
        assert!(!due.note_point(&key("c"), t0));
        assert_eq!(due.take_batch(t0 + ms(1000)), Some(keys(&["c"])));
        assert_eq!(due.pending_count(), 0);

        // Several idle series become due oldest first, whatever the map's order.
        let ids = ["q", "w", "e", "r", "t", "y"];
        for (i, id) in ids.iter().enumerate() {
            due.note_point(&key(id), t0 + ms(10 * (ids.len() - i) as u64));
        }
        assert_eq!(due.promote_idle(t0 + ms(100), ms(0)), 6);
        assert_eq!(
            due.take_batch(t0 + ms(5000)),
            Some(keys(&["y", "t", "r", "e", "w", "q"]))
        );
    }

    #[test]
    fn a_series_at_the_floor_takes_no_more_points_until_taken() {
        let t0 = Instant::now();
        let mut due = floored(100, 1, 3);
        let (a, b) = (key("a"), key("b"));
        due.note_point(&a, t0);
        due.note_point(&b, t0);
        due.note_point(&a, t0);
        assert!(!due.at_floor(&a));
        due.note_point(&a, t0);
        assert!(due.at_floor(&a));
        assert!(!due.at_floor(&b));
        assert!(!due.at_floor(&key("never seen")));
        // the floor does not send a batch by itself: the caller flushes
        assert_eq!(due.take_batch(t0), None);
        assert_eq!(
            due.take_batch(t0 + Duration::from_secs(3600)),
            Some(keys(&["a", "b"]))
        );
        assert!(!due.at_floor(&a));
        // a counts afresh from its take
        for _ in 0..2 {
            due.note_point(&a, t0);
        }
        assert!(!due.at_floor(&a));
        due.note_point(&a, t0);
        assert!(due.at_floor(&a));
    }

    #[test]
    fn the_floor_counts_from_the_last_take_with_every_points() {
        let t0 = Instant::now();
        let mut due = floored(10, 2, 4);
        let a = key("a");
        assert!(!due.note_point(&a, t0));
        assert!(due.note_point(&a, t0));
        due.note_point(&a, t0);
        assert!(!due.at_floor(&a));
        due.note_point(&a, t0);
        assert!(due.at_floor(&a));
        // dropping the partition forgets it
        due.drop_partition(0);
        assert!(!due.at_floor(&a));
        // no floor: never at it
        let mut unfloored = tracker(10, 0, 1);
        for _ in 0..1000 {
            unfloored.note_point(&a, t0);
        }
        assert!(!unfloored.at_floor(&a));
    }

    #[test]
    fn dropping_a_partition_forgets_its_series() {
        let t0 = Instant::now();
        let mut due = tracker(10, 100, 2);
        due.note_point(&SeriesKey::new(0, "a"), t0);
        due.note_point(&SeriesKey::new(0, "a"), t0);
        due.note_point(&SeriesKey::new(1, "b"), t0);
        due.note_point(&SeriesKey::new(1, "b"), t0);
        due.note_point(&SeriesKey::new(0, "c"), t0);
        due.note_point(&SeriesKey::new(1, "d"), t0);
        assert_eq!((due.due_count(), due.pending_count()), (2, 4));
        due.drop_partition(0);
        assert_eq!((due.due_count(), due.pending_count()), (1, 2));
        assert_eq!(
            due.take_batch(t0 + ms(100)),
            Some(vec![SeriesKey::new(1, "b")])
        );
        // Back on this consumer, the series counts from zero.
        assert!(!due.note_point(&SeriesKey::new(0, "a"), t0));
    }

    #[test]
    fn an_unrepresentable_deadline_leaves_only_the_size_trigger() {
        let t0 = Instant::now();
        let mut due = DueTracker::new(BatchPolicy {
            max_batch: 2,
            max_delay: Duration::MAX,
            every_points: 1,
            max_points: 0,
        })
        .unwrap();
        due.note_point(&key("a"), t0);
        assert_eq!(due.next_deadline(), None);
        assert_eq!(due.take_batch(t0 + ms(1_000_000)), None);
        due.note_point(&key("b"), t0);
        assert_eq!(due.next_deadline(), Some(t0));
        assert_eq!(due.take_batch(t0), Some(keys(&["a", "b"])));
    }

    #[test]
    fn policies_that_never_send_are_errors() {
        let zero_batch = BatchPolicy {
            max_batch: 0,
            ..BatchPolicy::default()
        };
        assert_eq!(
            DueTracker::new(zero_batch).unwrap_err().to_string(),
            "invalid batch policy: max_batch must be at least 1"
        );
        let zero_points = BatchPolicy {
            every_points: 0,
            ..BatchPolicy::default()
        };
        assert!(matches!(
            DueTracker::new(zero_points),
            Err(CoreError::InvalidBatchPolicy(_))
        ));
        assert!(BatchPolicy::default().validate().is_ok());
        let floor_below_due = BatchPolicy {
            every_points: 4,
            max_points: 3,
            ..BatchPolicy::default()
        };
        assert_eq!(
            floor_below_due.validate().unwrap_err().to_string(),
            "invalid batch policy: max_points (3) must be 0 or at least every_points (4)"
        );
    }
}
