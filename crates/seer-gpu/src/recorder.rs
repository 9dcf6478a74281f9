//! Records many dispatches into one command buffer so a whole forward pass is one submit.

use wgpu::util::DeviceExt;

use crate::kernels::Kernel;
use crate::{GpuContext, GpuError};

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
    encoder: wgpu::CommandEncoder,
    dispatches: usize,
    // catches validation errors of everything recorded (bind groups, passes) until submit
    scope: wgpu::ErrorScopeGuard,
}

impl<'a> Recorder<'a> {
    pub fn new(ctx: &'a GpuContext) -> Self {
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("seer"),
            });
        Recorder {
            ctx,
            encoder,
            dispatches: 0,
            scope,
        }
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
        buffers: &[&wgpu::Buffer],
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
        let pipeline = self.ctx.pipeline(kernel)?;
        let mut words = params.to_vec();
        words.resize(params.len().div_ceil(4).max(1) * 4, 0);
        let uniform = self
            .ctx
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
                resource: buffer.as_entire_binding(),
            });
        }
        let bind_group = self
            .ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(kernel.entry_point()),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
        let mut pass = self
            .encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(kernel.entry_point()),
                timestamp_writes: None,
            });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        drop(pass);
        self.dispatches += 1;
        Ok(())
    }

    pub fn copy(&mut self, src: &wgpu::Buffer, dst: &wgpu::Buffer, bytes: u64) {
        self.encoder.copy_buffer_to_buffer(src, 0, dst, 0, bytes);
    }

    /// Submits everything recorded, surfacing validation errors as typed errors.
    pub fn submit(self) -> Result<wgpu::SubmissionIndex, GpuError> {
        let index = self.ctx.queue.submit(Some(self.encoder.finish()));
        if let Some(err) = pollster::block_on(self.scope.pop()) {
            return Err(GpuError::Execution(err.to_string()));
        }
        Ok(index)
    }
}
