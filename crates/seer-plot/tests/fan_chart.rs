use std::io::Cursor;

use seer_plot::{
    ACTUAL_COLOR, BAND_50_COLOR, BAND_80_COLOR, FanSeries, MEDIAN_COLOR, PlotError, fan_chart_png,
};

const DAY: i64 = 86_400;
const JAN_2024: i64 = 1_704_067_200;

/// Decodes `bytes` as an 8-bit RGB PNG: (width, height, pixels).
fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("valid PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("valid PNG frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn pixel(buf: &[u8], width: u32, x: u32, y: u32) -> [u8; 3] {
    let i = (y as usize * width as usize + x as usize) * 3;
    [buf[i], buf[i + 1], buf[i + 2]]
}

/// Deterministic noise in [-1, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// Owned data behind one `FanSeries`.
struct Data {
    title: String,
    hist_t: Vec<i64>,
    hist_v: Vec<f64>,
    act_t: Vec<i64>,
    act_v: Vec<f64>,
    fc_t: Vec<i64>,
    median: Vec<f64>,
    lo50: Vec<f64>,
    hi50: Vec<f64>,
    lo80: Vec<f64>,
    hi80: Vec<f64>,
}

impl Data {
    fn series(&self) -> FanSeries<'_> {
        FanSeries {
            title: &self.title,
            history: (&self.hist_t, &self.hist_v),
            actuals: Some((&self.act_t, &self.act_v)),
            forecast_times: &self.fc_t,
            median: &self.median,
            band_50: Some((&self.lo50, &self.hi50)),
            band_80: Some((&self.lo80, &self.hi80)),
        }
    }
}

/// A seasonal series: `n_hist` observed steps then `n_fc` forecast steps of `step` seconds.
fn sample(
    title: &str,
    start: i64,
    step: i64,
    n_hist: usize,
    n_fc: usize,
    level: f64,
    amp: f64,
    period: f64,
    seed: u64,
) -> Data {
    let mut rng = Lcg(seed);
    let truth = |i: usize, rng: &mut Lcg| {
        let x = i as f64;
        level
            + level * 0.002 * x
            + amp * (std::f64::consts::TAU * x / period).sin()
            + amp * 0.35 * rng.next()
    };
    let hist_t: Vec<i64> = (0..n_hist).map(|i| start + i as i64 * step).collect();
    let hist_v: Vec<f64> = (0..n_hist).map(|i| truth(i, &mut rng)).collect();
    let fc_t: Vec<i64> = (n_hist..n_hist + n_fc)
        .map(|i| start + i as i64 * step)
        .collect();
    let act_v: Vec<f64> = (n_hist..n_hist + n_fc)
        .map(|i| truth(i, &mut rng))
        .collect();
    let median: Vec<f64> = (n_hist..n_hist + n_fc)
        .map(|i| {
            let x = i as f64;
            level + level * 0.002 * x + amp * 0.9 * (std::f64::consts::TAU * x / period).sin()
        })
        .collect();
    let width = |h: usize, z: f64| z * amp * 0.3 * (1.0 + h as f64).sqrt();
    let lo50 = median
        .iter()
        .enumerate()
        .map(|(h, m)| m - width(h, 0.67))
        .collect();
    let hi50 = median
        .iter()
        .enumerate()
        .map(|(h, m)| m + width(h, 0.67))
        .collect();
    let lo80 = median
        .iter()
        .enumerate()
        .map(|(h, m)| m - width(h, 1.28))
        .collect();
    let hi80 = median
        .iter()
        .enumerate()
        .map(|(h, m)| m + width(h, 1.28))
        .collect();
    Data {
        title: title.to_string(),
        hist_t,
        hist_v,
        act_t: fc_t.clone(),
        act_v,
        fc_t,
        median,
        lo50,
        hi50,
        lo80,
        hi80,
    }
}

#[test]
fn png_decodes_with_requested_dimensions() {
    let a = sample("store_1/item_7", JAN_2024, DAY, 90, 28, 50.0, 12.0, 7.0, 1);
    let b = sample(
        "hourly_load",
        JAN_2024,
        3600,
        24 * 5,
        48,
        1200.0,
        300.0,
        24.0,
        2,
    );
    let panels = [a.series(), b.series()];
    for (w, h) in [(640, 240), (900, 300), (160, 100), (333, 171)] {
        let bytes = fan_chart_png(&panels, w, h).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let (dw, dh, buf) = decode(&bytes);
        assert_eq!((dw, dh), (w, 2 * h));
        assert_eq!(buf.len(), (w * 2 * h * 3) as usize);
    }
}

