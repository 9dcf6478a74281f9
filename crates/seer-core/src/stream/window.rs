//! One series' recent history on its grid, as a model reads it.

use std::collections::VecDeque;

use thiserror::Error;

use crate::CoreError;
use crate::stream::dead_letter::DeadLetterReason;
use crate::time::Frequency;

/// The largest window [`SeriesWindow::try_new`] accepts.
///
/// Models read a few hundred to a few thousand points; a capacity far beyond that is a
/// configuration mistake, and one jump ahead would then lay out that many gap slots at once.
pub const MAX_WINDOW_CAPACITY: usize = 1_000_000;

/// Where an accepted point went.
///
/// The caller uses it for metrics and to decide whether the point changes what a forecast would
/// read (a [`Placement::Duplicate`] with the same value does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The first point of an empty window: it anchors the grid.
    Started,
    /// A point newer than the newest slot. `gaps` slots between the two were left missing; the
    /// oldest slots fell out when the window was full.
    Advanced { gaps: usize },
    /// A point older than the newest slot, placed into a missing slot or before the oldest one
    /// (the window had room for it).
    Backfilled,
    /// A point at a slot that already held a value, which it replaced (the last write wins, as
    /// the CSV reader does).
    Duplicate,
    /// A point so far ahead that none of the window would survive: the window now holds only
    /// this point. `skipped` grid slots lay between the previous newest point and it.
    Reset { skipped: u64 },
}

/// Why a point was not placed. The ingest sends it to the dead-letter topic.
// PartialEq only: OutOfRange carries the rejected f64
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum Rejection {
    /// Older than the oldest slot the window can hold (`oldest` is that slot's timestamp).
    #[error("timestamp {timestamp} is older than the window's oldest slot {oldest}")]
    Late { timestamp: i64, oldest: i64 },
    /// Not on the series' grid: `anchor + k · freq` for no integer k (a calendar grid holds
    /// every timestamp).
    #[error("timestamp {timestamp} is not on the {freq} grid through {anchor}")]
    OffGrid {
        timestamp: i64,
        freq: Frequency,
        anchor: i64,
    },
    /// Finite, but beyond what a window holds (single precision, ±3.4e38).
    #[error(
        "value {value} is beyond ±{} (windows hold single precision)",
        f32::MAX
    )]
    OutOfRange { value: f64 },
}

impl Rejection {
    /// A stable lowercase name for the dead-letter reason header; never changes between
    /// releases, so consumers of the dead-letter topic can match on it.
    pub fn reason(&self) -> DeadLetterReason {
        match self {
            Rejection::Late { .. } => DeadLetterReason::Late,
            Rejection::OffGrid { .. } => DeadLetterReason::OffGrid,
            Rejection::OutOfRange { .. } => DeadLetterReason::OutOfRange,
        }
    }
}

/// The last `capacity` grid slots of one series, ending at its newest point.
///
/// The grid is `anchor + k · freq` where the anchor is the first point ever inserted; every
/// later point must lie on it. A calendar spacing has one slot per calendar period (month,
/// quarter, year), whichever day in it a point carries; the window's timestamps are counted from
/// its newest point. Slots with no point hold NaN, which is how models read a missing value
/// (docs/models.md).
///
/// The window spans at most `capacity` slots counted back from the newest point, so a point
/// within that span is placed even when it is older than the oldest point held so far (a young
/// window grows backwards); only a point before the span is late.
///
/// Values are kept in single precision, as the models compute (about 7 significant digits; a
/// window of 168 points is 672 bytes), and read back as f64. A finite value beyond f32's range is
/// rejected ([`Rejection::OutOfRange`]) rather than stored as ±Inf. The caller rejects NaN and
/// ±Inf values before inserting (they go to the dead-letter topic with their own reason); one
/// inserted anyway is stored, and reads as a missing point.
#[derive(Debug, Clone)]
pub struct SeriesWindow {
    freq: Frequency,
    capacity: usize,
    slots: VecDeque<f32>,
    /// Timestamp of the last slot; meaningless while the window is empty. The other slots'
    /// timestamps are counted back from it.
    last: i64,
    /// Finite values among `slots`, kept up to date so that reading it costs nothing.
    observed: usize,
    points_seen: u64,
}

