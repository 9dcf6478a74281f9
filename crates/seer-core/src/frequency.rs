//! What a series' spacing implies before any data is seen: its natural cycles, and the defaults
//! a model trained on it starts from — lags, context, horizon, time features and the seasonal
//! naive's season (docs/models.md, "Defaults by frequency").
//!
//! The lags follow GluonTS's rule (`get_lags_for_frequency`): the last few steps, then the same
//! point ±1 in each earlier natural cycle, so a model sees yesterday's and last week's value at
//! this time of day without having to carry them through its state.

use crate::features::{TimeFeature, default_time_features};
use crate::naive::season_for_freq;
use crate::time::Frequency;

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;

/// Recent steps every default lag set starts with (GluonTS's `num_default_lags`).
pub const SHORT_LAGS: usize = 7;

/// No default lag reaches further back than this (GluonTS's `lag_ub`): a lag costs a point of
/// history per series in every window the engine keeps, and a cycle that long is better left to
/// the time features.
pub const MAX_DEFAULT_LAG: usize = 1200;

/// One natural cycle of a frequency, in steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    pub name: &'static str,
    pub steps: usize,
}

/// A model's starting point for one frequency; `seer train` and `seer model init` print it.
#[derive(Debug, Clone, PartialEq)]
pub struct FrequencyDefaults {
    /// The natural cycles that are a whole number of steps, shortest first.
    pub cycles: Vec<Cycle>,
    /// The seasonal naive's season and MASE's seasonal lag.
    pub season: usize,
    /// DeepAR's lags: ascending, each once.
    pub lags: Vec<usize>,
    pub context_length: usize,
    pub horizon: usize,
    pub time_features: Vec<TimeFeature>,
}

/// The cycles of `freq` that hold a whole number of steps: hour, day and week below a day; week
/// and year for daily data; year for weekly, monthly and quarterly data.
pub fn natural_cycles(freq: impl Into<Frequency>) -> Vec<Cycle> {
    let freq = freq.into();
    let year = |steps| Cycle {
        name: "year",
        steps,
    };
    let freq_seconds = match freq {
        Frequency::Seconds(s) => s,
        Frequency::Months(_) => {
            return match season_for_freq(freq) {
                1 => Vec::new(),
                season => vec![year(season)],
            };
        }
    };
    let whole = |name, period: i64| {
        (freq_seconds > 0 && period > freq_seconds && period % freq_seconds == 0).then(|| Cycle {
            name,
            steps: (period / freq_seconds) as usize,
        })
    };
    match freq_seconds {
        f if f <= 0 => Vec::new(),
        f if f < DAY => [whole("hour", HOUR), whole("day", DAY), whole("week", WEEK)]
            .into_iter()
            .flatten()
            .collect(),
        DAY => vec![whole("week", WEEK).expect("a week is 7 days"), year(365)],
        WEEK => vec![year(52)],
        _ => match season_for_freq(freq_seconds) {
            12 | 4 => vec![year(season_for_freq(freq_seconds))],
            _ => Vec::new(),
        },
    }
}

