//! Panel layout and drawing.

use crate::axis::{self, Range};
use crate::canvas::{Canvas, Clip, Rgb};
use crate::font;
use crate::{
    ACTUAL_COLOR, BACKGROUND_COLOR, BAND_50_COLOR, BAND_80_COLOR, FanSeries, HISTORY_COLOR,
    MEDIAN_COLOR,
};

const TEXT: Rgb = [25, 25, 25];
const TICK_TEXT: Rgb = [60, 60, 60];
const AXIS: Rgb = [110, 110, 110];
const GRID: Rgb = [234, 234, 234];
const ORIGIN: Rgb = [120, 120, 120];
const SEPARATOR: Rgb = [200, 200, 200];

/// Smallest plot area (inside the axes) worth drawing, in pixels.
const MIN_PLOT: i64 = 24;

/// Renders all panels into an RGB8 buffer, or `None` when a panel leaves too little room
/// for its plot area.
pub fn render(panels: &[FanSeries<'_>], width: u32, panel_h: u32) -> Option<Vec<u8>> {
    let height = panel_h * panels.len() as u32;
    let mut canvas = Canvas::new(width, height, BACKGROUND_COLOR);
    let scale = if width >= 640 && panel_h >= 240 { 2 } else { 1 };
    for (i, p) in panels.iter().enumerate() {
        let top = i64::from(panel_h) * i as i64;
        if i > 0 {
            let full = canvas.full();
            canvas.fill_rect(0, top, i64::from(width) - 1, top, SEPARATOR, full);
        }
        draw_panel(
            &mut canvas,
            p,
            top,
            i64::from(width),
            i64::from(panel_h),
            scale,
        )?;
    }
    Some(canvas.into_rgb())
}

fn finite_min_max(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

fn time_min_max(times: impl IntoIterator<Item = i64>) -> Option<(i64, i64)> {
    times.into_iter().fold(None, |acc, t| match acc {
        None => Some((t, t)),
        Some((lo, hi)) => Some((lo.min(t), hi.max(t))),
    })
}

/// Maps data coordinates to pixel coordinates inside the plot area.
struct Frame {
    x0: i64,
    y0: i64,
    x1: i64,
    y1: i64,
    xr: Range,
    yr: Range,
}

impl Frame {
    fn px(&self, t: i64) -> i64 {
        let f = self.xr.frac(t as f64);
        (self.x0 as f64 + f * (self.x1 - self.x0) as f64).round() as i64
    }

    fn py(&self, v: f64) -> i64 {
        let f = self.yr.frac(v);
        (self.y1 as f64 - f * (self.y1 - self.y0) as f64).round() as i64
    }

    fn clip(&self) -> Clip {
        Clip {
            x0: self.x0,
            y0: self.y0,
            x1: self.x1,
            y1: self.y1,
        }
    }
}

#[derive(Clone, Copy)]
enum Swatch {
    Line(Rgb),
    Dashed(Rgb),
    Fill(Rgb),
}

fn draw_panel(
    c: &mut Canvas,
    p: &FanSeries<'_>,
    top: i64,
    width: i64,
    panel_h: i64,
    scale: u32,
) -> Option<()> {
    let s = i64::from(scale);
    let pad = 6 * s;
    let text_h = i64::from(font::GLYPH_H) * s;
    let line_h = i64::from(font::LINE_H) * s;
    let full = c.full();

    // --- header: title and legend ---
    let mut legend: Vec<(&str, Swatch)> = Vec::new();
    if !p.history.0.is_empty() {
        legend.push(("history", Swatch::Line(HISTORY_COLOR)));
    }
    if p.actuals.is_some_and(|(t, _)| !t.is_empty()) {
        legend.push(("actual", Swatch::Dashed(ACTUAL_COLOR)));
    }
    if !p.forecast_times.is_empty() {
        legend.push(("median", Swatch::Line(MEDIAN_COLOR)));
    }
    if p.band_50.is_some() {
        legend.push(("50%", Swatch::Fill(BAND_50_COLOR)));
    }
    if p.band_80.is_some() {
        legend.push(("80%", Swatch::Fill(BAND_80_COLOR)));
    }
    let swatch_w = 14 * s;
    let entry_gap = 10 * s;
    let entry_w = |label: &str| swatch_w + 4 * s + i64::from(font::text_width(label, scale));
    let legend_w: i64 = legend.iter().map(|(l, _)| entry_w(l)).sum::<i64>()
        + entry_gap * (legend.len() as i64 - 1).max(0);
    let title_scale = scale;
    let avail = width - 2 * pad;
    let title_full_w = i64::from(font::text_width(p.title, title_scale));
    let same_row = legend.is_empty() || title_full_w + 16 * s + legend_w <= avail;
    let title_avail = if same_row && !legend.is_empty() {
        avail - legend_w - 16 * s
    } else {
        avail
    };
    let title = fit_text(p.title, title_avail, title_scale);
    let title_y = top + pad;
    c.text(&title, pad, title_y, title_scale, TEXT, full);
    let legend_y = if same_row {
        title_y
    } else {
        title_y + line_h + 2 * s
    };
    let mut lx = if same_row {
        width - pad - legend_w
    } else {
        pad
    };
    for (label, swatch) in &legend {
        if lx + entry_w(label) > width - pad + 1 {
            break;
        }
        let mid = legend_y + text_h / 2;
        match *swatch {
            Swatch::Line(col) => c.line((lx, mid), (lx + swatch_w - 1, mid), 2, col, full, None),
            Swatch::Dashed(col) => {
                let mut phase = 0;
                c.line(
                    (lx, mid),
                    (lx + swatch_w - 1, mid),
                    2,
                    col,
                    full,
                    Some((2 * s, &mut phase)),
                );
                marker(c, lx + swatch_w / 2, mid, s, col, full);
            }
            Swatch::Fill(col) => c.fill_rect(
                lx,
                legend_y,
                lx + swatch_w - 1,
                legend_y + text_h - 1,
                col,
                full,
            ),
        }
        c.text(label, lx + swatch_w + 4 * s, legend_y, scale, TEXT, full);
        lx += entry_w(label) + entry_gap;
    }
    let header_bottom = legend_y.max(title_y) + line_h;

    // --- plot area (vertical) ---
    let tick_len = 3 * s;
    let y0 = header_bottom + 6 * s;
    let y1 = top + panel_h - 1 - (pad + text_h + 3 * s + tick_len);
    if y1 - y0 < MIN_PLOT {
        return None;
    }

    // --- data ranges ---
    let forecast_values = p
        .band_50
        .into_iter()
        .chain(p.band_80)
        .flat_map(|(lo, hi)| lo.iter().chain(hi));
    let values = p
        .history
        .1
        .iter()
        .chain(p.actuals.map_or(&[][..], |(_, v)| v))
        .chain(p.median)
        .chain(forecast_values)
        .copied();
    let value_span = finite_min_max(values);
    let yr = axis::value_range(value_span);
    let max_y_ticks = ((y1 - y0) / (text_h * 3)).clamp(2, 8) as usize;
    let (yr, y_ticks) = axis::value_ticks(yr, max_y_ticks);
    let times = p
        .history
        .0
        .iter()
        .chain(p.actuals.map_or(&[][..], |(t, _)| t))
        .chain(p.forecast_times)
        .copied();
    let xr = axis::time_range(time_min_max(times));

    // --- plot area (horizontal) ---
    let label_w = y_ticks
        .iter()
        .map(|(_, l)| i64::from(font::text_width(l, scale)))
        .max()
        .unwrap_or(0);
    let x0 = (pad + label_w + tick_len + 3 * s).min(width / 2);
    let x1 = width - 1 - pad - 2 * s;
    if x1 - x0 < MIN_PLOT {
        return None;
    }
    let f = Frame {
        x0,
        y0,
        x1,
        y1,
        xr,
        yr,
    };
    let clip = f.clip();

    let date_w = i64::from(font::text_width("0000-00-00", scale));
    let mut max_x_ticks = ((x1 - x0) / (date_w + 10 * s)).max(1) as usize;
    if axis::needs_time_of_day(xr, max_x_ticks) {
        let datetime_w = i64::from(font::text_width("0000-00-00 00:00", scale));
        max_x_ticks = ((x1 - x0) / (datetime_w + 10 * s)).max(1) as usize;
    }
    let x_ticks = axis::time_ticks(xr, max_x_ticks);

    // --- grid ---
    for (v, _) in &y_ticks {
        let y = f.py(*v);
        c.fill_rect(x0, y, x1, y, GRID, clip);
    }
    for (t, _) in &x_ticks {
        let x = f.px(*t);
        c.fill_rect(x, y0, x, y1, GRID, clip);
    }

    // --- bands, widest first ---
    if let Some((lo, hi)) = p.band_80 {
        fill_band(c, &f, p.forecast_times, lo, hi, BAND_80_COLOR);
    }
    if let Some((lo, hi)) = p.band_50 {
        fill_band(c, &f, p.forecast_times, lo, hi, BAND_50_COLOR);
    }

    // --- forecast origin: the end of the history before the forecast starts ---
    let first_forecast = p.forecast_times.iter().min().copied();
    let origin = p
        .history
        .0
        .iter()
        .copied()
        .filter(|&t| first_forecast.is_none_or(|f| t <= f))
        .max()
        .or(first_forecast);
    if let Some(t) = origin {
        let x = f.px(t);
        let mut phase = 0;
        c.line((x, y0), (x, y1), 1, ORIGIN, clip, Some((3 * s, &mut phase)));
    }

    // --- lines ---
    polyline(c, &f, p.history.0, p.history.1, HISTORY_COLOR, None);
    polyline(c, &f, p.forecast_times, p.median, MEDIAN_COLOR, None);
    if let Some((t, v)) = p.actuals {
        polyline(c, &f, t, v, ACTUAL_COLOR, Some(2 * s));
        let min_gap = 4 * s + 2;
        let mut last_x: Option<i64> = None;
        for (&ti, &vi) in t.iter().zip(v) {
            if !vi.is_finite() {
                continue;
            }
            let x = f.px(ti);
            if last_x.is_some_and(|lx| (x - lx).abs() < min_gap) {
                continue;
            }
            marker(c, x, f.py(vi), s, ACTUAL_COLOR, clip);
            last_x = Some(x);
        }
    }

    if value_span.is_none() {
        let msg = "no data";
        let w = i64::from(font::text_width(msg, scale));
        c.text(
            msg,
            (x0 + x1 - w) / 2,
            (y0 + y1 - text_h) / 2,
            scale,
            TICK_TEXT,
            clip,
        );
    }

    // --- axes frame, ticks and labels ---
    c.fill_rect(x0, y0, x1, y0, AXIS, full);
    c.fill_rect(x0, y1, x1, y1, AXIS, full);
    c.fill_rect(x0, y0, x0, y1, AXIS, full);
    c.fill_rect(x1, y0, x1, y1, AXIS, full);
    let panel_clip = Clip {
        x0: 0,
        y0: top,
        x1: width - 1,
        y1: top + panel_h - 1,
    };
    for (v, label) in &y_ticks {
        let y = f.py(*v);
        c.fill_rect(x0 - tick_len, y, x0 - 1, y, AXIS, panel_clip);
        let w = i64::from(font::text_width(label, scale));
        c.text(
            label,
            x0 - tick_len - 2 * s - w,
            y - text_h / 2,
            scale,
            TICK_TEXT,
            panel_clip,
        );
    }
    for (t, label) in &x_ticks {
        let x = f.px(*t);
        c.fill_rect(x, y1 + 1, x, y1 + tick_len, AXIS, panel_clip);
        let w = i64::from(font::text_width(label, scale));
        let lx = (x - w / 2).clamp(0, (width - 2 * s - w).max(0));
        c.text(
            label,
            lx,
            y1 + tick_len + 3 * s,
            scale,
            TICK_TEXT,
            panel_clip,
        );
    }
    Some(())
}

/// `text` cut (with a trailing "..") so it is at most `max_w` pixels wide at `scale`.
fn fit_text(text: &str, max_w: i64, scale: u32) -> String {
    if i64::from(font::text_width(text, scale)) <= max_w {
        return text.to_string();
    }
    let mut out: String = String::new();
    for ch in text.chars() {
        let candidate = format!("{out}{ch}..");
        if i64::from(font::text_width(&candidate, scale)) > max_w {
            break;
        }
        out.push(ch);
    }
    if out.is_empty() {
        String::new()
    } else {
        out + ".."
    }
}

/// Small filled square marker centred at (`x`, `y`).
fn marker(c: &mut Canvas, x: i64, y: i64, s: i64, col: Rgb, clip: Clip) {
    let r = s + 1;
    c.fill_rect(x - r, y - r, x + r, y + r, col, clip);
}

/// Draws the points as a 2 px line, breaking it at non-finite values; a point with no
/// finite neighbour is drawn as a dot. `dash` draws the line dashed with that run length.
fn polyline(c: &mut Canvas, f: &Frame, times: &[i64], values: &[f64], col: Rgb, dash: Option<i64>) {
    let clip = f.clip();
    let mut phase = 0;
    let mut prev: Option<(i64, i64)> = None;
    let n = times.len().min(values.len());
    for i in 0..n {
        let v = values[i];
        if !v.is_finite() {
            prev = None;
            continue;
        }
        let cur = (f.px(times[i]), f.py(v));
        match prev {
            Some(a) => c.line(a, cur, 2, col, clip, dash.map(|d| (d, &mut phase))),
            None => {
                let next_finite = i + 1 < n && values[i + 1].is_finite();
                if !next_finite {
                    c.fill_rect(cur.0 - 1, cur.1 - 1, cur.0 + 1, cur.1 + 1, col, clip);
                }
            }
        }
        prev = Some(cur);
    }
}

/// Shades between `lo` and `hi`, interpolating linearly between consecutive forecast steps;
/// a step with a non-finite bound breaks the band. A lone step is drawn as a narrow bar.
fn fill_band(c: &mut Canvas, f: &Frame, times: &[i64], lo: &[f64], hi: &[f64], col: Rgb) {
    let clip = f.clip();
    let n = times.len().min(lo.len()).min(hi.len());
    let ok = |i: usize| lo[i].is_finite() && hi[i].is_finite();
    for i in 0..n {
        if !ok(i) {
            continue;
        }
        let has_prev = i > 0 && ok(i - 1);
        let has_next = i + 1 < n && ok(i + 1);
        if !has_prev && !has_next {
            let x = f.px(times[i]);
            c.fill_rect(x - 2, f.py(lo[i]), x + 2, f.py(hi[i]), col, clip);
        }
        if !has_next {
            continue;
        }
        let (xa, xb) = (f.px(times[i]), f.px(times[i + 1]));
        let (ya_lo, ya_hi) = (f.py(lo[i]) as f64, f.py(hi[i]) as f64);
        let (yb_lo, yb_hi) = (f.py(lo[i + 1]) as f64, f.py(hi[i + 1]) as f64);
        let (left, right) = (xa.min(xb).max(f.x0), xa.max(xb).min(f.x1));
        for x in left..=right {
            let t = if xb == xa {
                0.0
            } else {
                (x - xa) as f64 / (xb - xa) as f64
            };
            let y_lo = ya_lo + (yb_lo - ya_lo) * t;
            let y_hi = ya_hi + (yb_hi - ya_hi) * t;
            c.fill_rect(x, y_lo.round() as i64, x, y_hi.round() as i64, col, clip);
        }
    }
}
