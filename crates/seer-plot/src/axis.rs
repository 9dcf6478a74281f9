//! Axis ranges, "nice" value ticks, calendar-aligned time ticks and their labels.

/// Times further than this from the epoch (about ±31,700 years) get no ticks, which keeps
/// the calendar arithmetic far from overflow.
const MAX_TICK_TIME: f64 = 1e12;
/// Hard cap on ticks generated per axis, whatever the inputs.
const MAX_TICKS: usize = 64;

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// A closed value range with a strictly positive, finite span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub lo: f64,
    pub hi: f64,
}

impl Range {
    /// Fraction of the way from `lo` to `hi`.
    pub fn frac(&self, v: f64) -> f64 {
        (v - self.lo) / (self.hi - self.lo)
    }
}

/// Range covering finite `min..=max` (or `None` when there was no finite data), widened so
/// that its span is non-zero and finite.
pub fn value_range(min_max: Option<(f64, f64)>) -> Range {
    let Some((mut lo, mut hi)) = min_max else {
        return Range { lo: 0.0, hi: 1.0 };
    };
    if !(hi - lo).is_finite() {
        // Values spanning most of f64: halve both so the span is representable.
        lo /= 4.0;
        hi /= 4.0;
    }
    let span = hi - lo;
    if span <= 0.0 || !span.is_finite() || span < hi.abs().max(lo.abs()) * 1e-12 {
        let pad = (hi.abs() * 0.05).max(1.0);
        lo -= pad;
        hi += pad;
    } else {
        lo -= span * 0.05;
        hi += span * 0.05;
    }
    Range { lo, hi }
}

/// Time range (unix seconds) covering `min..=max`, padded by a little on each side and
/// given a one-day span when all times coincide.
pub fn time_range(min_max: Option<(i64, i64)>) -> Range {
    let Some((lo, hi)) = min_max else {
        return Range {
            lo: 0.0,
            hi: DAY as f64,
        };
    };
    let (lo, hi) = (lo as f64, hi as f64);
    let span = hi - lo;
    if span <= 0.0 {
        return Range {
            lo: lo - DAY as f64 / 2.0,
            hi: hi + DAY as f64 / 2.0,
        };
    }
    Range {
        lo: lo - span * 0.015,
        hi: hi + span * 0.015,
    }
}

