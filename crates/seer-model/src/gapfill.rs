//! The BiLSTM gap filler (docs/models.md): fills the missing points of each series' last
//! `context_length` points; and the rule for which observed points its training and its
//! backtest hide from it.

use std::collections::BTreeMap;

use seer_core::rng::SplitMix64;
use seer_core::scaling::mean_scale;
use seer_gpu::{GpuContext, Recorder};

use crate::checkpoint::Weights;
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::forecast::{GapFill, Prediction};
use crate::layers::{Cell, LinearLayer, RecurrentStack};
use crate::prepare::History;

/// Share of a window's observed points hidden from the gap filler, in training and backtests.
pub(crate) const MASK_RATE: f64 = 0.15;

/// Which observed points of `values` to hide: `round(MASK_RATE · observed)`, at least one and
/// never all; `None` when fewer than two points are observed.
pub(crate) fn hide_mask(values: &[f64], rng: &mut SplitMix64) -> Option<Vec<bool>> {
    let mut observed: Vec<usize> = (0..values.len())
        .filter(|&i| values[i].is_finite())
        .collect();
    if observed.len() < 2 {
        return None;
    }
    let hide = ((observed.len() as f64 * MASK_RATE).round() as usize).clamp(1, observed.len() - 1);
    // partial Fisher–Yates: the first `hide` entries become a uniform random subset
    for i in 0..hide {
        let j = i + rng.below(observed.len() - i);
        observed.swap(i, j);
    }
    let mut hidden = vec![false; values.len()];
    for &i in &observed[..hide] {
        hidden[i] = true;
    }
    Some(hidden)
}

pub(crate) struct GapFillNet {
    rnn: RecurrentStack,
    proj: LinearLayer,
}

impl GapFillNet {
    pub fn load(ctx: &GpuContext, c: &ModelConfig, w: &Weights) -> Result<Self, ModelError> {
        Ok(GapFillNet {
            rnn: RecurrentStack::load(ctx, w, "rnn.", Cell::Lstm, c.num_layers, true)?,
            proj: LinearLayer::load(ctx, w, "proj")?,
        })
    }

    /// Fills the missing points of each series' last `context_length` points. Windows of equal
    /// length share a batch; a bidirectional pass must not see padding.
    pub fn fill(
        &self,
        ctx: &GpuContext,
        c: &ModelConfig,
        histories: &[History],
    ) -> Result<Vec<Prediction>, ModelError> {
        let mut by_len: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut scales = Vec::with_capacity(histories.len());
        for (i, h) in histories.iter().enumerate() {
            let n = h.values.len().min(c.context_length);
            if n == 0 {
                return Err(ModelError::series(&h.id, "has no points"));
            }
            let window = &h.values[h.values.len() - n..];
            let scale = mean_scale(window).ok_or_else(|| {
                ModelError::series(
                    &h.id,
                    format!(
                        "has no observed value in its last {} points",
                        c.context_length
                    ),
                )
            })?;
            scales.push(scale);
            by_len.entry(n).or_default().push(i);
        }
        let mut out: Vec<Option<Prediction>> = vec![None; histories.len()];
        for (t, members) in by_len {
            let b = members.len();
            let mut x = Vec::with_capacity(b * t * 2);
            for &i in &members {
                let h = &histories[i];
                for &v in &h.values[h.values.len() - t..] {
                    let observed = v.is_finite();
                    x.push(if observed {
                        (v / scales[i]) as f32
                    } else {
                        0.0
                    });
                    x.push(observed as u8 as f32);
                }
            }
            let x = ctx.upload(&x, &[b * t, 2])?;
            let mut rec = Recorder::new(ctx);
            let hs = self.rnn.forward(&mut rec, &x, b, t, None, None)?;
            let fills = self.proj.forward(&mut rec, &hs, b * t)?;
            rec.submit()?;
            let fills = ctx.read(&fills)?;
            for (j, &i) in members.iter().enumerate() {
                let h = &histories[i];
                let start = h.values.len() - t;
                let mut values = Vec::with_capacity(t);
                let mut filled = Vec::with_capacity(t);
                for k in 0..t {
                    let v = h.values[start + k];
                    if v.is_finite() {
                        values.push(v);
                        filled.push(false);
                    } else {
                        values.push(fills[j * t + k] as f64 * scales[i]);
                        filled.push(true);
                    }
                }
                out[i] = Some(Prediction::GapFill(GapFill {
                    id: h.id.clone(),
                    timestamps: h.timestamps[start..].to_vec(),
                    values,
                    filled,
                }));
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}