impl SeriesWindow {
    /// An empty window of `capacity` slots, `freq` apart.
    ///
    /// A spacing below 1 is taken as 1 (second or month) and `capacity` is clamped into
    /// 1..=[`MAX_WINDOW_CAPACITY`], so that any input gives a usable window; use
    /// [`SeriesWindow::try_new`] to have such values reported instead.
    pub fn new(freq: impl Into<Frequency>, capacity: usize) -> Self {
        let freq = match freq.into() {
            Frequency::Seconds(s) => Frequency::Seconds(s.max(1)),
            Frequency::Months(m) => Frequency::Months(m.max(1)),
        };
        SeriesWindow {
            freq,
            capacity: capacity.clamp(1, MAX_WINDOW_CAPACITY),
            // Not the full capacity: most series of a large store never fill a big window.
            slots: VecDeque::with_capacity(capacity.clamp(1, 256)),
            last: 0,
            observed: 0,
            points_seen: 0,
        }
    }

    /// As [`SeriesWindow::new`], but a `freq` below 1 or a capacity outside
    /// 1..=[`MAX_WINDOW_CAPACITY`] is an error.
    pub fn try_new(freq: impl Into<Frequency>, capacity: usize) -> Result<Self, CoreError> {
        let freq = freq.into();
        validate(freq, capacity)?;
        Ok(SeriesWindow::new(freq, capacity))
    }

    /// Places one observation; see [`Placement`] and [`Rejection`] for the outcomes.
    ///
    /// The window is unchanged when the point is rejected.
    pub fn insert(&mut self, ts: i64, value: f64) -> Result<Placement, Rejection> {
        if value.is_finite() && value.abs() > f64::from(f32::MAX) {
            return Err(Rejection::OutOfRange { value });
        }
        let value = value as f32;
        if self.slots.is_empty() {
            self.restart(ts, value);
            return Ok(Placement::Started);
        }
        let Some(steps) = self.freq.steps_between(self.last, ts) else {
            return Err(Rejection::OffGrid {
                timestamp: ts,
                freq: self.freq,
                anchor: self.last,
            });
        };
        let capacity = self.capacity as i128;

        // `steps > 1`: a window of one slot just moves on, there is no gap to skip.
        if steps >= capacity && steps > 1 {
            // Every old slot would fall out and the window would be gaps up to this point; it
            // is cheaper and says the same to start over here.
            let skipped = u64::try_from(steps - 1).unwrap_or(u64::MAX);
            self.restart(ts, value);
            return Ok(Placement::Reset { skipped });
        }
        let placement = if steps > 0 {
            // 0 < steps <= max(capacity - 1, 1) <= MAX_WINDOW_CAPACITY: the cast is lossless.
            let gaps = (steps - 1) as usize;
            // what falls out goes first, so the buffer never holds more than `capacity` (a
            // push past it would double the allocation of every full window)
            let overflow = (self.slots.len() + gaps + 1).saturating_sub(self.capacity);
            for _ in 0..overflow {
                if let Some(old) = self.slots.pop_front() {
                    self.observed -= usize::from(old.is_finite());
                }
            }
            self.slots.extend(std::iter::repeat_n(f32::NAN, gaps));
            self.slots.push_back(value);
            self.observed += usize::from(value.is_finite());
            self.last = ts;
            Placement::Advanced { gaps }
        } else {
            let back = -steps;
            if back >= capacity {
                // capacity <= MAX_WINDOW_CAPACITY, so the cast is lossless
                let oldest = self.freq.step_saturating(self.last, 1 - capacity as i64);
                return Err(Rejection::Late {
                    timestamp: ts,
                    oldest,
                });
            }
            // 0 <= back < capacity, so the cast is lossless.
            let back = back as usize;
            let len = self.slots.len();
            if back < len {
                let slot = &mut self.slots[len - 1 - back];
                let previous = *slot;
                *slot = value;
                self.observed -= usize::from(previous.is_finite());
                self.observed += usize::from(value.is_finite());
                if previous.is_finite() {
                    Placement::Duplicate
                } else {
                    Placement::Backfilled
                }
            } else {
                // Before the oldest slot but within the span: grow the window backwards.
                for _ in len..back {
                    self.slots.push_front(f32::NAN);
                }
                self.slots.push_front(value);
                self.observed += usize::from(value.is_finite());
                Placement::Backfilled
            }
        };
        self.points_seen += 1;
        Ok(placement)
    }