/// A step of 1, 2 or 5 × 10^k that divides `span` into at most about `max_ticks` parts.
fn nice_step(span: f64, max_ticks: usize) -> f64 {
    let raw = span / max_ticks.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Value ticks: snaps `range` outwards to multiples of a nice step and returns the widened
/// range with the tick values and their labels.
pub fn value_ticks(range: Range, max_ticks: usize) -> (Range, Vec<(f64, String)>) {
    let step = nice_step(range.hi - range.lo, max_ticks.max(2));
    if !step.is_finite() || step <= 0.0 {
        return (range, Vec::new());
    }
    let lo = (range.lo / step).floor() * step;
    let hi = (range.hi / step).ceil() * step;
    let snapped = if hi > lo && (hi - lo).is_finite() {
        Range { lo, hi }
    } else {
        range
    };
    let big = lo.abs().max(hi.abs());
    let scientific = big >= 1e7 || step < 1e-4;
    let decimals = (-(step.log10() + 1e-9).floor()).clamp(0.0, 6.0) as usize;
    let mut ticks = Vec::new();
    for i in 0..=MAX_TICKS {
        let mut v = snapped.lo + step * i as f64;
        if v > snapped.hi + step * 1e-6 {
            break;
        }
        if v.abs() < step * 1e-6 {
            v = 0.0;
        }
        let label = if scientific {
            if v == 0.0 {
                "0".to_string()
            } else {
                format!("{v:.2e}")
            }
        } else {
            format!("{v:.decimals$}")
        };
        ticks.push((v, label));
    }
    (snapped, ticks)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TimeStep {
    Seconds(i64),
    Months(i64),
    Years(i64),
}

impl TimeStep {
    fn approx_seconds(self) -> f64 {
        match self {
            TimeStep::Seconds(s) => s as f64,
            TimeStep::Months(m) => m as f64 * 30.44 * DAY as f64,
            TimeStep::Years(y) => y as f64 * 365.25 * DAY as f64,
        }
    }
}

const TIME_STEPS: &[TimeStep] = &[
    TimeStep::Seconds(MINUTE),
    TimeStep::Seconds(5 * MINUTE),
    TimeStep::Seconds(15 * MINUTE),
    TimeStep::Seconds(30 * MINUTE),
    TimeStep::Seconds(HOUR),
    TimeStep::Seconds(2 * HOUR),
    TimeStep::Seconds(3 * HOUR),
    TimeStep::Seconds(6 * HOUR),
    TimeStep::Seconds(12 * HOUR),
    TimeStep::Seconds(DAY),
    TimeStep::Seconds(2 * DAY),
    TimeStep::Seconds(7 * DAY),
    TimeStep::Seconds(14 * DAY),
    TimeStep::Months(1),
    TimeStep::Months(2),
    TimeStep::Months(3),
    TimeStep::Months(6),
    TimeStep::Years(1),
    TimeStep::Years(2),
    TimeStep::Years(5),
    TimeStep::Years(10),
    TimeStep::Years(20),
    TimeStep::Years(50),
    TimeStep::Years(100),
    TimeStep::Years(200),
    TimeStep::Years(500),
    TimeStep::Years(1000),
    TimeStep::Years(2000),
    TimeStep::Years(5000),
    TimeStep::Years(10000),
];

/// Whether labels for a range of this span need a time of day, i.e. use sub-day ticks.
pub fn needs_time_of_day(range: Range, max_ticks: usize) -> bool {
    matches!(pick_time_step(range, max_ticks), Some(TimeStep::Seconds(s)) if s < DAY)
}

fn pick_time_step(range: Range, max_ticks: usize) -> Option<TimeStep> {
    let span = range.hi - range.lo;
    let max_ticks = max_ticks.max(2) as f64;
    TIME_STEPS
        .iter()
        .copied()
        .find(|st| span / st.approx_seconds() + 1.0 <= max_ticks)
}

/// Calendar-aligned ticks inside `range` (unix seconds), at most about `max_ticks`, each
/// labelled `YYYY-MM-DD` (or `YYYY-MM-DD HH:MM` when ticks are less than a day apart).
pub fn time_ticks(range: Range, max_ticks: usize) -> Vec<(i64, String)> {
    if !(range.lo.abs() <= MAX_TICK_TIME && range.hi.abs() <= MAX_TICK_TIME) {
        return Vec::new();
    }
    let Some(step) = pick_time_step(range, max_ticks) else {
        return Vec::new();
    };
    let lo = range.lo.ceil() as i64;
    let hi = range.hi.floor() as i64;
    let mut ticks = Vec::new();
    match step {
        TimeStep::Seconds(s) => {
            let mut t = lo.div_euclid(s) * s;
            if t < lo {
                t += s;
            }
            while t <= hi && ticks.len() < MAX_TICKS {
                ticks.push(t);
                t += s;
            }
        }
        TimeStep::Months(k) => {
            let (y, m, _) = civil_from_days(lo.div_euclid(DAY));
            let mut idx = y * 12 + (m - 1);
            loop {
                let t = month_start(idx);
                if t >= lo && idx.rem_euclid(k) == 0 {
                    break;
                }
                idx += 1;
            }
            while ticks.len() < MAX_TICKS {
                let t = month_start(idx);
                if t > hi {
                    break;
                }
                ticks.push(t);
                idx += k;
            }
        }
        TimeStep::Years(k) => {
            let (mut y, _, _) = civil_from_days(lo.div_euclid(DAY));
            while days_from_civil(y, 1, 1) * DAY < lo || y.rem_euclid(k) != 0 {
                y += 1;
            }
            while ticks.len() < MAX_TICKS {
                let t = days_from_civil(y, 1, 1) * DAY;
                if t > hi {
                    break;
                }
                ticks.push(t);
                y += k;
            }
        }
    }
    let with_time = matches!(step, TimeStep::Seconds(s) if s < DAY);
    ticks
        .into_iter()
        .map(|t| (t, format_time(t, with_time)))
        .collect()
}

fn month_start(idx: i64) -> i64 {
    days_from_civil(idx.div_euclid(12), idx.rem_euclid(12) + 1, 1) * DAY
}

/// `YYYY-MM-DD`, or `YYYY-MM-DD HH:MM` with `with_time`, for unix seconds `t` (UTC).
pub fn format_time(t: i64, with_time: bool) -> String {
    let days = t.div_euclid(DAY);
    let secs = t.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    if with_time {
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}",
            secs / HOUR,
            secs % HOUR / MINUTE
        )
    } else {
        format!("{y:04}-{m:02}-{d:02}")
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) for days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips() {
        assert_eq!(format_time(0, false), "1970-01-01");
        assert_eq!(format_time(951_782_400, false), "2000-02-29");
        assert_eq!(
            format_time(1_704_067_200 + 13 * HOUR + 5 * MINUTE, true),
            "2024-01-01 13:05"
        );
        assert_eq!(format_time(-DAY, false), "1969-12-31");
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn value_ticks_are_nice_and_cover_range() {
        let (r, ticks) = value_ticks(Range { lo: 3.2, hi: 97.1 }, 6);
        assert_eq!(r, Range { lo: 0.0, hi: 100.0 });
        let labels: Vec<_> = ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "20", "40", "60", "80", "100"]);
        let (_, ticks) = value_ticks(
            Range {
                lo: -0.13,
                hi: 0.42,
            },
            5,
        );
        assert!(ticks.iter().any(|(_, l)| l == "0.0"), "{ticks:?}");
        assert!(
            ticks
                .iter()
                .all(|(_, l)| !l.starts_with("-0.0") || l != "-0.0")
        );
    }

    #[test]
    fn degenerate_value_ranges_get_a_span() {
        assert_eq!(value_range(None), Range { lo: 0.0, hi: 1.0 });
        let r = value_range(Some((5.0, 5.0)));
        assert!(r.hi > r.lo);
        let r = value_range(Some((1e12, 1e12)));
        assert!(r.hi > r.lo);
        let r = value_range(Some((-f64::MAX, f64::MAX)));
        assert!(r.hi > r.lo && (r.hi - r.lo).is_finite());
        let (_, ticks) = value_ticks(r, 5);
        assert!(ticks.len() <= MAX_TICKS + 1);
    }

    #[test]
    fn time_ticks_align_to_calendar() {
        let jan1 = 1_704_067_200; // 2024-01-01
        let r = Range {
            lo: jan1 as f64,
            hi: (jan1 + 120 * DAY) as f64,
        };
        let ticks = time_ticks(r, 6);
        let labels: Vec<_> = ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            labels,
            ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]
        );
        let r = Range {
            lo: jan1 as f64 + 1.0,
            hi: (jan1 + 10 * DAY) as f64,
        };
        let ticks = time_ticks(r, 6);
        assert_eq!(ticks[0].1, "2024-01-02"); // 2-day steps, even days since the epoch
        let r = Range {
            lo: jan1 as f64,
            hi: (jan1 + 6 * HOUR) as f64,
        };
        assert!(time_ticks(r, 4).iter().all(|(_, l)| l.len() == 16));
        let r = Range {
            lo: i64::MIN as f64,
            hi: i64::MAX as f64,
        };
        assert!(time_ticks(r, 6).is_empty());
        let r = Range {
            lo: -9e11,
            hi: 9e11,
        };
        assert!(!time_ticks(r, 8).is_empty());
    }
}
