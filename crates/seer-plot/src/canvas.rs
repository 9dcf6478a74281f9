//! A minimal RGB raster with clipped pixel, rectangle, line and text drawing.

use crate::font;

pub type Rgb = [u8; 3];

/// Inclusive pixel rectangle used to clip drawing.
#[derive(Debug, Clone, Copy)]
pub struct Clip {
    pub x0: i64,
    pub y0: i64,
    pub x1: i64,
    pub y1: i64,
}

pub struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

/// Pixel coordinates further than this outside the canvas are clamped before line drawing,
/// bounding the work any single line can cause.
const COORD_LIMIT: i64 = 1 << 20;

impl Canvas {
    pub fn new(width: u32, height: u32, background: Rgb) -> Self {
        let pixels = background.repeat(width as usize * height as usize);
        Canvas {
            width,
            height,
            pixels,
        }
    }

    pub fn into_rgb(self) -> Vec<u8> {
        self.pixels
    }

    pub fn full(&self) -> Clip {
        Clip {
            x0: 0,
            y0: 0,
            x1: i64::from(self.width) - 1,
            y1: i64::from(self.height) - 1,
        }
    }

    pub fn set(&mut self, x: i64, y: i64, c: Rgb, clip: Clip) {
        if x < clip.x0.max(0)
            || y < clip.y0.max(0)
            || x > clip.x1.min(i64::from(self.width) - 1)
            || y > clip.y1.min(i64::from(self.height) - 1)
        {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.pixels[i..i + 3].copy_from_slice(&c);
    }

    /// Fills the inclusive rectangle spanned by the two corners.
    pub fn fill_rect(&mut self, xa: i64, ya: i64, xb: i64, yb: i64, c: Rgb, clip: Clip) {
        let x0 = xa.min(xb).max(clip.x0).max(0);
        let x1 = xa.max(xb).min(clip.x1).min(i64::from(self.width) - 1);
        let y0 = ya.min(yb).max(clip.y0).max(0);
        let y1 = ya.max(yb).min(clip.y1).min(i64::from(self.height) - 1);
        for y in y0..=y1 {
            for x in x0..=x1 {
                self.set(x, y, c, clip);
            }
        }
    }

    /// Draws a line with a `thickness`-pixel square brush. With `dash = Some(n)` it draws
    /// `n` pixels on, `n` off, continuing the pattern from `*phase` across calls.
    pub fn line(
        &mut self,
        from: (i64, i64),
        to: (i64, i64),
        thickness: i64,
        c: Rgb,
        clip: Clip,
        dash: Option<(i64, &mut i64)>,
    ) {
        let clamp = |v: i64| v.clamp(-COORD_LIMIT, COORD_LIMIT);
        let (mut x, mut y) = (clamp(from.0), clamp(from.1));
        let (x1, y1) = (clamp(to.0), clamp(to.1));
        let dx = (x1 - x).abs();
        let dy = -(y1 - y).abs();
        let sx = if x < x1 { 1 } else { -1 };
        let sy = if y < y1 { 1 } else { -1 };
        let mut err = dx + dy;
        let off = (thickness - 1) / 2;
        let mut dash = dash;
        loop {
            let on = match dash.as_mut() {
                Some((n, phase)) => {
                    let on = (**phase / (*n).max(1)) % 2 == 0;
                    **phase += 1;
                    on
                }
                None => true,
            };
            if on {
                self.fill_rect(
                    x - off,
                    y - off,
                    x - off + thickness - 1,
                    y - off + thickness - 1,
                    c,
                    clip,
                );
            }
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    pub fn text(&mut self, text: &str, x: i64, y: i64, scale: u32, c: Rgb, clip: Clip) {
        font::rasterize(text, x, y, scale, |px, py| self.set(px, py, c, clip));
    }
}