/// Colours of the runs of identical pixels down column `x`.
fn column_runs(buf: &[u8], width: u32, height: u32, x: u32) -> Vec<[u8; 3]> {
    let mut runs: Vec<[u8; 3]> = Vec::new();
    for y in 0..height {
        let p = pixel(buf, width, x, y);
        if runs.last() != Some(&p) {
            runs.push(p);
        }
    }
    runs
}

#[test]
fn bands_are_shaded_in_their_colours_around_the_median() {
    let d = sample("bands", JAN_2024, DAY, 60, 30, 100.0, 10.0, 7.0, 3);
    // Keep actuals out of the way so the column check sees only the fan.
    let series = FanSeries {
        actuals: None,
        ..d.series()
    };
    let (w, h) = (600, 300);
    let (_, _, buf) = decode(&fan_chart_png(&[series], w, h).unwrap());

    let is_fan = |runs: &[[u8; 3]]| {
        runs.windows(5).any(|r| {
            r == [
                BAND_80_COLOR,
                BAND_50_COLOR,
                MEDIAN_COLOR,
                BAND_50_COLOR,
                BAND_80_COLOR,
            ]
        })
    };
    let fan_columns: Vec<u32> = (0..w)
        .filter(|&x| is_fan(&column_runs(&buf, w, h, x)))
        .collect();
    // 30 of 90 days are forecast: roughly a third of the plot width shows the fan.
    assert!(
        fan_columns.len() > w as usize / 5,
        "only {} fan columns",
        fan_columns.len()
    );
    assert!(
        fan_columns.iter().all(|&x| x > w / 2),
        "fan drawn over the history: {fan_columns:?}"
    );

    // A pixel between the 50% band's edge and the median is the 50% colour, and one between
    // the 80% and 50% edges the 80% colour.
    let x = fan_columns[fan_columns.len() / 2];
    let ys: Vec<u32> = (0..h).collect();
    let first = |c: [u8; 3]| *ys.iter().find(|&&y| pixel(&buf, w, x, y) == c).unwrap();
    let (top80, top50, med) = (
        first(BAND_80_COLOR),
        first(BAND_50_COLOR),
        first(MEDIAN_COLOR),
    );
    assert!(top80 < top50 && top50 < med);
    assert_eq!(pixel(&buf, w, x, (top80 + top50) / 2), BAND_80_COLOR);
    assert_eq!(pixel(&buf, w, x, (top50 + med) / 2), BAND_50_COLOR);

    // Without bands, no band colour appears anywhere.
    let bare = FanSeries {
        band_50: None,
        band_80: None,
        ..series
    };
    let (_, _, buf) = decode(&fan_chart_png(&[bare], w, h).unwrap());
    assert!(
        buf.chunks(3)
            .all(|p| p != BAND_50_COLOR && p != BAND_80_COLOR)
    );
    assert!(buf.chunks(3).any(|p| p == MEDIAN_COLOR));
    // The history's actuals were dropped, so pure black only comes from text... which is
    // not pure black either.
    assert!(buf.chunks(3).all(|p| p != ACTUAL_COLOR));
}

