//! Which Kafka offsets may be committed: those before the first message not yet finished.
//!
//! A message is finished when its output is delivered: the forecast that read its point, or
//! its dead-letter record. Outputs are delivered out of order, so the commit position waits for
//! the oldest message still in flight, and a crash replays from there (at-least-once).
//!
//! Kafka hands a partition's messages out in offset order, so each partition keeps its tracked
//! messages in a ring, oldest first, and each series the offsets attached to it, also in order:
//! tracking and attaching append, finishing marks a slot found by binary search, and the ring
//! drops finished slots from its front. Series ids are shared between a series' list and its
//! slots (`Arc<str>`), so a message costs no allocation once its series is known.

use std::collections::VecDeque;
use std::sync::Arc;

use super::FastMap;

#[derive(Debug, Clone)]
struct Slot {
    offset: i64,
    finished: bool,
    series: Option<Arc<str>>,
}

/// A series' unfinished offsets, with its id (the map's key, kept here too so that a lookup by
/// `&str` yields the shared id without a second lookup).
#[derive(Debug, Clone)]
struct SeriesOffsets {
    id: Arc<str>,
    offsets: VecDeque<i64>,
}

#[derive(Debug, Clone, Default)]
struct PartitionOffsets {
    /// Tracked offsets, increasing, from the lowest unfinished one on.
    slots: VecDeque<Slot>,
    /// Unfinished offsets by the series attached to them, increasing. A series leaves the map
    /// with its last unfinished offset.
    by_series: FastMap<Arc<str>, SeriesOffsets>,
    last_tracked: Option<i64>,
    unfinished: usize,
}

/// Per partition, the offsets received and which of them are finished.
#[derive(Debug, Clone, Default)]
pub struct OffsetTracker {
    partitions: FastMap<i32, PartitionOffsets>,
}

impl OffsetTracker {
    pub fn new() -> Self {
        OffsetTracker::default()
    }

    /// Records a received message. Returns false, changing nothing, for an offset at or below
    /// the highest one tracked on the partition (a redelivery: Kafka hands a partition's
    /// messages out in order, so it was tracked before), and for an offset that is negative
    /// (Kafka's logical offsets) or `i64::MAX` (no commit position lies after it).
    pub fn track(&mut self, partition: i32, offset: i64) -> bool {
        if offset < 0 || offset == i64::MAX {
            return false;
        }
        let p = self.partitions.entry(partition).or_default();
        if p.last_tracked.is_some_and(|last| offset <= last) {
            return false;
        }
        p.slots.push_back(Slot {
            offset,
            finished: false,
            series: None,
        });
        p.unfinished += 1;
        p.last_tracked = Some(offset);
        true
    }

    /// Marks a message finished. Returns whether it was tracked and unfinished; finishing it
    /// again, or an offset never tracked, changes nothing.
    pub fn finish(&mut self, partition: i32, offset: i64) -> bool {
        let Some(p) = self.partitions.get_mut(&partition) else {
            return false;
        };
        let Some(i) = p.slot(offset) else {
            return false;
        };
        let slot = &mut p.slots[i];
        if slot.finished {
            return false;
        }
        slot.finished = true;
        let series = slot.series.take();
        p.unfinished -= 1;
        if let Some(series) = series {
            p.unlink(&series, offset);
        }
        p.compact();
        true
    }

