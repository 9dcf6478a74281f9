//! Forecast fan charts rendered straight to PNG bytes.
//!
//! [`fan_chart_png`] draws one panel per [`FanSeries`], stacked vertically: the history as a
//! dark line, the held-out actuals as a dashed black line with markers, the 80 % and 50 %
//! prediction bands as light and darker shading, the median forecast as an orange line, a
//! dashed vertical marker at the forecast origin, date and value ticks, the title and a
//! legend. Text uses a 5×7 bitmap font embedded in the crate, so no system fonts are needed.
//!
//! Non-finite values (NaN, ±∞) are gaps: nothing is drawn for them. Degenerate inputs
//! (empty or all-NaN series, constant values, a single time) still render; only
//! mismatched slice lengths and unusable image sizes are errors.

mod axis;
mod canvas;
mod font;
mod render;

/// Colour of the 50 % prediction band (RGB).
pub const BAND_50_COLOR: [u8; 3] = [120, 170, 215];
/// Colour of the 80 % prediction band (RGB).
pub const BAND_80_COLOR: [u8; 3] = [204, 224, 243];
/// Colour of the median forecast line (RGB).
pub const MEDIAN_COLOR: [u8; 3] = [222, 98, 10];
/// Colour of the history line (RGB).
pub const HISTORY_COLOR: [u8; 3] = [70, 70, 70];
/// Colour of the actuals line and markers (RGB).
pub const ACTUAL_COLOR: [u8; 3] = [0, 0, 0];
/// Background colour (RGB).
pub const BACKGROUND_COLOR: [u8; 3] = [255, 255, 255];

/// Smallest accepted image width in pixels.
pub const MIN_WIDTH: u32 = 160;
/// Smallest accepted panel height in pixels.
pub const MIN_PANEL_HEIGHT: u32 = 100;
/// Largest accepted image, in pixels (width × total height).
pub const MAX_PIXELS: u64 = 1 << 26;

/// One series to draw as a panel of the fan chart. Times are unix seconds (UTC).
#[derive(Debug, Clone, Copy)]
pub struct FanSeries<'a> {
    /// Panel title, e.g. the series id.
    pub title: &'a str,
    /// Observed history: (times, values). Non-finite values are gaps.
    pub history: (&'a [i64], &'a [f64]),
    /// Held-out truth over the forecast range: (times, values), if known.
    pub actuals: Option<(&'a [i64], &'a [f64])>,
    /// Times of the forecast steps; `median` and the bands are aligned with them.
    pub forecast_times: &'a [i64],
    /// Median (point) forecast.
    pub median: &'a [f64],
    /// 50 % prediction interval: (lower, upper).
    pub band_50: Option<(&'a [f64], &'a [f64])>,
    /// 80 % prediction interval: (lower, upper).
    pub band_80: Option<(&'a [f64], &'a [f64])>,
}

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    #[error("no panels to draw")]
    NoPanels,
    #[error(
        "image too small: {width}x{height_per_panel} px per panel leaves no room for the plot \
         (need at least {MIN_WIDTH}x{MIN_PANEL_HEIGHT})"
    )]
    TooSmall { width: u32, height_per_panel: u32 },
    #[error("image too large: {width}x{height} px exceeds {MAX_PIXELS} pixels")]
    TooLarge { width: u32, height: u64 },
    #[error("panel {panel} ({title:?}): `{field}` has {got} values but `{against}` has {expected}")]
    LengthMismatch {
        panel: usize,
        title: String,
        field: &'static str,
        against: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("PNG encoding failed: {0}")]
    Encode(#[from] png::EncodingError),
}

/// Renders `panels` as a fan chart, one panel per series stacked top to bottom, and returns
/// the encoded 8-bit RGB PNG (`width` × `panels.len() * height_per_panel` pixels).
pub fn fan_chart_png(
    panels: &[FanSeries<'_>],
    width: u32,
    height_per_panel: u32,
) -> Result<Vec<u8>, PlotError> {
    if panels.is_empty() {
        return Err(PlotError::NoPanels);
    }
    if width < MIN_WIDTH || height_per_panel < MIN_PANEL_HEIGHT {
        return Err(PlotError::TooSmall {
            width,
            height_per_panel,
        });
    }
    let height = panels.len() as u64 * u64::from(height_per_panel);
    if u64::from(width) * height > MAX_PIXELS {
        return Err(PlotError::TooLarge { width, height });
    }
    for (i, p) in panels.iter().enumerate() {
        validate(i, p)?;
    }
    let height = height as u32; // ≤ MAX_PIXELS / MIN_WIDTH, so it fits
    let rgb = render::render(panels, width, height_per_panel).ok_or(PlotError::TooSmall {
        width,
        height_per_panel,
    })?;

    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(out)
}

fn validate(panel: usize, p: &FanSeries<'_>) -> Result<(), PlotError> {
    let check = |field, against, expected: usize, got: usize| {
        if expected == got {
            Ok(())
        } else {
            Err(PlotError::LengthMismatch {
                panel,
                title: p.title.to_string(),
                field,
                against,
                expected,
                got,
            })
        }
    };
    check(
        "history values",
        "history times",
        p.history.0.len(),
        p.history.1.len(),
    )?;
    if let Some((t, v)) = p.actuals {
        check("actuals values", "actuals times", t.len(), v.len())?;
    }
    let n = p.forecast_times.len();
    check("median", "forecast_times", n, p.median.len())?;
    if let Some((lo, hi)) = p.band_50 {
        check("band_50 lower", "forecast_times", n, lo.len())?;
        check("band_50 upper", "forecast_times", n, hi.len())?;
    }
    if let Some((lo, hi)) = p.band_80 {
        check("band_80 lower", "forecast_times", n, lo.len())?;
        check("band_80 upper", "forecast_times", n, hi.len())?;
    }
    Ok(())
}