#[test]
fn degenerate_inputs_render_without_panicking() {
    let nan = [f64::NAN; 5];
    let t5 = [0, DAY, 2 * DAY, 3 * DAY, 4 * DAY];
    let konst = [7.0; 5];
    let mixed = [1.0, f64::NAN, f64::INFINITY, 3.0, f64::NEG_INFINITY];
    let huge = [f64::MAX, -f64::MAX, 1e300, -1e300, 0.0];
    let extreme_t = [i64::MIN, -1, 0, 1, i64::MAX];
    let unsorted_t = [4 * DAY, 0, 2 * DAY, DAY, 3 * DAY];
    let same_t = [JAN_2024; 5];
    let rising = [1.0, 2.0, 3.0, 4.0, 5.0];
    let empty = FanSeries {
        title: "",
        history: (&[], &[]),
        actuals: None,
        forecast_times: &[],
        median: &[],
        band_50: None,
        band_80: None,
    };
    let cases: Vec<(&str, FanSeries<'_>)> = vec![
        ("empty", empty),
        (
            "empty with empty bands",
            FanSeries {
                actuals: Some((&[], &[])),
                band_50: Some((&[], &[])),
                band_80: Some((&[], &[])),
                ..empty
            },
        ),
        (
            "all NaN",
            FanSeries {
                history: (&t5, &nan),
                actuals: Some((&t5, &nan)),
                forecast_times: &t5,
                median: &nan,
                band_50: Some((&nan, &nan)),
                band_80: Some((&nan, &nan)),
                ..empty
            },
        ),
        (
            "constant",
            FanSeries {
                history: (&t5, &konst),
                forecast_times: &t5,
                median: &konst,
                band_80: Some((&konst, &konst)),
                ..empty
            },
        ),
        (
            "single points",
            FanSeries {
                history: (&t5[..1], &konst[..1]),
                forecast_times: &t5[1..2],
                median: &konst[..1],
                band_50: Some((&rising[..1], &rising[1..2])),
                ..empty
            },
        ),
        (
            "non-finite mix",
            FanSeries {
                history: (&t5, &mixed),
                actuals: Some((&t5, &mixed)),
                forecast_times: &t5,
                median: &mixed,
                band_50: Some((&mixed, &rising)),
                ..empty
            },
        ),
        (
            "huge values",
            FanSeries {
                history: (&t5, &huge),
                forecast_times: &t5,
                median: &huge,
                band_80: Some((&huge, &rising)),
                ..empty
            },
        ),
        (
            "extreme times",
            FanSeries {
                history: (&extreme_t, &rising),
                forecast_times: &extreme_t,
                median: &rising,
                ..empty
            },
        ),
        (
            "unsorted times",
            FanSeries {
                history: (&unsorted_t, &rising),
                forecast_times: &unsorted_t,
                median: &rising,
                band_50: Some((&rising, &konst)),
                ..empty
            },
        ),
        (
            "identical times",
            FanSeries {
                history: (&same_t, &rising),
                forecast_times: &same_t,
                median: &rising,
                ..empty
            },
        ),
        (
            "inverted band",
            FanSeries {
                forecast_times: &t5,
                median: &konst,
                band_50: Some((&rising, &konst)),
                band_80: Some((&konst, &rising)),
                ..empty
            },
        ),
        (
            "long unicode title",
            FanSeries {
                title: "sërie ☃ with a title far too long to fit on any reasonable chart at all, truly",
                ..empty
            },
        ),
        (
            "tiny values",
            FanSeries {
                history: (&t5, &[1e-300, 2e-300, 3e-300, 4e-300, 5e-300]),
                ..empty
            },
        ),
    ];
    for (name, series) in &cases {
        for (w, h) in [(160, 100), (641, 257), (1200, 400)] {
            let bytes = fan_chart_png(&[*series], w, h)
                .unwrap_or_else(|e| panic!("{name} at {w}x{h}: {e}"));
            let (dw, dh, _) = decode(&bytes);
            assert_eq!((dw, dh), (w, h), "{name}");
        }
    }
    // All of them at once, as panels of one chart.
    let all: Vec<FanSeries<'_>> = cases.iter().map(|(_, s)| *s).collect();
    let (dw, dh, _) = decode(&fan_chart_png(&all, 500, 150).unwrap());
    assert_eq!((dw, dh), (500, 150 * all.len() as u32));
}

