//! BiLSTM gap-filler training (docs/models.md, `bilstm`): windows of exactly `context_length`
//! points, about 15% of each window's observed points hidden from the network (input `[0, 0]`,
//! as inference feeds a missing point), and the squared error of the scaled fill at the hidden
//! points. The scale is over the points the network sees, as at inference, where the points to
//! fill are missing. Validation: the last window of each series with a fixed mask.

use seer_core::rng::SplitMix64;
use seer_core::scaling::mean_scale;
use seer_gpu::ops::{self, Mat};
use seer_gpu::{GpuContext, Recorder};

use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::gapfill::hide_mask;
use crate::layers::Cell;
use crate::prepare::History;
use crate::train::head::{Head, Target};
use crate::train::options::TrainOptions;
use crate::train::params::ParamStore;
use crate::train::stack::TrainStack;
use crate::train::task::{Batch, Task, batched};

pub(crate) struct GapFillTask {
    stack: TrainStack,
    proj: Head,
    /// Series with at least `window` points.
    series: Vec<Vec<f64>>,
    window: usize,
}

impl GapFillTask {
    pub fn new(
        _ctx: &GpuContext,
        config: &ModelConfig,
        store: &ParamStore,
        data: &[History],
        opts: &TrainOptions,
    ) -> Result<Self, ModelError> {
        let window = config.context_length;
        let series: Vec<Vec<f64>> = data
            .iter()
            .filter(|h| h.values.len() >= window)
            .filter(|h| h.values.iter().filter(|v| v.is_finite()).count() >= 2)
            .map(|h| h.values.clone())
            .collect();
        if series.is_empty() {
            return Err(ModelError::Request(format!(
                "no series has {window} points (the model's context) with two observed values"
            )));
        }
        let mut stack = TrainStack::new(store, "rnn.", Cell::Lstm, config.num_layers, true)?;
        stack.truncate = opts.truncate;
        Ok(GapFillTask {
            stack,
            proj: Head::new(store, "proj")?,
            series,
            window,
        })
    }

    /// Appends the window of series `s` starting at `start`, hiding a random ~15% of its
    /// observed points (at least one, never all); false when fewer than two are observed.
    fn push_window(&self, b: &mut Batch, s: usize, start: usize, rng: &mut SplitMix64) -> bool {
        let values = &self.series[s][start..start + self.window];
        let Some(hidden) = hide_mask(values, rng) else {
            return false;
        };
        let seen: Vec<f64> = values
            .iter()
            .zip(&hidden)
            .map(|(&v, &h)| if h { f64::NAN } else { v })
            .collect();
        let Some(scale) = mean_scale(&seen) else {
            return false;
        };
        for (i, &v) in values.iter().enumerate() {
            let visible = v.is_finite() && !hidden[i];
            b.x.push(if visible { (v / scale) as f32 } else { 0.0 });
            b.x.push(visible as u8 as f32);
            b.target.push(if v.is_finite() { v as f32 } else { 0.0 });
            b.mask.push(hidden[i] as u8 as f32);
        }
        b.scale.push(scale as f32);
        b.rows += self.window;
        b.series += 1;
        b.windows += 1;
        true
    }
}

impl Task for GapFillTask {
    fn sample(&self, rng: &mut SplitMix64, size: usize) -> Option<Batch> {
        let mut b = Batch::default();
        let mut attempts = 0;
        while b.windows < size && attempts < size * 20 {
            attempts += 1;
            let s = rng.below(self.series.len());
            let start = rng.below(self.series[s].len() - self.window + 1);
            self.push_window(&mut b, s, start, rng);
        }
        (b.windows > 0).then_some(b)
    }

    fn validation(&self, size: usize) -> Vec<Batch> {
        batched(size, self.series.len(), |b, s| {
            // the same mask every epoch: a generator keyed by the series' position
            let mut rng = SplitMix64::new(0x6A09_E667_F3BC_C908 ^ s as u64);
            let start = self.series[s].len() - self.window;
            self.push_window(b, s, start, &mut rng);
        })
    }

    fn record(
        &self,
        rec: &mut Recorder<'_>,
        store: &ParamStore,
        batch: &Batch,
        train: bool,
    ) -> Result<(), ModelError> {
        let ctx = rec.ctx();
        let (rows, width) = (batch.rows, self.stack.width());
        let x = ctx.upload(&batch.x, &[rows, 2])?;
        let tape = self
            .stack
            .forward(rec, store, &x, batch.series, self.window, None)?;
        let top = tape.top();
        let raw = self
            .proj
            .forward(rec, store, Mat::rm(top, 0, rows, width))?;
        let hidden = batch.mask.iter().filter(|m| **m > 0.0).count().max(1);
        let (loss_rows, d_raw) = (ctx.zeros(&[rows])?, ctx.zeros(&[rows])?);
        ops::mse_loss(
            rec,
            rows,
            self.window,
            1.0 / hidden as f32,
            &raw,
            &ctx.upload(&batch.scale, &[batch.series])?,
            &ctx.upload(&batch.target, &[rows])?,
            &ctx.upload(&batch.mask, &[rows])?,
            &loss_rows,
            &d_raw,
        )?;
        ops::sum_rows(rec, rows, &loss_rows, &store.loss)?;
        if !train {
            return Ok(());
        }
        let d_top = ctx.zeros(&[rows, width])?;
        let target = Target {
            tensor: &d_top,
            offset: 0,
            row_stride: width,
            col_stride: 1,
        };
        self.proj.backward(
            rec,
            store,
            Mat::rm(top, 0, rows, width),
            &d_raw,
            Some(target),
        )?;
        self.stack
            .backward(rec, store, &tape, &d_top, None, false)?;
        Ok(())
    }
}
