//! The native CPU backend: every WGSL kernel as a Rust function over host buffers, run when it is
//! recorded. A kernel reads the same uniform words and bindings its shader does, so the op
//! wrappers in `ops` (shape checks, parameter layout) serve both backends unchanged, and a model
//! cannot tell them apart but by speed and rounding.
//!
//! Work is spread over a rayon pool sized to the cores this process may use: Rust's
//! `available_parallelism` honours the cgroup CPU quota and the affinity mask, so a pod limited
//! to 2 CPUs gets 2 threads, not one per host core. `SEER_CPU_THREADS` overrides it.

mod access;
mod conv;
mod decode;
mod elementwise;
mod gemm;
mod heads;
mod loss;
mod math;
mod optim;
mod recurrent;
mod recurrent_backward;
mod simd;

use std::sync::{RwLockReadGuard, RwLockWriteGuard};

use crate::error::GpuError;
use crate::kernels::Kernel;
use crate::tensor::{Buffer, HostBuffer};

pub(crate) struct CpuDevice {
    pool: rayon::ThreadPool,
    arch: pulp::Arch,
    /// Launches running now, from any caller thread. A launch that finds another in flight runs
    /// on its own thread: concurrent requests (the engine serves each on a blocking thread)
    /// already keep the cores busy, and queueing behind another launch's pool tasks only adds
    /// wake-ups. Every kernel's result is independent of its thread count, so this moves time,
    /// never bits.
    launches: std::sync::atomic::AtomicUsize,
}

impl CpuDevice {
    /// A pool of `threads`, else `SEER_CPU_THREADS`, else the CPUs this process may use.
    pub(crate) fn new(threads: Option<usize>) -> Self {
        let threads = threads
            .or_else(|| {
                std::env::var("SEER_CPU_THREADS")
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok())
            })
            .filter(|&n| n > 0)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("seer-cpu-{i}"))
            .build()
            .or_else(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build())
            .expect("a one-thread pool can always be built");
        CpuDevice {
            pool,
            arch: pulp::Arch::new(),
            launches: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub(crate) fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }
}

/// One kernel launch: its uniform words, grid, and the pool to spread it over.
pub(crate) struct Call<'a> {
    words: &'a [u32],
    pub(crate) groups: [u32; 3],
    pub(crate) pool: &'a rayon::ThreadPool,
    /// The threads this launch may use: the pool's, or 1 while another launch is in flight.
    pub(crate) threads: usize,
    /// The SIMD level detected at start, for the loops that dispatch on it.
    pub(crate) arch: pulp::Arch,
}

impl Call<'_> {
    /// Whether `work` (elements, or flops for the products) is worth waking the pool for.
    pub(crate) fn parallel(&self, work: usize, serial_below: usize) -> bool {
        self.threads > 1 && work >= serial_below
    }

    /// Uniform word `i` as an unsigned size (absent words read 0, as a zero-padded block does).
    pub(crate) fn u(&self, i: usize) -> usize {
        self.words.get(i).copied().unwrap_or(0) as usize
    }

    pub(crate) fn word(&self, i: usize) -> u32 {
        self.words.get(i).copied().unwrap_or(0)
    }

    /// Uniform word `i` as the f32 its bits encode.
    pub(crate) fn f(&self, i: usize) -> f32 {
        f32::from_bits(self.word(i))
    }

    pub(crate) fn flag(&self, i: usize) -> bool {
        self.word(i) == 1
    }

    /// Workgroups launched, flattened as `flat_id` counts them.
    pub(crate) fn group_count(&self) -> usize {
        self.groups.iter().map(|&g| g as usize).product()
    }
}

enum Slot<'a> {
    Read(&'a [f32]),
    Write(Option<&'a mut [f32]>),
}

/// A launch's storage bindings in the order `Kernel::bindings` lists them: read-only ones shared,
/// written ones (declared `read_write` in the shader) handed out once each.
pub(crate) struct Bindings<'a> {
    kernel: Kernel,
    slots: Vec<Slot<'a>>,
}