    fn restart(&mut self, ts: i64, value: f32) {
        self.slots.clear();
        self.slots.push_back(value);
        self.last = ts;
        self.observed = usize::from(value.is_finite());
        self.points_seen += 1;
    }

    /// The window's values, oldest first: `len()` of them, NaN for missing points.
    pub fn values(&self) -> Vec<f64> {
        self.slots.iter().map(|&v| f64::from(v)).collect()
    }

    /// Appends the values to `out` (oldest first), for callers that reuse a buffer per batch.
    pub fn extend_values(&self, out: &mut Vec<f64>) {
        out.extend(self.slots.iter().map(|&v| f64::from(v)));
    }

    /// The value of the slot at `ts`: `None` when `ts` is outside the window, off its grid, or
    /// the slot is missing.
    pub fn get(&self, ts: i64) -> Option<f64> {
        if self.slots.is_empty() {
            return None;
        }
        let back = usize::try_from(-self.freq.steps_between(self.last, ts)?).ok()?;
        self.steps_back(back)
    }

    /// The value `back` slots before the newest (0 is the newest): `None` beyond the window or
    /// when the slot is missing.
    pub fn steps_back(&self, back: usize) -> Option<f64> {
        let index = self.slots.len().checked_sub(back.checked_add(1)?)?;
        let v = self.slots[index];
        v.is_finite().then_some(f64::from(v))
    }

    /// Timestamp of the oldest slot, `None` while empty.
    pub fn first_timestamp(&self) -> Option<i64> {
        // len <= MAX_WINDOW_CAPACITY, and every slot's timestamp was once on the i64 grid
        (!self.slots.is_empty()).then(|| {
            self.freq
                .step_saturating(self.last, 1 - self.slots.len() as i64)
        })
    }

    /// Timestamp of the newest slot (always a point that was inserted), `None` while empty.
    pub fn last_timestamp(&self) -> Option<i64> {
        (!self.slots.is_empty()).then_some(self.last)
    }

    /// Slots holding a finite value.
    pub fn observed(&self) -> usize {
        self.observed
    }

    /// Slots from the oldest to the newest, missing ones included.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether the window spans all its slots (some may still be missing).
    pub fn is_full(&self) -> bool {
        self.slots.len() == self.capacity
    }

    /// Points accepted over the window's lifetime, duplicates included, rejections not; a reset
    /// does not start the count again.
    pub fn points_seen(&self) -> u64 {
        self.points_seen
    }