impl FrequencyDefaults {
    pub fn for_freq(freq: impl Into<Frequency>) -> FrequencyDefaults {
        let freq = freq.into();
        let cycles = natural_cycles(freq);
        let season = season_for_freq(freq);
        // a calendar spacing takes the defaults of its fixed look-alike (30 days, 91 days, …)
        let freq_seconds = freq.nominal_seconds();
        let mut lags: Vec<usize> = (1..=SHORT_LAGS).collect();
        // The shortest cycle the short lags do not cover is also read two cycles back (the day
        // before yesterday for sub-daily data), as GluonTS reads its cycles several times back.
        let twice = cycles.iter().position(|c| c.steps >= SHORT_LAGS);
        for (i, c) in cycles.iter().enumerate() {
            let multiples: &[usize] = if Some(i) == twice { &[1, 2] } else { &[1] };
            for &m in multiples {
                let centre = m * c.steps;
                lags.extend([centre - 1, centre, centre + 1]);
            }
        }
        lags.retain(|&l| (1..=MAX_DEFAULT_LAG).contains(&l));
        lags.sort_unstable();
        lags.dedup();
        let (context_length, horizon) = match freq_seconds {
            // a day ahead from the last two days, at most 96 steps ahead and 384 back
            f if f > 0 && f < DAY && season > 1 => ((2 * season).min(384), season.min(96)),
            f if f > 0 && f < DAY => (72, 24),
            DAY => (28, 14),
            WEEK => (26, 13),
            _ => match season {
                12 => (24, 18),
                4 => (12, 8),
                _ => (12, 6),
            },
        };
        FrequencyDefaults {
            cycles,
            season,
            lags,
            context_length: context_length.max(horizon),
            horizon,
            time_features: default_time_features(freq),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lags(freq: i64) -> Vec<usize> {
        FrequencyDefaults::for_freq(freq).lags
    }

    #[test]
    fn half_hourly_reads_the_last_steps_yesterday_the_day_before_and_last_week() {
        let d = FrequencyDefaults::for_freq(1800);
        assert_eq!(
            d.lags,
            [1, 2, 3, 4, 5, 6, 7, 47, 48, 49, 95, 96, 97, 335, 336, 337]
        );
        assert_eq!(d.season, 48);
        assert_eq!((d.context_length, d.horizon), (96, 48));
        let names: Vec<&str> = d.cycles.iter().map(|c| c.name).collect();
        assert_eq!(names, ["hour", "day", "week"]);
    }

    #[test]
    fn hourly_and_quarter_hourly_lags_follow_the_day_and_the_week() {
        assert_eq!(
            lags(3600),
            [1, 2, 3, 4, 5, 6, 7, 23, 24, 25, 47, 48, 49, 167, 168, 169]
        );
        // the hour (4 steps) lies inside the short lags, so the day is read twice back
        assert_eq!(
            lags(900),
            [
                1, 2, 3, 4, 5, 6, 7, 95, 96, 97, 191, 192, 193, 671, 672, 673
            ]
        );
    }

    #[test]
    fn daily_weekly_monthly_and_quarterly_read_the_year_back() {
        assert_eq!(
            lags(86_400),
            [1, 2, 3, 4, 5, 6, 7, 8, 13, 14, 15, 364, 365, 366]
        );
        assert_eq!(
            lags(604_800),
            [1, 2, 3, 4, 5, 6, 7, 51, 52, 53, 103, 104, 105]
        );
        assert_eq!(
            lags(30 * 86_400),
            [1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 23, 24, 25]
        );
        // a year is four quarters, inside the short lags
        assert_eq!(lags(91 * 86_400), [1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn minute_data_drops_cycles_beyond_the_lag_bound() {
        let l = lags(60);
        assert_eq!(*l.last().unwrap(), 121);
        assert!(l.contains(&59) && l.contains(&120));
        let d = FrequencyDefaults::for_freq(60);
        assert_eq!((d.context_length, d.horizon), (384, 96));
    }

    #[test]
    fn lags_are_ascending_and_unique_for_every_spacing() {
        for f in [
            1, 60, 300, 900, 1800, 3600, 7200, 21_600, 43_200, 86_400, 604_800, 7_000,
        ] {
            let d = FrequencyDefaults::for_freq(f);
            assert!(d.lags.windows(2).all(|w| w[0] < w[1]), "{f}: {:?}", d.lags);
            assert!(d.context_length >= d.horizon && d.horizon > 0, "{f}");
        }
    }

    #[test]
    fn spacings_without_a_whole_cycle_get_the_short_lags() {
        assert_eq!(lags(5 * 3600), [1, 2, 3, 4, 5, 6, 7]);
        assert!(natural_cycles(5 * 3600).is_empty());
        // seven hours do not divide a day but do divide a week
        assert_eq!(lags(7 * 3600)[7..], [23, 24, 25, 47, 48, 49]);
        assert!(natural_cycles(0).is_empty());
    }

    #[test]
    fn calendar_spacings_take_their_fixed_look_alikes_defaults() {
        let monthly = FrequencyDefaults::for_freq(Frequency::MONTHLY);
        let thirty_days = FrequencyDefaults::for_freq(30 * 86_400);
        assert_eq!(monthly.lags, thirty_days.lags);
        assert_eq!(monthly.season, 12);
        assert_eq!((monthly.context_length, monthly.horizon), (24, 18));
        assert_eq!(
            monthly.cycles,
            [Cycle {
                name: "year",
                steps: 12
            }]
        );
        assert_eq!(monthly.time_features, [TimeFeature::MonthOfYear]);
        let quarterly = FrequencyDefaults::for_freq(Frequency::QUARTERLY);
        assert_eq!((quarterly.season, quarterly.horizon), (4, 8));
        assert_eq!(quarterly.lags, [1, 2, 3, 4, 5, 6, 7]);
        let yearly = FrequencyDefaults::for_freq(Frequency::YEARLY);
        assert_eq!((yearly.season, yearly.horizon), (1, 6));
        assert!(yearly.cycles.is_empty() && yearly.time_features.is_empty());
    }
}