    /// Ties an unfinished message to the series its point went to, so that
    /// [`OffsetTracker::finish_series_up_to`] can finish it. Attaching again moves it to the new
    /// series. Returns false when the offset is not tracked or already finished.
    pub fn attach(&mut self, partition: i32, offset: i64, series_id: &str) -> bool {
        let Some(p) = self.partitions.get_mut(&partition) else {
            return false;
        };
        let Some(i) = p.slot(offset) else {
            return false;
        };
        if p.slots[i].finished {
            return false;
        }
        if p.slots[i].series.as_deref() == Some(series_id) {
            return true;
        }
        if let Some(previous) = p.slots[i].series.take() {
            p.unlink(&previous, offset);
        }
        // one lookup for a series already attached; its id is allocated once and shared
        let Some(attached) = p.by_series.get_mut(series_id) else {
            let id: Arc<str> = Arc::from(series_id);
            p.slots[i].series = Some(id.clone());
            p.by_series.insert(
                id.clone(),
                SeriesOffsets {
                    id,
                    offsets: VecDeque::from([offset]),
                },
            );
            return true;
        };
        p.slots[i].series = Some(attached.id.clone());
        let offsets = &mut attached.offsets;
        // almost always the newest offset: an append
        match offsets.back() {
            Some(&last) if last > offset => {
                let at = offsets.partition_point(|&o| o < offset);
                offsets.insert(at, offset);
            }
            _ => offsets.push_back(offset),
        }
        true
    }

    /// Finishes every unfinished message attached to `series_id` at or below `offset`, and
    /// returns how many.
    ///
    /// Call it when a forecast is delivered, with the offset
    /// [`OffsetTracker::latest_attached`] gave when the series was taken into the batch: every
    /// point up to there was in the window the forecast read. Messages attached later stay
    /// unfinished for the next forecast.
    pub fn finish_series_up_to(&mut self, partition: i32, series_id: &str, offset: i64) -> usize {
        let Some(p) = self.partitions.get_mut(&partition) else {
            return 0;
        };
        let Some(SeriesOffsets { offsets, .. }) = p.by_series.get_mut(series_id) else {
            return 0;
        };
        let mut finished = 0;
        while let Some(&o) = offsets.front() {
            if o > offset {
                break;
            }
            offsets.pop_front();
            // an attached offset is unfinished and tracked: unlink keeps it so
            if let Ok(i) = p.slots.binary_search_by_key(&o, |s| s.offset) {
                let slot = &mut p.slots[i];
                slot.finished = true;
                slot.series = None;
                finished += 1;
            }
        }
        if offsets.is_empty() {
            p.by_series.remove(series_id);
        }
        p.unfinished -= finished;
        p.compact();
        finished
    }

    /// The highest unfinished offset attached to `series_id`: what a forecast taken now covers.
    pub fn latest_attached(&self, partition: i32, series_id: &str) -> Option<i64> {
        self.partitions
            .get(&partition)?
            .by_series
            .get(series_id)?
            .offsets
            .back()
            .copied()
    }

    /// The position to commit for `partition` (the next offset to read): the lowest unfinished
    /// offset, or one past the highest tracked when all are finished. `None` when nothing was
    /// tracked since the partition was assigned (or dropped).
    ///
    /// It never decreases, and never passes an unfinished message.
    pub fn committable(&self, partition: i32) -> Option<i64> {
        let p = self.partitions.get(&partition)?;
        match p.slots.front() {
            // compact() keeps the front unfinished
            Some(slot) => Some(slot.offset),
            // `track` refuses i64::MAX, so the sum cannot overflow.
            None => p.last_tracked.map(|last| last + 1),
        }
    }

    /// [`OffsetTracker::committable`] for every partition with something tracked, by partition.
    pub fn committable_all(&self) -> Vec<(i32, i64)> {
        let mut all: Vec<(i32, i64)> = self
            .partitions
            .keys()
            .filter_map(|&p| Some((p, self.committable(p)?)))
            .collect();
        all.sort_unstable();
        all
    }

    /// Messages tracked and not yet finished on `partition`.
    pub fn unfinished_count(&self, partition: i32) -> usize {
        self.partitions.get(&partition).map_or(0, |p| p.unfinished)
    }

    /// Forgets `partition` (on revocation; after reassignment offsets are tracked afresh).
    /// Returns whether anything was tracked there.
    pub fn drop_partition(&mut self, partition: i32) -> bool {
        self.partitions.remove(&partition).is_some()
    }
}