#[test]
fn mismatched_lengths_name_the_field() {
    let t = [0, DAY, 2 * DAY];
    let v = [1.0, 2.0, 3.0];
    let short = [1.0, 2.0];
    let ok = FanSeries {
        title: "sku-9",
        history: (&t, &v),
        actuals: Some((&t, &v)),
        forecast_times: &t,
        median: &v,
        band_50: Some((&v, &v)),
        band_80: Some((&v, &v)),
    };
    assert!(fan_chart_png(&[ok], 400, 200).is_ok());
    let cases = [
        (
            "history values",
            FanSeries {
                history: (&t, &short),
                ..ok
            },
        ),
        (
            "actuals values",
            FanSeries {
                actuals: Some((&t, &short)),
                ..ok
            },
        ),
        (
            "median",
            FanSeries {
                median: &short,
                ..ok
            },
        ),
        (
            "band_50 lower",
            FanSeries {
                band_50: Some((&short, &v)),
                ..ok
            },
        ),
        (
            "band_50 upper",
            FanSeries {
                band_50: Some((&v, &short)),
                ..ok
            },
        ),
        (
            "band_80 lower",
            FanSeries {
                band_80: Some((&short, &v)),
                ..ok
            },
        ),
        (
            "band_80 upper",
            FanSeries {
                band_80: Some((&v, &short)),
                ..ok
            },
        ),
        (
            "median",
            FanSeries {
                forecast_times: &t[..2],
                ..ok
            },
        ),
    ];
    for (field, bad) in cases {
        let err = fan_chart_png(&[ok, bad], 400, 200).unwrap_err();
        match &err {
            PlotError::LengthMismatch {
                panel,
                field: f,
                title,
                ..
            } => {
                assert_eq!((*panel, *f, title.as_str()), (1, field, "sku-9"));
            }
            other => panic!("expected LengthMismatch for {field}, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(field) && msg.contains("panel 1"), "{msg}");
    }
}

#[test]
fn unusable_sizes_are_errors() {
    let d = sample("x", JAN_2024, DAY, 10, 5, 10.0, 1.0, 7.0, 4);
    let s = [d.series()];
    assert!(matches!(
        fan_chart_png(&[], 400, 200),
        Err(PlotError::NoPanels)
    ));
    assert!(matches!(
        fan_chart_png(&s, 0, 0),
        Err(PlotError::TooSmall { .. })
    ));
    assert!(matches!(
        fan_chart_png(&s, 159, 200),
        Err(PlotError::TooSmall { .. })
    ));
    assert!(matches!(
        fan_chart_png(&s, 400, 99),
        Err(PlotError::TooSmall { .. })
    ));
    assert!(matches!(
        fan_chart_png(&s, u32::MAX, u32::MAX),
        Err(PlotError::TooLarge { .. })
    ));
    let many = vec![d.series(); 100_000];
    assert!(matches!(
        fan_chart_png(&many, 1000, 1000),
        Err(PlotError::TooLarge { .. })
    ));
    let msg = fan_chart_png(&s, 10, 10).unwrap_err().to_string();
    assert!(msg.contains("10x10"), "{msg}");
}

/// Renders a realistic multi-panel chart to the OS temp dir for eyeballing.
#[test]
fn writes_sample_chart_to_temp_dir() {
    let mut gappy = sample(
        "store_3/item_42 (gaps)",
        JAN_2024 + 40 * DAY,
        DAY,
        120,
        28,
        8.0,
        3.0,
        7.0,
        5,
    );
    for i in 30..38 {
        gappy.hist_v[i] = f64::NAN;
    }
    gappy.act_v[5] = f64::NAN;
    let panels_data = [
        sample("store_1/item_7", JAN_2024, DAY, 90, 28, 50.0, 12.0, 7.0, 1),
        sample(
            "hourly_load:zone-2",
            JAN_2024,
            3600,
            24 * 5,
            48,
            1200.0,
            300.0,
            24.0,
            2,
        ),
        gappy,
    ];
    let panels: Vec<FanSeries<'_>> = panels_data.iter().map(Data::series).collect();
    let dir = std::env::temp_dir();
    for (w, h, name) in [
        (900, 300, "seer-plot-sample.png"),
        (480, 180, "seer-plot-sample-small.png"),
    ] {
        let bytes = fan_chart_png(&panels, w, h).unwrap();
        let (dw, dh, _) = decode(&bytes);
        assert_eq!((dw, dh), (w, 3 * h));
        std::fs::write(dir.join(name), &bytes).unwrap();
    }

    // Degenerate panels: empty, constant, a single forecast step, all-NaN history.
    let t = [JAN_2024, JAN_2024 + DAY, JAN_2024 + 2 * DAY];
    let konst = [42.0; 3];
    let nan = [f64::NAN; 3];
    let none = FanSeries {
        title: "empty",
        history: (&[], &[]),
        actuals: None,
        forecast_times: &[],
        median: &[],
        band_50: None,
        band_80: None,
    };
    let degenerate = [
        none,
        FanSeries {
            title: "constant 42",
            history: (&t[..2], &konst[..2]),
            forecast_times: &t[2..],
            median: &konst[..1],
            band_80: Some((&[40.0], &[44.0])),
            ..none
        },
        FanSeries {
            title: "all NaN history",
            history: (&t, &nan),
            forecast_times: &t,
            median: &[1.0, 2.0, 1.5],
            band_50: Some((&[0.5, 1.5, 1.0], &[1.5, 2.5, 2.0])),
            ..none
        },
    ];
    let bytes = fan_chart_png(&degenerate, 640, 240).unwrap();
    std::fs::write(dir.join("seer-plot-degenerate.png"), &bytes).unwrap();
}
