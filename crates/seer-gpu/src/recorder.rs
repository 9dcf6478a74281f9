//! Records many dispatches into one command buffer so a whole forward pass is one submit. On the
//! native CPU backend each dispatch runs as it is recorded, so the same calls serve both.

use std::time::{Duration, Instant};

use wgpu::util::DeviceExt;

use crate::context::{Backend, GpuContext, WgpuDevice};
use crate::cpu::CpuDevice;
use crate::error::GpuError;
use crate::kernels::Kernel;
use crate::tensor::{Buffer, Tensor};

/// Work items per workgroup of every 1-D kernel (`@workgroup_size(256)`).
pub const LINEAR_GROUP: u32 = 256;

/// Workgroup counts for `n` items laid out on a 2-D grid of 256-wide groups (see `flat_id` in
/// common.wgsl): dimension x is capped at 65535, as WebGPU guarantees no more.
pub fn linear_grid(n: usize) -> [u32; 3] {
    let groups = n.div_ceil(LINEAR_GROUP as usize).max(1);
    let x = groups.min(65535);
    let y = groups.div_ceil(x);
    [x as u32, y as u32, 1]
}

pub struct Recorder<'a> {
    ctx: &'a GpuContext,
    dispatches: usize,
    target: Target<'a>,
}

enum Target<'a> {
    Wgpu {
        device: &'a WgpuDevice,
        encoder: wgpu::CommandEncoder,
        // catches validation errors of everything recorded (bind groups, passes) until submit
        scope: wgpu::ErrorScopeGuard,
        timing: Option<Timing>,
    },
    // kernels run at record time; their summed time stands in for the GPU's timestamps
    Cpu {
        device: &'a CpuDevice,
        busy: Duration,
    },
}

/// Resolved timestamp bytes and how many queries they hold.
type RawTimestamps = (Vec<u8>, u32);

/// Timestamp queries around every pass, when the adapter supports them.
struct Timing {
    queries: wgpu::QuerySet,
    capacity: u32,
    used: u32,
}

