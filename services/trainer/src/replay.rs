//! The replay buffer: fully observed windows of the series, the newest in a ring and, as they
//! age out of it, a reservoir sample (Vitter's algorithm R) of all older ones, so a round trains
//! on the new regime without forgetting one that may return. Memory is bounded by the two
//! capacities.

use std::collections::VecDeque;
use std::sync::Arc;

use seer_core::rng::SplitMix64;
use seer_core::time::Frequency;
use seer_model::History;

/// One window: `values.len()` consecutive grid points of a series, none missing.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub series: Arc<str>,
    pub start: i64,
    pub freq: Frequency,
    pub values: Vec<f32>,
    /// Order of arrival; a round trains on and holds out windows newer than the last round's.
    pub seq: u64,
}

impl Segment {
    pub fn history(&self) -> History {
        History::new(
            self.series.to_string(),
            (0..self.values.len() as i64)
                .map(|k| self.freq.step_saturating(self.start, k))
                .collect(),
            self.values.iter().map(|&v| f64::from(v)).collect(),
        )
    }
}

pub struct ReplayBuffer {
    recent: VecDeque<Segment>,
    reservoir: Vec<Segment>,
    recent_capacity: usize,
    reservoir_capacity: usize,
    /// Windows that ever left the ring (algorithm R's count).
    aged: u64,
    next_seq: u64,
    rng: SplitMix64,
}

impl ReplayBuffer {
    pub fn new(recent: usize, reservoir: usize, seed: u64) -> ReplayBuffer {
        ReplayBuffer {
            recent: VecDeque::with_capacity(recent.min(4096)),
            reservoir: Vec::with_capacity(reservoir.min(4096)),
            recent_capacity: recent.max(1),
            reservoir_capacity: reservoir,
            aged: 0,
            next_seq: 1,
            rng: SplitMix64::new(seed ^ 0x005E_ED0F_7E91),
        }
    }

    /// Adds a window (its `seq` is assigned here).
    pub fn push(&mut self, mut segment: Segment) {
        segment.seq = self.next_seq;
        self.next_seq += 1;
        if self.recent.len() == self.recent_capacity
            && let Some(old) = self.recent.pop_front()
        {
            self.age(old);
        }
        self.recent.push_back(segment);
    }

    fn age(&mut self, old: Segment) {
        self.aged += 1;
        if self.reservoir_capacity == 0 {
            return;
        }
        if self.reservoir.len() < self.reservoir_capacity {
            self.reservoir.push(old);
        } else {
            let j = self.rng.below(self.aged as usize);
            if j < self.reservoir_capacity {
                self.reservoir[j] = old;
            }
        }
    }

    /// The `seq` the next window will get: windows below it are the ones held now.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Windows that arrived at or after `seq`, oldest first.
    pub fn since(&self, seq: u64) -> Vec<&Segment> {
        self.recent.iter().filter(|s| s.seq >= seq).collect()
    }

    /// Up to `n` windows older than `seq`, sampled without replacement from the ring's older
    /// part and the reservoir together.
    pub fn sample_older(&mut self, seq: u64, n: usize) -> Vec<Segment> {
        let mut pool: Vec<&Segment> = self
            .recent
            .iter()
            .filter(|s| s.seq < seq)
            .chain(self.reservoir.iter())
            .collect();
        let mut out = Vec::with_capacity(n.min(pool.len()));
        while out.len() < n && !pool.is_empty() {
            let i = self.rng.below(pool.len());
            out.push(pool.swap_remove(i).clone());
        }
        out
    }

    pub fn recent_len(&self) -> usize {
        self.recent.len()
    }

    pub fn reservoir_len(&self) -> usize {
        self.reservoir.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: &str, start: i64) -> Segment {
        Segment {
            series: id.into(),
            start,
            freq: Frequency::Seconds(60),
            values: vec![1.0, 2.0, 3.0],
            seq: 0,
        }
    }

    #[test]
    fn the_ring_and_the_reservoir_stay_within_their_capacities() {
        let mut b = ReplayBuffer::new(4, 3, 1);
        for k in 0..100 {
            b.push(seg("a", k));
        }
        assert_eq!((b.recent_len(), b.reservoir_len()), (4, 3));
        // the ring holds the newest four
        let newest: Vec<i64> = b.since(0).iter().map(|s| s.start).collect();
        assert_eq!(newest, [96, 97, 98, 99]);
        assert_eq!(b.next_seq(), 101);
        // the reservoir holds older windows, sampled from all of them, not just the last ones
        let older = b.sample_older(b.since(0)[0].seq, 10);
        assert_eq!(older.len(), 3);
        assert!(older.iter().all(|s| s.start < 96));
    }

    #[test]
    fn the_reservoir_samples_every_age_alike() {
        // algorithm R: each of the aged windows is in the reservoir with probability cap/aged
        let mut early = 0;
        for seed in 0..400 {
            let mut b = ReplayBuffer::new(1, 10, seed);
            for k in 0..101 {
                b.push(seg("a", k));
            }
            early += b.reservoir.iter().filter(|s| s.start < 50).count();
        }
        // 100 aged windows, half of them early: expect 10 · 0.5 · 400 = 2000
        assert!((1700..2300).contains(&early), "{early}");
    }

    #[test]
    fn since_and_older_split_at_a_sequence_number() {
        let mut b = ReplayBuffer::new(10, 0, 1);
        for k in 0..6 {
            b.push(seg("a", k));
        }
        let cut = b.since(0)[3].seq;
        assert_eq!(b.since(cut).len(), 3);
        let older = b.sample_older(cut, 10);
        assert_eq!(older.len(), 3);
        assert!(older.iter().all(|s| s.seq < cut));
        let h = older[0].history();
        assert_eq!(h.values.len(), 3);
        assert_eq!(h.timestamps[1] - h.timestamps[0], 60);
    }
}
