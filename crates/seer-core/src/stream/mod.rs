//! The ingest's stream logic, free of Kafka and of time: per-series windows, which series are
//! due for a forecast, and which offsets may be committed.
//!
//! The ingest drives the four pieces in this order for each consumed message
//! (partition `p`, offset `o`, series id, timestamp, value):
//!
//! 1. [`OffsetTracker::track`]`(p, o)`.
//! 2. A message that does not decode, or whose value is NaN or ±Inf, goes to the dead-letter
//!    topic; [`OffsetTracker::finish`]`(p, o)` once that write is delivered.
//! 3. [`WindowStore::observe`]: a [`Rejection`] also goes to the dead-letter topic, with
//!    [`Rejection::reason`] as its reason header, and is finished the same way. A
//!    [`Placement`] is followed by [`OffsetTracker::attach`]`(p, o, id)` and
//!    [`DueTracker::note_point`].
//! 4. On [`DueTracker::next_deadline`], or after each message, [`DueTracker::take_batch`]. For
//!    every series taken, read the window and [`SeriesEntry::is_partial`] now, and remember
//!    [`OffsetTracker::latest_attached`]; when its forecast is delivered,
//!    [`OffsetTracker::finish_series_up_to`] with that offset. A forecast that fails for good
//!    must still finish those messages (dead-letter them) or [`DueTracker::force_due`] the
//!    series again, or the partition's commit position stops there.
//! 5. Store [`OffsetTracker::committable`] per partition whenever it moves.
//!
//! On assignment of a partition call [`WindowStore::mark_partition_rebuilt`]; on revocation
//! `drop_partition` on all three, after the last commit.
//!
//! With `every_points > 1`, call [`DueTracker::promote_idle`] now and then: the last points of
//! a series that goes quiet are otherwise never forecast and hold the commit position back.

mod dead_letter;
mod due;
mod offsets;
mod store;
mod window;

/// The maps the ingest touches per message: keys come from Kafka, so a seeded hasher, but one
/// much cheaper than SipHash.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
pub type FastSet<K> = std::collections::HashSet<K, foldhash::quality::RandomState>;

pub use dead_letter::DeadLetterReason;
pub use due::{BatchPolicy, DueTracker, SeriesKey};
pub use offsets::OffsetTracker;
pub use store::{FrequencyRule, SeriesEntry, WindowStore};
pub use window::{MAX_WINDOW_CAPACITY, Placement, Rejection, SeriesWindow};