impl<'a> Recorder<'a> {
    pub fn new(ctx: &'a GpuContext) -> Self {
        let target = match ctx.backend() {
            Backend::Cpu(device) => Target::Cpu {
                device,
                busy: Duration::ZERO,
            },
            Backend::Wgpu(device) => {
                let scope = device
                    .device
                    .push_error_scope(wgpu::ErrorFilter::Validation);
                let encoder =
                    device
                        .device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("seer"),
                        });
                Target::Wgpu {
                    device,
                    encoder,
                    scope,
                    timing: None,
                }
            }
        };
        Recorder {
            ctx,
            dispatches: 0,
            target,
        }
    }

    /// Records begin/end timestamps of up to `max_passes` passes, so `submit_timed` can report
    /// GPU time. Without TIMESTAMP_QUERY this is a no-op and only wall-clock time is available;
    /// the CPU backend always reports its kernels' time.
    pub fn with_timing(mut self, max_passes: u32) -> Self {
        if let Target::Wgpu { device, timing, .. } = &mut self.target
            && self.ctx.summary.timestamp_queries
            && max_passes > 0
        {
            let capacity = (2 * max_passes).min(4096);
            let queries = device.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("seer timing"),
                ty: wgpu::QueryType::Timestamp,
                count: capacity,
            });
            *timing = Some(Timing {
                queries,
                capacity,
                used: 0,
            });
        }
        self
    }

    pub fn ctx(&self) -> &'a GpuContext {
        self.ctx
    }

    pub fn dispatches(&self) -> usize {
        self.dispatches
    }

    /// Records one dispatch. `params` is the kernel's uniform block as 32-bit words (padded to
    /// 16 bytes here); `buffers` bind in the order of `kernel.bindings()`.
    pub fn dispatch(
        &mut self,
        kernel: Kernel,
        params: &[u32],
        buffers: &[&Buffer],
        groups: [u32; 3],
    ) -> Result<(), GpuError> {
        let bindings = kernel.bindings();
        if buffers.len() != bindings.len() {
            return Err(GpuError::Pipeline {
                kernel: kernel.entry_point(),
                message: format!("expects {} buffers, got {}", bindings.len(), buffers.len()),
            });
        }
        let max = self.ctx.limits.max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > max) {
            return Err(GpuError::Pipeline {
                kernel: kernel.entry_point(),
                message: format!("grid {groups:?} exceeds {max} workgroups per dimension"),
            });
        }
        if groups.contains(&0) {
            return Ok(());
        }
        let mut words = params.to_vec();
        words.resize(params.len().div_ceil(4).max(1) * 4, 0);
        let (device, encoder, timing) = match &mut self.target {
            Target::Cpu { device, busy } => {
                let start = Instant::now();
                crate::cpu::dispatch(device, kernel, &words, buffers, groups)?;
                *busy += start.elapsed();
                self.dispatches += 1;
                return Ok(());
            }
            Target::Wgpu {
                device,
                encoder,
                timing,
                ..
            } => (*device, encoder, timing),
        };
        let pipeline = device.pipeline(kernel)?;
        let uniform = device
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(kernel.entry_point()),
                contents: bytemuck::cast_slice(&words),
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: uniform.as_entire_binding(),
        }];
        for (&binding, buffer) in bindings.iter().zip(buffers) {
            entries.push(wgpu::BindGroupEntry {
                binding,
                resource: buffer.device()?.as_entire_binding(),
            });
        }
        let bind_group = device.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.entry_point()),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let timestamp_writes = match timing {
            Some(t) if t.used + 2 <= t.capacity => {
                let begin = t.used;
                t.used += 2;
                Some(wgpu::ComputePassTimestampWrites {
                    query_set: &t.queries,
                    beginning_of_pass_write_index: Some(begin),
                    end_of_pass_write_index: Some(begin + 1),
                })
            }
            _ => None,
        };
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(kernel.entry_point()),
            timestamp_writes,
        });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        drop(pass);
        self.dispatches += 1;
        Ok(())
    }

    /// Zeroes a whole tensor's storage (gradient accumulators between steps).
    pub fn clear(&mut self, tensor: &Tensor) -> Result<(), GpuError> {
        match (&mut self.target, tensor.buffer()) {
            (Target::Cpu { .. }, Buffer::Host(h)) => {
                h.write().fill(0.0);
                Ok(())
            }
            (Target::Wgpu { encoder, .. }, Buffer::Device(b)) => {
                encoder.clear_buffer(b, 0, None);
                Ok(())
            }
            _ => Err(mixed("clear")),
        }
    }

    /// Copies `len` f32 elements from `src[src_offset..]` to `dst[dst_offset..]` (e.g. one
    /// layer's weights out of the flat parameter buffer). Offsets and length must be multiples
    /// of 1 element; wgpu needs 4-byte alignment, which f32 elements always have.
    pub fn copy_elements(
        &mut self,
        src: &crate::tensor::Tensor,
        src_offset: usize,
        dst: &crate::tensor::Tensor,
        dst_offset: usize,
        len: usize,
    ) -> Result<(), GpuError> {
        if src_offset + len > src.len() || dst_offset + len > dst.len() {
            return Err(GpuError::shape(
                "copy_elements",
                format!(
                    "{len} elements from {src_offset} of {} into {dst_offset} of {}",
                    src.len(),
                    dst.len()
                ),
            ));
        }
        if len == 0 {
            return Ok(());
        }
        match (&mut self.target, src.buffer(), dst.buffer()) {
            (Target::Cpu { .. }, Buffer::Host(s), Buffer::Host(d)) => {
                if std::sync::Arc::ptr_eq(s, d) {
                    d.write()
                        .copy_within(src_offset..src_offset + len, dst_offset);
                } else {
                    let from = s.read();
                    d.write()[dst_offset..dst_offset + len]
                        .copy_from_slice(&from[src_offset..src_offset + len]);
                }
                Ok(())
            }
            (Target::Wgpu { encoder, .. }, Buffer::Device(s), Buffer::Device(d)) => {
                encoder.copy_buffer_to_buffer(
                    s,
                    (src_offset * 4) as u64,
                    d,
                    (dst_offset * 4) as u64,
                    (len * 4) as u64,
                );
                Ok(())
            }
            _ => Err(mixed("copy_elements")),
        }
    }

    /// Submits everything recorded, surfacing validation errors as typed errors.
    pub fn submit(self) -> Result<(), GpuError> {
        match self.target {
            Target::Cpu { .. } => Ok(()),
            Target::Wgpu {
                device,
                encoder,
                scope,
                timing,
            } => submit_wgpu(device, encoder, scope, timing).map(|_| ()),
        }
    }

    /// Submits, waits for completion, and returns the summed GPU time of the timed passes in
    /// seconds (None when the adapter has no timestamp queries). On the CPU backend: the time
    /// its kernels ran.
    pub fn submit_timed(self) -> Result<Option<f64>, GpuError> {
        let (device, encoder, scope, timing) = match self.target {
            Target::Cpu { busy, .. } => return Ok(Some(busy.as_secs_f64())),
            Target::Wgpu {
                device,
                encoder,
                scope,
                timing,
            } => (device, encoder, scope, timing),
        };
        let (index, stamps) = submit_wgpu(device, encoder, scope, timing)?;
        device
            .device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| GpuError::Execution(e.to_string()))?;
        let Some((bytes, used)) = stamps else {
            return Ok(None);
        };
        // the mapped bytes carry no u64 alignment guarantee, so decode rather than cast
        let ticks: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        let period_ns = device.queue.get_timestamp_period() as f64;
        let total: u64 = (0..used as usize / 2)
            .map(|i| ticks[2 * i + 1].saturating_sub(ticks[2 * i]))
            .sum();
        Ok(Some(total as f64 * period_ns * 1e-9))
    }
}

fn mixed(op: &str) -> GpuError {
    GpuError::Execution(format!(
        "{op}: a tensor of one backend was recorded on another (cpu vs wgpu)"
    ))
}

fn submit_wgpu(
    device: &WgpuDevice,
    mut encoder: wgpu::CommandEncoder,
    scope: wgpu::ErrorScopeGuard,
    timing: Option<Timing>,
) -> Result<(wgpu::SubmissionIndex, Option<RawTimestamps>), GpuError> {
    let mut resolved = None;
    if let Some(t) = &timing
        && t.used > 0
    {
        let bytes = t.used as u64 * 8;
        let resolve = device.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = device.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.resolve_query_set(&t.queries, 0..t.used, &resolve, 0);
        encoder.copy_buffer_to_buffer(&resolve, 0, &staging, 0, bytes);
        resolved = Some((staging, t.used));
    }
    let index = device.queue.submit(Some(encoder.finish()));
    if let Some(err) = pollster::block_on(scope.pop()) {
        return Err(GpuError::Execution(err.to_string()));
    }
    let Some((staging, used)) = resolved else {
        return Ok((index, None));
    };
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    device
        .device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(index.clone()),
            timeout: None,
        })
        .map_err(|e| GpuError::Execution(e.to_string()))?;
    rx.recv()
        .map_err(|e| GpuError::Readback(e.to_string()))?
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let bytes = staging
        .get_mapped_range(..)
        .map_err(|e| GpuError::Readback(e.to_string()))?
        .to_vec();
    staging.unmap();
    Ok((index, Some((bytes, used))))
}