impl<'a> Bindings<'a> {
    /// A slot the shader declares `read`.
    pub(crate) fn r(&self, slot: usize) -> Result<&'a [f32], GpuError> {
        match self.slots.get(slot) {
            Some(Slot::Read(s)) => Ok(s),
            _ => Err(self.misuse(slot, "is not a read-only binding")),
        }
    }

    /// A slot the shader declares `read_write`; each may be taken once per launch.
    pub(crate) fn w(&mut self, slot: usize) -> Result<&'a mut [f32], GpuError> {
        let kernel = self.kernel;
        match self.slots.get_mut(slot) {
            Some(Slot::Write(s)) => s.take().ok_or_else(|| GpuError::Pipeline {
                kernel: kernel.entry_point(),
                message: format!("cpu kernel took binding slot {slot} twice"),
            }),
            _ => Err(self.misuse(slot, "is not a read_write binding")),
        }
    }

    fn misuse(&self, slot: usize, what: &str) -> GpuError {
        GpuError::Pipeline {
            kernel: self.kernel.entry_point(),
            message: format!("cpu kernel: binding slot {slot} {what}"),
        }
    }
}

/// Runs `kernel` now. The buffers' locks are taken in address order, so two threads dispatching
/// over the same buffers cannot deadlock; a written buffer bound twice is refused, as wgpu refuses
/// a writable binding that aliases another.
pub(crate) fn dispatch(
    cpu: &CpuDevice,
    kernel: Kernel,
    words: &[u32],
    buffers: &[&Buffer],
    groups: [u32; 3],
) -> Result<(), GpuError> {
    let writes = access::written(kernel)?;
    let hosts: Vec<&std::sync::Arc<HostBuffer>> =
        buffers.iter().map(|b| b.host()).collect::<Result<_, _>>()?;
    let address = |h: &std::sync::Arc<HostBuffer>| std::sync::Arc::as_ptr(h) as usize;
    // distinct buffers, each with the strongest access any slot asks for
    let mut distinct: Vec<(usize, bool)> = Vec::with_capacity(hosts.len());
    for (slot, h) in hosts.iter().enumerate() {
        let a = address(h);
        let write = writes.get(slot).copied().unwrap_or(false);
        if let Some(e) = distinct.iter_mut().find(|e| e.0 == a) {
            if write || e.1 {
                return Err(GpuError::Pipeline {
                    kernel: kernel.entry_point(),
                    message: format!(
                        "binding slot {slot} aliases another slot, and one of them is written"
                    ),
                });
            }
        } else {
            distinct.push((a, write));
        }
    }
    distinct.sort_unstable();
    let find = |a: usize| {
        hosts
            .iter()
            .find(|h| address(h) == a)
            .expect("every distinct address came from a slot")
    };
    let mut read_guards: Vec<(usize, RwLockReadGuard<'_, Vec<f32>>)> = Vec::new();
    let mut write_guards: Vec<(usize, RwLockWriteGuard<'_, Vec<f32>>)> = Vec::new();
    for &(a, write) in &distinct {
        if write {
            write_guards.push((a, find(a).write()));
        } else {
            read_guards.push((a, find(a).read()));
        }
    }
    let reads: Vec<(usize, &[f32])> = read_guards.iter().map(|(a, g)| (*a, &g[..])).collect();
    let mut written: Vec<(usize, Option<&mut [f32]>)> = write_guards
        .iter_mut()
        .map(|(a, g)| (*a, Some(&mut g[..])))
        .collect();
    let mut slots = Vec::with_capacity(hosts.len());
    for h in &hosts {
        let a = address(h);
        if let Some((_, s)) = reads.iter().find(|(x, _)| *x == a) {
            slots.push(Slot::Read(s));
        } else {
            let (_, s) = written
                .iter_mut()
                .find(|(x, _)| *x == a)
                .expect("a buffer not read is written");
            slots.push(Slot::Write(s.take()));
        }
    }
    let mut bindings = Bindings { kernel, slots };
    let launch = Launch::begin(&cpu.launches);
    let threads = if launch.alone {
        cpu.pool.current_num_threads()
    } else {
        1
    };
    let call = Call {
        words,
        groups,
        pool: &cpu.pool,
        threads,
        arch: cpu.arch,
    };
    run(kernel, &call, &mut bindings)
}

/// Counts a launch in flight for as long as it lives (an error or a panic included).
struct Launch<'a> {
    count: &'a std::sync::atomic::AtomicUsize,
    alone: bool,
}

impl<'a> Launch<'a> {
    fn begin(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        let before = count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Launch {
            count,
            alone: before == 0,
        }
    }
}

impl Drop for Launch<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

fn run(kernel: Kernel, k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    match kernel {
        Kernel::Gemm => gemm::gemm(k, b),
        Kernel::LstmSequence => recurrent::lstm_sequence(k, b),
        Kernel::RnnSequence => recurrent::rnn_sequence(k, b),
        Kernel::Conv1dCausal => conv::conv1d_causal(k, b),
        Kernel::Conv1dBackwardInput => conv::conv1d_backward_input(k, b),
        Kernel::Conv1dBackwardWeight => conv::conv1d_backward_weight(k, b),
        Kernel::Softmax => elementwise::softmax(k, b),
        Kernel::ReluBackward => elementwise::relu_backward(k, b),
        Kernel::AddRelu => elementwise::add_relu(k, b),
        Kernel::Transpose => elementwise::transpose(k, b),
        Kernel::Axpy => elementwise::axpy(k, b),
        Kernel::QuantileFeedback => decode::quantile_feedback(k, b),
        Kernel::AssembleLags => decode::assemble_lags(k, b),
        Kernel::RepeatRows => decode::repeat_rows(k, b),
        Kernel::DistributionParams => heads::distribution_params(k, b),
        Kernel::SampleStep => heads::sample_step(k, b),
        Kernel::LstmBackward => recurrent_backward::lstm_backward(k, b),
        Kernel::RnnBackward => recurrent_backward::rnn_backward(k, b),
        Kernel::ShiftStates => recurrent_backward::shift_states(k, b),
        Kernel::SumSquaresPartial => optim::sum_squares_partial(k, b),
        Kernel::ClipScale => optim::clip_scale(k, b),
        Kernel::AdamStep => optim::adam_step(k, b),
        Kernel::LikelihoodLoss => loss::likelihood_loss(k, b),
        Kernel::QuantileLoss => loss::quantile_loss(k, b),
        Kernel::MseLoss => loss::mse_loss(k, b),
        Kernel::SoftmaxCrossEntropy => loss::softmax_cross_entropy(k, b),
        Kernel::SumRows => loss::sum_rows(k, b),
        Kernel::SpecialFunctions => loss::special_functions(k, b),
    }
}

/// Below this many elements of work a kernel runs on the calling thread: waking the pool costs
/// more than the loop (the decode glue of one forecast step is tens of rows).
pub(crate) const SERIAL_WORK: usize = 1 << 14;

/// Runs `f(row, chunk)` over `out` cut into rows of `row_len`, on the pool when the work
/// (`rows × cost_per_row`) is worth it.
pub(crate) fn for_rows(
    k: &Call<'_>,
    out: &mut [f32],
    row_len: usize,
    cost_per_row: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    let infallible: Result<(), GpuError> = try_for_rows(k, out, row_len, cost_per_row, |r, c| {
        f(r, c);
        Ok(())
    });
    debug_assert!(infallible.is_ok());
}

/// `for_rows` for a body that can fail; the first error is returned.
pub(crate) fn try_for_rows(
    k: &Call<'_>,
    out: &mut [f32],
    row_len: usize,
    cost_per_row: usize,
    f: impl Fn(usize, &mut [f32]) -> Result<(), GpuError> + Sync + Send,
) -> Result<(), GpuError> {
    use rayon::prelude::*;
    if row_len == 0 {
        return Ok(());
    }
    let rows = out.len() / row_len;
    let out = &mut out[..rows * row_len];
    if !k.parallel(rows * cost_per_row.max(1), SERIAL_WORK) {
        return out
            .chunks_mut(row_len)
            .enumerate()
            .try_for_each(|(r, c)| f(r, c));
    }
    let threads = k.threads;
    // a few tasks per thread balance uneven rows without a task per row
    let per_task = rows.div_ceil(threads * 4).max(1);
    k.pool.install(|| {
        out.par_chunks_mut(row_len * per_task)
            .enumerate()
            .try_for_each(|(t, block)| {
                block
                    .chunks_mut(row_len)
                    .enumerate()
                    .try_for_each(|(i, c)| f(t * per_task + i, c))
            })
    })
}

/// A shape error from a CPU kernel: a binding shorter than its uniform words promise. The op
/// wrappers check lengths first, so this only fires for a direct `Recorder::dispatch`.
pub(crate) fn short(kernel: &'static str, what: &str, have: usize, need: usize) -> GpuError {
    GpuError::Pipeline {
        kernel,
        message: format!("cpu kernel: {what} holds {have} values, needs {need}"),
    }
}

pub(crate) fn need(kernel: &'static str, what: &str, s: &[f32], n: usize) -> Result<(), GpuError> {
    if s.len() < n {
        return Err(short(kernel, what, s.len(), n));
    }
    Ok(())
}
