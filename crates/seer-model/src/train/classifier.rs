//! Window-classifier training (docs/models.md, `classifier`): each series carries one label
//! (`History::label`, one of the config's `classes`); windows of `context_length` points ending
//! anywhere in the series (front-padded, imputed and scaled as `prepare::context` does) are
//! classified from the top layer's last step, with softmax cross-entropy as the loss.
//! Validation: the last window of each labelled series, the one inference reads.

use seer_core::rng::SplitMix64;
use seer_core::scaling::mean_scale;
use seer_core::series::impute_locf;
use seer_gpu::ops::{self, Mat};
use seer_gpu::{GpuContext, Recorder};

use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::layers::Cell;
use crate::prepare::History;
use crate::train::head::{Head, Target};
use crate::train::options::TrainOptions;
use crate::train::params::ParamStore;
use crate::train::stack::TrainStack;
use crate::train::task::{Batch, Task, batched};

struct Labelled {
    raw: Vec<f64>,
    imputed: Vec<f64>,
    class: usize,
}

pub(crate) struct ClassifierTask {
    stack: TrainStack,
    proj: Head,
    classes: usize,
    series: Vec<Labelled>,
    window: usize,
}

impl ClassifierTask {
    pub fn new(
        _ctx: &GpuContext,
        config: &ModelConfig,
        store: &ParamStore,
        data: &[History],
        opts: &TrainOptions,
    ) -> Result<Self, ModelError> {
        let mut series = Vec::new();
        for h in data {
            let Some(label) = &h.label else {
                continue; // unlabelled: nothing to learn from
            };
            let class = config
                .classes
                .iter()
                .position(|c| c == label)
                .ok_or_else(|| {
                    ModelError::series(
                        &h.id,
                        format!(
                            "label {label:?} is not one of the model's classes ({})",
                            config.classes.join(", ")
                        ),
                    )
                })?;
            let Some(imputed) = impute_locf(&h.values) else {
                continue; // nothing observed
            };
            series.push(Labelled {
                raw: h.values.clone(),
                imputed,
                class,
            });
        }
        if series.is_empty() {
            return Err(ModelError::Request(format!(
                "no series has a label (a `label` column naming one of {}) and an observed value",
                config.classes.join(", ")
            )));
        }
        let mut stack = TrainStack::new(store, "rnn.", Cell::Lstm, config.num_layers, false)?;
        stack.truncate = opts.truncate;
        Ok(ClassifierTask {
            stack,
            proj: Head::new(store, "proj")?,
            classes: config.classes.len(),
            series,
            window: config.context_length,
        })
    }

    /// Appends the window of series `s` ending (exclusive) at `end`; false when it holds no
    /// observation (no scale).
    fn push_window(&self, b: &mut Batch, s: usize, end: usize) -> bool {
        let p = &self.series[s];
        let t0 = end as i64 - self.window as i64;
        let at = |v: &[f64], t: i64, pad: f64| if t >= 0 { v[t as usize] } else { pad };
        let raw: Vec<f64> = (0..self.window as i64)
            .map(|i| at(&p.raw, t0 + i, f64::NAN))
            .collect();
        let Some(scale) = mean_scale(&raw) else {
            return false;
        };
        // padding reads the first observed value, as `prepare::context` imputes it
        b.x.extend(
            (0..self.window as i64).map(|i| (at(&p.imputed, t0 + i, p.imputed[0]) / scale) as f32),
        );
        b.target.push(p.class as f32);
        b.rows += self.window;
        b.series += 1;
        b.windows += 1;
        true
    }
}

impl Task for ClassifierTask {
    fn sample(&self, rng: &mut SplitMix64, size: usize) -> Option<Batch> {
        let mut b = Batch::default();
        let mut attempts = 0;
        while b.windows < size && attempts < size * 20 {
            attempts += 1;
            let s = rng.below(self.series.len());
            let n = self.series[s].raw.len();
            // a full window anywhere in the series; a shorter series gives its padded whole
            let end = if n > self.window {
                self.window + rng.below(n - self.window + 1)
            } else {
                n
            };
            self.push_window(&mut b, s, end);
        }
        (b.windows > 0).then_some(b)
    }

    fn validation(&self, size: usize) -> Vec<Batch> {
        batched(size, self.series.len(), |b, s| {
            self.push_window(b, s, self.series[s].raw.len());
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
        let (b, t, h, k) = (batch.series, self.window, self.stack.hidden, self.classes);
        let rows = batch.rows;
        let x = ctx.upload(&batch.x, &[rows, 1])?;
        let tape = self.stack.forward(rec, store, &x, b, t, None)?;
        let top = tape.top();
        // the top layer's last step of every window: rows T·H apart, starting at (T−1)·H
        let last = Mat {
            tensor: top,
            offset: (t - 1) * h,
            rows: b,
            cols: h,
            row_stride: t * h,
            col_stride: 1,
        };
        let logits = self.proj.forward(rec, store, last)?;
        let (loss_rows, d_logits) = (ctx.zeros(&[b])?, ctx.zeros(&[b, k])?);
        ops::softmax_cross_entropy(
            rec,
            b,
            k,
            1.0 / b as f32,
            &logits,
            &ctx.upload(&batch.target, &[b])?,
            &loss_rows,
            &d_logits,
        )?;
        ops::sum_rows(rec, b, &loss_rows, &store.loss)?;
        if !train {
            return Ok(());
        }
        // d_top is the head's input gradient at step T−1 and 0 elsewhere
        let d_top = ctx.zeros(&[rows, h])?;
        let target = Target {
            tensor: &d_top,
            offset: (t - 1) * h,
            row_stride: t * h,
            col_stride: 1,
        };
        self.proj
            .backward(rec, store, last, &d_logits, Some(target))?;
        self.stack
            .backward(rec, store, &tape, &d_top, None, false)?;
        Ok(())
    }
}