impl PartitionOffsets {
    fn slot(&self, offset: i64) -> Option<usize> {
        // the message just tracked, nearly always: no search
        let last = self.slots.len().checked_sub(1)?;
        if self.slots[last].offset == offset {
            return Some(last);
        }
        self.slots.binary_search_by_key(&offset, |s| s.offset).ok()
    }

    fn unlink(&mut self, series: &str, offset: i64) {
        if let Some(SeriesOffsets { offsets, .. }) = self.by_series.get_mut(series) {
            if let Ok(at) = offsets.binary_search(&offset) {
                offsets.remove(at);
            }
            if offsets.is_empty() {
                self.by_series.remove(series);
            }
        }
    }

    /// Drops finished slots from the front, so that the front is the commit position.
    fn compact(&mut self) {
        while self.slots.front().is_some_and(|s| s.finished) {
            self.slots.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn out_of_order_finishes_never_skip_an_unfinished_message() {
        let mut t = OffsetTracker::new();
        assert_eq!(t.committable(0), None);
        for o in 10..13 {
            assert!(t.track(0, o));
        }
        assert_eq!(t.committable(0), Some(10));
        assert!(t.finish(0, 12));
        assert!(t.finish(0, 11));
        assert_eq!(t.committable(0), Some(10));
        assert!(t.finish(0, 10));
        // All finished: one past the last tracked, the next offset to read.
        assert_eq!(t.committable(0), Some(13));
        assert_eq!(t.unfinished_count(0), 0);
        assert!(t.track(0, 13));
        assert_eq!(t.committable(0), Some(13));
    }

    #[test]
    fn finishing_is_idempotent_and_unknown_offsets_are_no_ops() {
        let mut t = OffsetTracker::new();
        t.track(3, 5);
        t.track(3, 6);
        assert!(t.finish(3, 5));
        assert!(!t.finish(3, 5));
        assert!(!t.finish(3, 4));
        assert!(!t.finish(3, 99));
        assert!(!t.finish(4, 6));
        assert_eq!(t.committable(3), Some(6));
        assert_eq!(t.committable(4), None);
        // Redeliveries and regressions are not tracked again, so they cannot pull the position
        // back; nor are Kafka's logical offsets or one with no position after it.
        assert!(!t.track(3, 6));
        assert!(!t.track(3, 5));
        assert!(!t.track(3, -1));
        assert!(!t.track(3, i64::MAX));
        assert_eq!((t.committable(3), t.unfinished_count(3)), (Some(6), 1));
        assert!(!t.track(9, -2));
        assert_eq!(t.committable(9), None);
    }

    #[test]
    fn gaps_in_offsets_are_committed_over() {
        // Compacted topics and transaction markers leave offsets that are never delivered.
        let mut t = OffsetTracker::new();
        t.track(0, 5);
        t.track(0, 8);
        assert!(t.finish(0, 5));
        assert_eq!(t.committable(0), Some(8));
        assert!(t.finish(0, 8));
        assert_eq!(t.committable(0), Some(9));
    }

    #[test]
    fn a_delivered_forecast_finishes_its_series_messages() {
        let mut t = OffsetTracker::new();
        for o in 0..6 {
            t.track(1, o);
        }
        // Offset 4 was dead-lettered and is not attached.
        for (o, id) in [(0, "a"), (1, "b"), (2, "a"), (3, "a"), (5, "b")] {
            assert!(t.attach(1, o, id));
        }
        assert_eq!(t.latest_attached(1, "a"), Some(3));
        assert_eq!(t.latest_attached(1, "b"), Some(5));
        assert_eq!(t.latest_attached(1, "z"), None);
        assert_eq!(t.latest_attached(7, "a"), None);

        // A forecast of a that read up to offset 2; 3 arrived after it was taken.
        assert_eq!(t.finish_series_up_to(1, "a", 2), 2);
        assert_eq!(t.committable(1), Some(1));
        assert!(t.finish(1, 4));
        assert_eq!(t.finish_series_up_to(1, "b", 5), 2);
        assert_eq!(t.committable(1), Some(3));
        assert_eq!(t.finish_series_up_to(1, "a", 3), 1);
        assert_eq!(t.committable(1), Some(6));
        assert_eq!(t.finish_series_up_to(1, "a", 3), 0);
        assert_eq!(t.finish_series_up_to(1, "nobody", 3), 0);
        assert_eq!(t.finish_series_up_to(2, "a", 3), 0);
        assert_eq!(t.latest_attached(1, "a"), None);
    }

    #[test]
    fn attaching_follows_the_message() {
        let mut t = OffsetTracker::new();
        assert!(!t.attach(0, 0, "a"));
        t.track(0, 0);
        t.track(0, 1);
        t.track(0, 2);
        assert!(!t.attach(0, 7, "a"));
        assert!(t.attach(0, 0, "a"));
        assert!(t.attach(0, 0, "a"));
        // Moved to b: a's forecast no longer finishes it.
        assert!(t.attach(0, 0, "b"));
        assert_eq!(t.latest_attached(0, "a"), None);
        assert_eq!(t.finish_series_up_to(0, "a", 10), 0);
        // Finished directly (say, dead-lettered after all): gone from b too.
        t.attach(0, 1, "b");
        assert!(t.finish(0, 1));
        assert_eq!(t.latest_attached(0, "b"), Some(0));
        assert!(!t.attach(0, 1, "b"));
        assert_eq!(t.finish_series_up_to(0, "b", i64::MAX), 1);
        assert_eq!(t.committable(0), Some(2));
    }

    #[test]
    fn dropping_a_partition_starts_it_afresh() {
        let mut t = OffsetTracker::new();
        t.track(0, 100);
        t.attach(0, 100, "a");
        t.track(1, 7);
        assert_eq!(t.committable_all(), vec![(0, 100), (1, 7)]);
        assert!(t.drop_partition(0));
        assert!(!t.drop_partition(0));
        assert_eq!(t.committable(0), None);
        assert_eq!(t.latest_attached(0, "a"), None);
        assert!(!t.finish(0, 100));
        // Reassigned, consumption may resume below what was seen before.
        assert!(t.track(0, 90));
        assert_eq!(t.committable_all(), vec![(0, 90), (1, 7)]);
    }

    /// The tracker's contract over a plain list of messages.
    #[derive(Default)]
    struct Naive {
        messages: Vec<(i64, bool, Option<String>)>,
        last: Option<i64>,
    }

    impl Naive {
        fn find(&mut self, offset: i64) -> Option<&mut (i64, bool, Option<String>)> {
            self.messages.iter_mut().find(|m| m.0 == offset && !m.1)
        }

        fn track(&mut self, offset: i64) -> bool {
            if offset < 0 || offset == i64::MAX || self.last.is_some_and(|l| offset <= l) {
                return false;
            }
            self.messages.push((offset, false, None));
            self.last = Some(offset);
            true
        }

        fn finish(&mut self, offset: i64) -> bool {
            self.find(offset).map(|m| m.1 = true).is_some()
        }

        fn attach(&mut self, offset: i64, id: &str) -> bool {
            self.find(offset)
                .map(|m| m.2 = Some(id.to_owned()))
                .is_some()
        }

        fn finish_series(&mut self, id: &str, up_to: i64) -> usize {
            let mut n = 0;
            for m in &mut self.messages {
                if !m.1 && m.0 <= up_to && m.2.as_deref() == Some(id) {
                    m.1 = true;
                    n += 1;
                }
            }
            n
        }

        fn latest(&self, id: &str) -> Option<i64> {
            self.messages
                .iter()
                .filter(|m| !m.1 && m.2.as_deref() == Some(id))
                .map(|m| m.0)
                .max()
        }

        fn committable(&self) -> Option<i64> {
            let lowest = self.messages.iter().filter(|m| !m.1).map(|m| m.0).min();
            lowest.or(self.last.map(|l| l + 1))
        }
    }

    #[test]
    fn random_operations_match_a_naive_model() {
        const IDS: [&str; 3] = ["a", "b", "c"];
        // How often finish, attach and finish_series_up_to had an effect: the run must reach
        // the interesting cases, not only the no-ops.
        let mut hits = [0usize; 3];
        for seed in 0..40u64 {
            let mut rng = SplitMix64::new(0x0FF5_E700 + seed);
            let mut t = OffsetTracker::new();
            let mut naive: [Naive; 3] = Default::default();
            let mut next = [0i64; 3];
            let mut floor: [Option<i64>; 3] = [None; 3];
            for step in 0..2000 {
                let r = rng.next_u64();
                let p = (r % 3) as usize;
                let partition = p as i32;
                let id = IDS[(r >> 8) as usize % 3];
                let around = (r >> 16) as i64 % (next[p] + 3) - 1;
                let what = format!("seed {seed} step {step} partition {p}");
                match (r >> 40) % 100 {
                    0..30 => {
                        // Mostly the next offset, sometimes a skip or a redelivery.
                        let offset = match (r >> 48) % 10 {
                            0 => around,
                            1 => next[p] + 2,
                            _ => next[p],
                        };
                        let expected = naive[p].track(offset);
                        assert_eq!(t.track(partition, offset), expected, "{what}: track");
                        if expected {
                            next[p] = offset + 1;
                        }
                    }
                    30..55 => {
                        let expected = naive[p].finish(around);
                        assert_eq!(t.finish(partition, around), expected, "{what}: finish");
                        hits[0] += usize::from(expected);
                    }
                    55..75 => {
                        let expected = naive[p].attach(around, id);
                        assert_eq!(t.attach(partition, around, id), expected, "{what}: attach");
                        hits[1] += usize::from(expected);
                    }
                    75..90 => {
                        // The ingest finishes up to what it saw when it took the series.
                        let up_to = if r.is_multiple_of(2) {
                            naive[p].latest(id).unwrap_or(around)
                        } else {
                            around
                        };
                        let expected = naive[p].finish_series(id, up_to);
                        let got = t.finish_series_up_to(partition, id, up_to);
                        assert_eq!(got, expected, "{what}: finish_series_up_to");
                        hits[2] += expected;
                    }
                    90..99 => {
                        // The oldest message in flight completes, so the position moves.
                        if let Some(lowest) = t.committable(partition) {
                            assert_eq!(t.finish(partition, lowest), naive[p].finish(lowest));
                        }
                    }
                    _ => {
                        let expected = naive[p].last.is_some();
                        assert_eq!(t.drop_partition(partition), expected, "{what}: drop");
                        naive[p] = Naive::default();
                        floor[p] = None;
                        // Reassigned, the partition may resume below where it was.
                        next[p] /= 2;
                    }
                }
                for (q, model) in naive.iter().enumerate() {
                    let committable = t.committable(q as i32);
                    assert_eq!(committable, model.committable(), "{what}: committable {q}");
                    // Never passes an unfinished message, and never goes back.
                    let unfinished = model.messages.iter().filter(|m| !m.1);
                    assert!(
                        unfinished
                            .clone()
                            .all(|m| committable.is_some_and(|c| c <= m.0))
                    );
                    assert_eq!(t.unfinished_count(q as i32), unfinished.count());
                    if let (Some(before), Some(now)) = (floor[q], committable) {
                        assert!(now >= before, "{what}: position went back");
                    }
                    floor[q] = committable;
                    for id in IDS {
                        assert_eq!(t.latest_attached(q as i32, id), model.latest(id), "{what}");
                    }
                }
            }
        }
        assert!(hits.iter().all(|&n| n > 1000), "{hits:?}");
    }
}
