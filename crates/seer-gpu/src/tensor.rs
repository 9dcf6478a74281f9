//! f32 storage buffers with a shape, and their transfers.

use wgpu::util::DeviceExt;

use crate::context::GpuContext;
use crate::error::GpuError;

/// A dense row-major f32 array on the device.
#[derive(Debug, Clone)]
pub struct Tensor {
    buffer: wgpu::Buffer,
    shape: Vec<usize>,
}

impl Tensor {
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Same storage seen with another shape of the same element count.
    pub fn reshaped(&self, shape: &[usize]) -> Result<Tensor, GpuError> {
        let n: usize = shape.iter().product();
        if n != self.len() {
            return Err(GpuError::shape(
                "reshape",
                format!("cannot view {:?} as {:?}", self.shape, shape),
            ));
        }
        Ok(Tensor {
            buffer: self.buffer.clone(),
            shape: shape.to_vec(),
        })
    }
}

const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl GpuContext {
    fn check_size(&self, elements: usize) -> Result<u64, GpuError> {
        // zero-sized bindings are invalid, so empty tensors still own one element
        let bytes = (elements.max(1) * 4) as u64;
        let limit = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if bytes > limit {
            return Err(GpuError::shape(
                "allocate",
                format!(
                    "{elements} f32 elements ({bytes} bytes) exceed the adapter's storage binding limit of {limit} bytes; use a smaller batch"
                ),
            ));
        }
        Ok(bytes)
    }

    pub fn upload(&self, data: &[f32], shape: &[usize]) -> Result<Tensor, GpuError> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(GpuError::shape(
                "upload",
                format!("shape {shape:?} needs {n} values, got {}", data.len()),
            ));
        }
        self.check_size(n)?;
        let contents: &[u8] = if data.is_empty() {
            &[0u8; 4]
        } else {
            bytemuck::cast_slice(data)
        };
        let buffer = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents,
                usage: USAGE,
            });
        Ok(Tensor {
            buffer,
            shape: shape.to_vec(),
        })
    }

    pub fn upload_u32(&self, data: &[u32]) -> Result<wgpu::Buffer, GpuError> {
        self.check_size(data.len())?;
        let contents: &[u8] = if data.is_empty() {
            &[0u8; 4]
        } else {
            bytemuck::cast_slice(data)
        };
        Ok(self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents,
                usage: USAGE,
            }))
    }

    /// A zero-filled tensor (wgpu zero-initialises new buffers).
    pub fn zeros(&self, shape: &[usize]) -> Result<Tensor, GpuError> {
        let bytes = self.check_size(shape.iter().product())?;
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: bytes,
            usage: USAGE,
            mapped_at_creation: false,
        });
        Ok(Tensor {
            buffer,
            shape: shape.to_vec(),
        })
    }

    /// Copies a tensor back to the host, waiting for all work submitted before it.
    pub fn read(&self, tensor: &Tensor) -> Result<Vec<f32>, GpuError> {
        let n = tensor.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let bytes = (n * 4) as u64;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        encoder.copy_buffer_to_buffer(&tensor.buffer, 0, &staging, 0, bytes);
        let index = self.queue.submit(Some(encoder.finish()));
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| GpuError::Execution(e.to_string()))?;
        rx.recv()
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let data = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| GpuError::Readback(e.to_string()))?;
            bytemuck::cast_slice::<u8, f32>(&view).to_vec()
        };
        staging.unmap();
        Ok(data)
    }
}
