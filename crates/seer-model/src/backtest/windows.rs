//! Which points of a series a backtest holds out.

/// Windows per `Model::predict` call (bounds device memory).
pub(crate) const PREDICT_CHUNK: usize = 4096;

/// The `[start, end)` range of window `back` (0 = the last) of the non-overlapping windows of
/// `len` points that end a series of `n` points; `None` when the series is too short for it.
pub(crate) fn window_range(n: usize, len: usize, back: usize) -> Option<(usize, usize)> {
    let end = n.checked_sub(back * len)?;
    let start = end.checked_sub(len)?;
    Some((start, end))
}

/// The ranges of the last `windows` windows, latest first; fewer when the series is short.
pub(crate) fn window_ranges(
    n: usize,
    len: usize,
    windows: usize,
) -> impl Iterator<Item = (usize, usize)> {
    (0..windows).map_while(move |back| window_range(n, len, back))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_go_back_from_the_end_without_overlap() {
        let w: Vec<_> = window_ranges(40, 16, 3).collect();
        assert_eq!(w, vec![(24, 40), (8, 24)]);
        assert_eq!(window_ranges(10, 16, 2).count(), 0);
        assert_eq!(window_range(40, 16, 1), Some((8, 24)));
        assert_eq!(window_range(40, 16, 2), None);
    }
}