    pub fn freq(&self) -> Frequency {
        self.freq
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

pub(crate) fn validate(freq: Frequency, capacity: usize) -> Result<(), CoreError> {
    if !freq.is_valid() {
        return Err(CoreError::InvalidFrequency(freq));
    }
    if capacity == 0 || capacity > MAX_WINDOW_CAPACITY {
        return Err(CoreError::InvalidWindowCapacity {
            capacity,
            limit: MAX_WINDOW_CAPACITY,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn get_reads_one_slot_by_its_timestamp() {
        let mut w = SeriesWindow::new(60, 4);
        assert_eq!(w.get(0), None);
        for (t, v) in [(0, 1.0), (60, 2.0), (180, 4.0)] {
            w.insert(t, v).unwrap();
        }
        assert_eq!(w.get(60), Some(2.0));
        assert_eq!(w.get(120), None, "missing slot");
        assert_eq!(w.get(90), None, "off the grid");
        assert_eq!(w.get(240), None, "after the newest");
        w.insert(240, 5.0).unwrap();
        w.insert(300, 6.0).unwrap();
        assert_eq!(w.get(0), None, "fell out");
        assert_eq!(w.get(300), Some(6.0));
    }
    use crate::rng::SplitMix64;

    /// Compares NaN as equal to NaN, so gaps can be spelled out in expected values.
    fn same(actual: &[f64], expected: &[f64]) -> bool {
        actual.len() == expected.len()
            && actual
                .iter()
                .zip(expected)
                .all(|(a, e)| a.to_bits() == e.to_bits() || (a.is_nan() && e.is_nan()))
    }

    fn assert_values(w: &SeriesWindow, expected: &[f64]) {
        let values = w.values();
        assert!(same(&values, expected), "{values:?} != {expected:?}");
    }

    const NAN: f64 = f64::NAN;

    #[test]
    fn gaps_rotation_duplicates_and_backfill() {
        let mut w = SeriesWindow::new(60, 5);
        assert!(w.is_empty());
        assert_eq!(w.first_timestamp(), None);
        assert_eq!(w.last_timestamp(), None);
        assert_eq!(w.insert(0, 1.0), Ok(Placement::Started));
        assert_eq!(w.insert(60, 2.0), Ok(Placement::Advanced { gaps: 0 }));
        // 240 is four slots after 0: 120 and 180 are missing.
        assert_eq!(w.insert(240, 5.0), Ok(Placement::Advanced { gaps: 2 }));
        assert_values(&w, &[1.0, 2.0, NAN, NAN, 5.0]);
        assert_eq!(
            (w.first_timestamp(), w.last_timestamp()),
            (Some(0), Some(240))
        );
        assert_eq!((w.len(), w.observed(), w.is_full()), (5, 3, true));

        // Full: each new slot pushes the oldest out.
        assert_eq!(w.insert(300, 6.0), Ok(Placement::Advanced { gaps: 0 }));
        assert_values(&w, &[2.0, NAN, NAN, 5.0, 6.0]);
        assert_eq!(w.first_timestamp(), Some(60));
        assert_eq!(w.insert(420, 8.0), Ok(Placement::Advanced { gaps: 1 }));
        assert_values(&w, &[NAN, 5.0, 6.0, NAN, 8.0]);
        assert_eq!(
            (w.first_timestamp(), w.last_timestamp()),
            (Some(180), Some(420))
        );
        assert_eq!((w.len(), w.observed()), (5, 3));

        // Same slot again: the last write wins and nothing moves.
        assert_eq!(w.insert(300, 60.5), Ok(Placement::Duplicate));
        assert_eq!(w.insert(420, 80.5), Ok(Placement::Duplicate));
        assert_values(&w, &[NAN, 5.0, 60.5, NAN, 80.5]);
        assert_eq!(w.observed(), 3);

        // Out of order into a gap, including the oldest slot.
        assert_eq!(w.insert(360, 7.0), Ok(Placement::Backfilled));
        assert_eq!(w.insert(180, 3.0), Ok(Placement::Backfilled));
        assert_values(&w, &[3.0, 5.0, 60.5, 7.0, 80.5]);
        assert_eq!((w.observed(), w.last_timestamp()), (5, Some(420)));
        assert_eq!(w.points_seen(), 9);
    }

    #[test]
    fn late_points_are_rejected_and_change_nothing() {
        let mut w = SeriesWindow::new(60, 3);
        w.insert(600, 1.0).unwrap();
        w.insert(660, 2.0).unwrap();
        w.insert(720, 3.0).unwrap();
        let late = w.insert(540, 0.0);
        assert_eq!(
            late,
            Err(Rejection::Late {
                timestamp: 540,
                oldest: 600
            })
        );
        assert_eq!(late.unwrap_err().reason().as_str(), "late");
        assert_eq!(
            late.unwrap_err().to_string(),
            "timestamp 540 is older than the window's oldest slot 600"
        );
        assert_values(&w, &[1.0, 2.0, 3.0]);
        assert_eq!(w.points_seen(), 3);
        // After a rotation the boundary moves with the newest point.
        w.insert(780, 4.0).unwrap();
        assert!(matches!(
            w.insert(600, 9.0),
            Err(Rejection::Late { oldest: 660, .. })
        ));
        assert_eq!(w.insert(660, 9.0), Ok(Placement::Duplicate));
    }

    #[test]
    fn a_young_window_grows_backwards_up_to_its_span() {
        let mut w = SeriesWindow::new(10, 5);
        w.insert(100, 10.0).unwrap();
        assert_eq!(w.insert(80, 8.0), Ok(Placement::Backfilled));
        assert_values(&w, &[8.0, NAN, 10.0]);
        assert_eq!(w.first_timestamp(), Some(80));
        assert!(!w.is_full());
        // 60 is the oldest slot of a 5-slot window ending at 100.
        assert_eq!(w.insert(60, 6.0), Ok(Placement::Backfilled));
        assert_values(&w, &[6.0, NAN, 8.0, NAN, 10.0]);
        assert_eq!(
            (w.first_timestamp(), w.is_full(), w.observed()),
            (Some(60), true, 3)
        );
        assert_eq!(
            w.insert(50, 5.0),
            Err(Rejection::Late {
                timestamp: 50,
                oldest: 60
            })
        );
    }

    #[test]
    fn off_grid_points_are_rejected() {
        let mut w = SeriesWindow::new(10, 4);
        // The first point anchors the grid at 7 (mod 10), not at a multiple of the frequency.
        w.insert(7, 1.0).unwrap();
        assert_eq!(w.insert(17, 2.0), Ok(Placement::Advanced { gaps: 0 }));
        let err = w.insert(20, 3.0).unwrap_err();
        assert_eq!(
            err,
            Rejection::OffGrid {
                timestamp: 20,
                freq: Frequency::Seconds(10),
                anchor: 17
            }
        );
        assert_eq!(err.reason().as_str(), "off_grid");
        assert_eq!(
            err.to_string(),
            "timestamp 20 is not on the 10s grid through 17"
        );
        // Off the grid before the newest point and far ahead of it too.
        assert!(matches!(w.insert(12, 0.0), Err(Rejection::OffGrid { .. })));
        assert!(matches!(
            w.insert(1_000_001, 0.0),
            Err(Rejection::OffGrid { .. })
        ));
        assert_values(&w, &[1.0, 2.0]);
        assert_eq!(w.points_seen(), 2);
    }

    #[test]
    fn a_jump_past_the_whole_window_resets_it() {
        let mut w = SeriesWindow::new(1, 3);
        w.insert(0, 0.0).unwrap();
        w.insert(1, 1.0).unwrap();
        // Two steps ahead of a 3-slot window keeps the newest old point.
        assert_eq!(w.insert(3, 3.0), Ok(Placement::Advanced { gaps: 1 }));
        assert_values(&w, &[1.0, NAN, 3.0]);
        // Three steps ahead would leave only gaps and the new point.
        assert_eq!(w.insert(6, 6.0), Ok(Placement::Reset { skipped: 2 }));
        assert_values(&w, &[6.0]);
        assert_eq!(
            (w.first_timestamp(), w.last_timestamp()),
            (Some(6), Some(6))
        );
        assert_eq!((w.len(), w.observed(), w.points_seen()), (1, 1, 4));
        // The span is measured from the new point; what was there before is gone.
        assert_eq!(w.insert(4, 4.0), Ok(Placement::Backfilled));
        assert_values(&w, &[4.0, NAN, 6.0]);
        assert!(matches!(
            w.insert(3, 3.0),
            Err(Rejection::Late { oldest: 4, .. })
        ));

        let mut w = SeriesWindow::new(60, 168);
        w.insert(0, 1.0).unwrap();
        // A year ahead: no year-long run of gap slots is laid out.
        assert_eq!(
            w.insert(365 * 86_400, 2.0),
            Ok(Placement::Reset {
                skipped: 365 * 1440 - 1
            })
        );
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn a_one_slot_window_moves_on() {
        let mut w = SeriesWindow::new(5, 1);
        w.insert(0, 1.0).unwrap();
        assert!(w.is_full());
        assert_eq!(w.insert(5, 2.0), Ok(Placement::Advanced { gaps: 0 }));
        assert_eq!(w.insert(15, 3.0), Ok(Placement::Reset { skipped: 1 }));
        assert!(matches!(
            w.insert(10, 0.0),
            Err(Rejection::Late { oldest: 15, .. })
        ));
        assert_eq!(w.insert(15, 4.0), Ok(Placement::Duplicate));
        assert_values(&w, &[4.0]);
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let mut w = SeriesWindow::new(1, 4);
        w.insert(i64::MIN, 1.0).unwrap();
        assert_eq!(
            w.insert(i64::MAX, 2.0),
            Ok(Placement::Reset {
                skipped: u64::MAX - 1
            })
        );
        assert_eq!(w.insert(i64::MAX - 3, 3.0), Ok(Placement::Backfilled));
        assert_eq!(w.first_timestamp(), Some(i64::MAX - 3));
        assert!(matches!(
            w.insert(i64::MIN, 0.0),
            Err(Rejection::Late { .. })
        ));

        let mut w = SeriesWindow::new(i64::MAX, 3);
        w.insert(0, 0.0).unwrap();
        assert_eq!(w.insert(i64::MAX, 1.0), Ok(Placement::Advanced { gaps: 0 }));
        assert_eq!(w.insert(-i64::MAX, -1.0), Ok(Placement::Backfilled));
        assert_values(&w, &[-1.0, 0.0, 1.0]);
        assert!(matches!(
            w.insert(i64::MIN, 0.0),
            Err(Rejection::OffGrid { .. })
        ));

        let mut w = SeriesWindow::new(2, 4);
        w.insert(i64::MIN, 0.0).unwrap();
        // i64::MAX - i64::MIN is odd.
        assert!(matches!(
            w.insert(i64::MAX, 0.0),
            Err(Rejection::OffGrid { .. })
        ));
    }

    #[test]
    fn non_finite_values_read_as_missing() {
        let mut w = SeriesWindow::new(1, 4);
        w.insert(0, 1.0).unwrap();
        assert_eq!(w.insert(1, f64::NAN), Ok(Placement::Advanced { gaps: 0 }));
        assert_eq!(
            w.insert(2, f64::INFINITY),
            Ok(Placement::Advanced { gaps: 0 })
        );
        assert_eq!(w.observed(), 1);
        // Filling a slot that holds a non-finite value counts as a backfill, not a duplicate.
        assert_eq!(w.insert(1, 2.0), Ok(Placement::Backfilled));
        assert_eq!(w.observed(), 2);
        assert_eq!(w.insert(1, f64::NAN), Ok(Placement::Duplicate));
        assert_eq!(w.observed(), 1);
    }

    fn date(s: &str) -> i64 {
        crate::time::parse_timestamp(s).unwrap()
    }

    #[test]
    fn a_monthly_window_has_one_slot_per_calendar_month() {
        let mut w = SeriesWindow::new(Frequency::MONTHLY, 4);
        assert_eq!(w.insert(date("2024-01-31"), 1.0), Ok(Placement::Started));
        assert_eq!(
            w.insert(date("2024-02-29"), 2.0),
            Ok(Placement::Advanced { gaps: 0 })
        );
        // April: March is a gap
        assert_eq!(
            w.insert(date("2024-04-30"), 4.0),
            Ok(Placement::Advanced { gaps: 1 })
        );
        // another day in March fills it; any day of a month is that month's slot
        assert_eq!(w.insert(date("2024-03-15"), 3.0), Ok(Placement::Backfilled));
        assert_eq!(w.insert(date("2024-03-31"), 3.5), Ok(Placement::Duplicate));
        assert_values(&w, &[1.0, 2.0, 3.5, 4.0]);
        assert_eq!(w.first_timestamp(), Some(date("2024-01-31")));
        assert_eq!(w.get(date("2024-02-01")), Some(2.0));
        assert_eq!(w.steps_back(0), Some(4.0));
        assert_eq!(w.steps_back(3), Some(1.0));
        assert_eq!(w.steps_back(4), None);
        // May pushes January out; the oldest slot is then February's month end
        w.insert(date("2024-05-31"), 5.0).unwrap();
        assert_eq!(w.first_timestamp(), Some(date("2024-02-29")));
        assert_eq!(
            w.insert(date("2024-01-10"), 0.0),
            Err(Rejection::Late {
                timestamp: date("2024-01-10"),
                oldest: date("2024-02-29")
            })
        );
        // a year ahead is beyond the window: it starts over
        assert_eq!(
            w.insert(date("2025-05-31"), 6.0),
            Ok(Placement::Reset { skipped: 11 })
        );
        let mut q = SeriesWindow::new(Frequency::QUARTERLY, 8);
        q.insert(date("2023-03-31"), 1.0).unwrap();
        assert_eq!(
            q.insert(date("2023-12-31"), 4.0),
            Ok(Placement::Advanced { gaps: 2 })
        );
        assert_eq!(q.first_timestamp(), Some(date("2023-03-31")));
    }

    #[test]
    fn construction_clamps_or_reports_bad_settings() {
        let w = SeriesWindow::new(0, 0);
        assert_eq!((w.freq(), w.capacity()), (Frequency::Seconds(1), 1));
        let w = SeriesWindow::new(-5, usize::MAX);
        assert_eq!(
            (w.freq(), w.capacity()),
            (Frequency::Seconds(1), MAX_WINDOW_CAPACITY)
        );
        assert_eq!(
            SeriesWindow::new(Frequency::Months(0), 3).freq(),
            Frequency::MONTHLY
        );
        assert_eq!(
            SeriesWindow::try_new(0, 10).unwrap_err(),
            CoreError::InvalidFrequency(Frequency::Seconds(0))
        );
        assert_eq!(
            SeriesWindow::try_new(60, 0).unwrap_err(),
            CoreError::InvalidWindowCapacity {
                capacity: 0,
                limit: MAX_WINDOW_CAPACITY
            }
        );
        assert!(SeriesWindow::try_new(60, MAX_WINDOW_CAPACITY + 1).is_err());
        let w = SeriesWindow::try_new(60, 168).unwrap();
        assert_eq!(
            (w.freq(), w.capacity(), w.len()),
            (Frequency::Seconds(60), 168, 0)
        );
        let mut out = vec![9.0];
        w.extend_values(&mut out);
        assert_eq!(out, vec![9.0]);
    }

    /// The window's rules stated over the set of all points accepted since the last reset.
    struct Naive {
        freq: i64,
        capacity: i64,
        points: BTreeMap<i64, f64>,
        seen: u64,
    }

    impl Naive {
        fn insert(&mut self, ts: i64, value: f64) -> Result<Placement, Rejection> {
            let Some((&newest, _)) = self.points.last_key_value() else {
                self.points.insert(ts, value);
                self.seen += 1;
                return Ok(Placement::Started);
            };
            if (ts - newest) % self.freq != 0 {
                return Err(Rejection::OffGrid {
                    timestamp: ts,
                    freq: Frequency::Seconds(self.freq),
                    anchor: newest,
                });
            }
            let steps = (ts - newest) / self.freq;
            self.seen += 1;
            if steps > 1 && steps >= self.capacity {
                self.points.clear();
                self.points.insert(ts, value);
                return Ok(Placement::Reset {
                    skipped: (steps - 1) as u64,
                });
            }
            let oldest = newest - (self.capacity - 1) * self.freq;
            if ts < oldest {
                self.seen -= 1;
                return Err(Rejection::Late {
                    timestamp: ts,
                    oldest,
                });
            }
            let placement = if steps > 0 {
                Placement::Advanced {
                    gaps: (steps - 1) as usize,
                }
            } else if self.points.get(&ts).is_some_and(|v| v.is_finite()) {
                Placement::Duplicate
            } else {
                Placement::Backfilled
            };
            self.points.insert(ts, value);
            Ok(placement)
        }

        fn values(&self) -> (i64, Vec<f64>) {
            let (&min, _) = self.points.first_key_value().unwrap();
            let (&newest, _) = self.points.last_key_value().unwrap();
            let len = self.capacity.min((newest - min) / self.freq + 1);
            let first = newest - (len - 1) * self.freq;
            let values = (0..len)
                .map(|k| {
                    let ts = first + k * self.freq;
                    self.points.get(&ts).copied().unwrap_or(f64::NAN)
                })
                .collect();
            (first, values)
        }
    }

    #[test]
    fn random_inserts_match_a_naive_model() {
        let mut rng = SplitMix64::new(0x5EE4_0001);
        // Outcomes reached, by kind: the run must cover every one of them.
        let mut reached: BTreeMap<&str, usize> = BTreeMap::new();
        for case in 0..300 {
            let freq = [1, 7, 60][case % 3];
            let capacity = [1usize, 2, 3, 5, 8][case % 5];
            let anchor = (rng.next_u64() % 1000) as i64 - 500;
            let mut w = SeriesWindow::new(freq, capacity);
            let mut naive = Naive {
                freq,
                capacity: capacity as i64,
                points: BTreeMap::new(),
                seen: 0,
            };
            let mut newest = anchor;
            for step in 0..200 {
                let r = rng.next_u64();
                let slots = (r % 25) as i64 - 12;
                let mut ts = newest + slots * freq;
                if r.is_multiple_of(97) {
                    ts += 1 + (r >> 32) as i64 % (freq.max(2) - 1);
                }
                if r.is_multiple_of(89) {
                    ts += 3 * capacity as i64 * freq;
                }
                let value = if r.is_multiple_of(31) {
                    f64::NAN
                } else {
                    ((r >> 40) % 1000) as f64
                };
                let expected = naive.insert(ts, value);
                let got = w.insert(ts, value);
                assert_eq!(got, expected, "case {case} step {step}: insert({ts})");
                let kind = match got {
                    Ok(Placement::Started) => "started",
                    Ok(Placement::Advanced { gaps: 0 }) => "advanced",
                    Ok(Placement::Advanced { .. }) => "gaps",
                    Ok(Placement::Backfilled) => "backfilled",
                    Ok(Placement::Duplicate) => "duplicate",
                    Ok(Placement::Reset { .. }) => "reset",
                    Err(rejection) => rejection.reason().as_str(),
                };
                *reached.entry(kind).or_default() += 1;
                if got.is_ok() {
                    newest = newest.max(ts);
                    if matches!(got, Ok(Placement::Reset { .. })) {
                        newest = ts;
                    }
                }
                let (first, values) = naive.values();
                assert!(same(&w.values(), &values), "case {case} step {step}");
                assert_eq!(w.first_timestamp(), Some(first));
                assert_eq!(
                    w.last_timestamp(),
                    Some(first + (values.len() as i64 - 1) * freq)
                );
                assert_eq!(w.len(), values.len());
                assert_eq!(w.is_full(), values.len() == capacity);
                assert_eq!(
                    w.observed(),
                    values.iter().filter(|v| v.is_finite()).count()
                );
                assert_eq!(w.points_seen(), naive.seen);
            }
        }
        assert_eq!(reached.len(), 8, "{reached:?}");
        assert!(reached.values().all(|&n| n >= 100), "{reached:?}");
    }
}
