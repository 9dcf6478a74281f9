//! The materialised state a gateway builds from Kafka: the latest forecast per series (with a
//! broadcast of each new one for Watch) and, optionally, a short history per series.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use seer_core::stream::SeriesWindow as Window;
use seer_core::time::Frequency;
use seer_proto::convert::{frequency_fields, timestamp};
use seer_proto::v1::{Forecast, SeriesWindow};
use tokio::sync::broadcast;

/// Latest forecast per series, and the channel Watch streams subscribe to.
pub struct LatestView {
    map: RwLock<HashMap<String, Arc<Forecast>>>,
    tx: broadcast::Sender<Arc<Forecast>>,
    loaded: AtomicBool,
}

fn order_key(f: &Forecast) -> (i64, i32, i64, i32) {
    let lo = f.latest_observation.unwrap_or_default();
    let is = f.issued_at.unwrap_or_default();
    (lo.seconds, lo.nanos, is.seconds, is.nanos)
}

impl LatestView {
    /// `buffer`: forecasts the broadcast keeps for its slowest subscriber.
    pub fn new(buffer: usize) -> Self {
        let (tx, _) = broadcast::channel(buffer.max(1));
        LatestView {
            map: RwLock::new(HashMap::new()),
            tx,
            loaded: AtomicBool::new(false),
        }
    }

    /// Takes a forecast read from the topic. It replaces the held one unless that saw newer
    /// observations: the ingest is at-least-once, so a re-forecast of an old point may arrive
    /// after a newer forecast. `live` forecasts (read after the partition's backlog) are also
    /// broadcast; the backlog read on start is not, so Watch sends only new forecasts.
    /// Returns whether the view changed.
    pub fn apply(&self, f: Forecast, live: bool) -> bool {
        if f.series_id.is_empty() {
            return false;
        }
        let f = Arc::new(f);
        {
            let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
            match map.get(&f.series_id) {
                Some(old) if order_key(old) > order_key(&f) => return false,
                _ => {
                    map.insert(f.series_id.clone(), f.clone());
                }
            }
        }
        if live {
            // no subscriber is not an error
            let _ = self.tx.send(f);
        }
        true
    }

    pub fn get(&self, id: &str) -> Option<Arc<Forecast>> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The held forecasts whose id `select` accepts.
    pub fn select(&self, select: impl Fn(&str) -> bool) -> Vec<Arc<Forecast>> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|f| select(&f.series_id))
            .cloned()
            .collect()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Forecast>> {
        self.tx.subscribe()
    }

    /// Whether every partition's backlog has been read (until then an absent series may only
    /// be not read yet).
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    pub(crate) fn set_loaded(&self) {
        self.loaded.store(true, Ordering::Release);
    }
}

/// The last `window` points of each series on a fixed grid, from the observations topic.
pub struct HistoryView {
    map: Mutex<HashMap<String, Window>>,
    freq: Frequency,
    window: usize,
}

impl HistoryView {
    pub fn new(freq: Frequency, window: usize) -> Result<Self, seer_core::CoreError> {
        // fail here, not on the first observation
        Window::try_new(freq, window)?;
        Ok(HistoryView {
            map: Mutex::new(HashMap::new()),
            freq,
            window,
        })
    }

    /// Places a point; points the window refuses (late, off the grid) are dropped: the ingest
    /// dead-letters them, and this copy only needs what forecasts would see.
    pub fn insert(&self, id: &str, ts: i64, value: f64) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let w = match map.get_mut(id) {
            Some(w) => w,
            None => map
                .entry(id.to_string())
                .or_insert_with(|| Window::new(self.freq, self.window)),
        };
        let _ = w.insert(ts, value);
    }

    /// The series' window as an engine request window.
    pub fn window(&self, id: &str) -> Option<SeriesWindow> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let w = map.get(id)?;
        let start = w.first_timestamp()?;
        let (freq_seconds, freq_months) = frequency_fields(w.freq());
        Some(SeriesWindow {
            series_id: id.to_string(),
            start: Some(timestamp(start)),
            freq_seconds,
            values: w.values(),
            partial: !w.is_full(),
            freq_months,
            covariates: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forecast(id: &str, latest: i64, mean: f64) -> Forecast {
        Forecast {
            series_id: id.into(),
            latest_observation: Some(timestamp(latest)),
            mean: vec![mean],
            ..Default::default()
        }
    }

    #[test]
    fn keeps_the_forecast_of_the_newest_observation() {
        let view = LatestView::new(4);
        let mut rx = view.subscribe();
        assert!(view.apply(forecast("a", 10, 1.0), false));
        assert!(view.apply(forecast("a", 20, 2.0), true));
        // a duplicate re-forecast of an older point arrives late
        assert!(!view.apply(forecast("a", 10, 3.0), true));
        assert_eq!(view.get("a").unwrap().mean, [2.0]);
        assert!(!view.apply(forecast("", 30, 1.0), true));
        assert_eq!(view.len(), 1);
        // only the live, accepted forecast was broadcast
        assert_eq!(rx.try_recv().unwrap().mean, [2.0]);
        assert!(rx.try_recv().is_err());
        view.apply(forecast("ab", 1, 0.0), false);
        view.apply(forecast("b", 1, 0.0), false);
        let mut ids: Vec<String> = view
            .select(|id| id.starts_with('a'))
            .iter()
            .map(|f| f.series_id.clone())
            .collect();
        ids.sort();
        assert_eq!(ids, ["a", "ab"]);
    }

    #[test]
    fn history_keeps_a_window_per_series() {
        let h = HistoryView::new(Frequency::Seconds(3600), 4).unwrap();
        for k in 0..6 {
            h.insert("s", 7200 + k * 3600, k as f64);
        }
        let w = h.window("s").unwrap();
        assert_eq!(w.values, [2.0, 3.0, 4.0, 5.0]);
        assert_eq!(w.start.unwrap().seconds, 7200 + 2 * 3600);
        assert!(!w.partial);
        assert!(h.window("t").is_none());
        assert!(HistoryView::new(Frequency::Seconds(0), 4).is_err());
    }
}
