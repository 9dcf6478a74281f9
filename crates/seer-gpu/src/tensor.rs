//! f32 storage buffers with a shape, and their transfers.

use std::sync::{Arc, RwLock};

use wgpu::util::DeviceExt;

use crate::context::{Backend, GpuContext};
use crate::error::GpuError;

/// Storage of one buffer: device memory of a wgpu adapter, or host memory of the native CPU
/// backend. Clones share the storage.
#[derive(Debug, Clone)]
pub enum Buffer {
    Device(wgpu::Buffer),
    Host(Arc<HostBuffer>),
}

/// Host storage: 32-bit words (f32, or u32 stored by bit pattern as WGSL's `array<u32>` reads
/// them). The lock is what makes a kernel's writes exclusive, as a dispatch's bindings are on a
/// GPU.
#[derive(Debug, Default)]
pub struct HostBuffer {
    pub(crate) words: RwLock<Vec<f32>>,
}

impl HostBuffer {
    pub(crate) fn new(words: Vec<f32>) -> Arc<Self> {
        Arc::new(HostBuffer {
            words: RwLock::new(words),
        })
    }

    /// `n` zeros, in storage a dropped buffer of the same length left behind when there is one:
    /// a training step allocates the same activations and gradients every step, and fresh pages
    /// from the allocator cost a fault each, more than zeroing memory already mapped.
    pub(crate) fn zeroed(n: usize) -> Arc<Self> {
        Self::pooled(n, true)
    }

    /// `zeroed`, or with `zero` false a dropped buffer's words as they are (fresh ones are zeros).
    fn pooled(n: usize, zero: bool) -> Arc<Self> {
        let words = match pool::take(n) {
            Some(mut v) => {
                if zero {
                    v.fill(0.0);
                }
                v
            }
            None => vec![0.0; n],
        };
        Self::new(words)
    }

    // a kernel that panicked cannot leave a half-written Vec that is unsafe to read: at worst
    // its values are stale, as a failed GPU dispatch would leave them
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<f32>> {
        self.words.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<f32>> {
        self.words.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for HostBuffer {
    fn drop(&mut self) {
        let words = std::mem::take(self.words.get_mut().unwrap_or_else(|e| e.into_inner()));
        pool::give(words);
    }
}

/// Host storage of dropped buffers, by length, up to a bound, for `HostBuffer::zeroed`.
mod pool {
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Below this many elements the allocator is as fast as the pool.
    const MIN_LEN: usize = 4096;
    /// What the pool may hold in all (it counts in the process's resident memory): the
    /// activations and gradients of a training step of the default batch many times over.
    const MAX_BYTES: usize = 256 << 20;

    struct Pool {
        free: HashMap<usize, Vec<Vec<f32>>>,
        bytes: usize,
    }

    static POOL: Mutex<Option<Pool>> = Mutex::new(None);

    fn lock() -> std::sync::MutexGuard<'static, Option<Pool>> {
        // the pool holds only spare storage: a panic mid-update loses nothing that matters
        POOL.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn take(n: usize) -> Option<Vec<f32>> {
        if n < MIN_LEN {
            return None;
        }
        let mut guard = lock();
        let pool = guard.as_mut()?;
        let v = pool.free.get_mut(&n)?.pop()?;
        pool.bytes -= n * 4;
        Some(v)
    }

    pub(super) fn give(v: Vec<f32>) {
        let n = v.len();
        if n < MIN_LEN || n != v.capacity() {
            return;
        }
        let mut guard = lock();
        let pool = guard.get_or_insert_with(|| Pool {
            free: HashMap::new(),
            bytes: 0,
        });
        if pool.bytes + n * 4 > MAX_BYTES {
            return;
        }
        pool.bytes += n * 4;
        pool.free.entry(n).or_default().push(v);
    }
}

impl Buffer {
    pub(crate) fn device(&self) -> Result<&wgpu::Buffer, GpuError> {
        match self {
            Buffer::Device(b) => Ok(b),
            Buffer::Host(_) => Err(GpuError::Execution(
                "a host (cpu backend) buffer was bound to a wgpu dispatch".into(),
            )),
        }
    }

    pub(crate) fn host(&self) -> Result<&Arc<HostBuffer>, GpuError> {
        match self {
            Buffer::Host(b) => Ok(b),
            Buffer::Device(_) => Err(GpuError::Execution(
                "a wgpu buffer was bound to a cpu backend kernel".into(),
            )),
        }
    }

    pub fn same_storage(&self, other: &Buffer) -> bool {
        match (self, other) {
            (Buffer::Device(a), Buffer::Device(b)) => a == b,
            (Buffer::Host(a), Buffer::Host(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// A dense row-major f32 array on the device.
#[derive(Debug, Clone)]
pub struct Tensor {
    buffer: Buffer,
    shape: Vec<usize>,
}

impl Tensor {
    pub fn buffer(&self) -> &Buffer {
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
        Ok(Tensor {
            buffer: self.buffer_from_words(bytemuck::cast_slice(data)),
            shape: shape.to_vec(),
        })
    }

    fn buffer_from_words(&self, words: &[u32]) -> Buffer {
        match self.backend() {
            Backend::Cpu(_) => {
                // as on the device, an empty tensor still owns one element
                if words.is_empty() {
                    return Buffer::Host(HostBuffer::zeroed(1));
                }
                let v = match pool::take(words.len()) {
                    Some(mut v) => {
                        for (d, &w) in v.iter_mut().zip(words) {
                            *d = f32::from_bits(w);
                        }
                        v
                    }
                    None => words.iter().map(|&w| f32::from_bits(w)).collect(),
                };
                Buffer::Host(HostBuffer::new(v))
            }
            Backend::Wgpu(w) => {
                let contents: &[u8] = if words.is_empty() {
                    &[0u8; 4]
                } else {
                    bytemuck::cast_slice(words)
                };
                Buffer::Device(
                    w.device
                        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                            label: None,
                            contents,
                            usage: USAGE,
                        }),
                )
            }
        }
    }

    pub fn upload_u32(&self, data: &[u32]) -> Result<Buffer, GpuError> {
        self.check_size(data.len())?;
        Ok(self.buffer_from_words(data))
    }

    /// Overwrites `data.len()` elements of `tensor` from element `offset` on (e.g. restoring
    /// parameters); ordered after work already submitted and before work submitted later.
    pub fn write(&self, tensor: &Tensor, offset: usize, data: &[f32]) -> Result<(), GpuError> {
        if offset + data.len() > tensor.len() {
            return Err(GpuError::shape(
                "write",
                format!(
                    "{} values at {offset} do not fit {} elements",
                    data.len(),
                    tensor.len()
                ),
            ));
        }
        match (&tensor.buffer, self.backend()) {
            (Buffer::Host(h), _) => {
                h.write()[offset..offset + data.len()].copy_from_slice(data);
            }
            (Buffer::Device(b), Backend::Wgpu(w)) => {
                w.queue
                    .write_buffer(b, (offset * 4) as u64, bytemuck::cast_slice(data));
            }
            (Buffer::Device(_), Backend::Cpu(_)) => {
                return Err(GpuError::Execution(
                    "a wgpu tensor was written through a cpu backend context".into(),
                ));
            }
        }
        Ok(())
    }

    /// A zero-filled tensor (wgpu zero-initialises new buffers).
    pub fn zeros(&self, shape: &[usize]) -> Result<Tensor, GpuError> {
        self.allocate(shape, true)
    }

    /// Storage for an op's output that the op writes whole before anything reads it (a gemm
    /// that does not accumulate, a recurrence's outputs and final states). The CPU backend
    /// hands back a dropped buffer's words as they are, sparing `zeros`' pass over memory, which
    /// was a tenth of a forecast's instructions; a GPU's are zeros, as wgpu initialises them.
    pub fn scratch(&self, shape: &[usize]) -> Result<Tensor, GpuError> {
        self.allocate(shape, false)
    }

    fn allocate(&self, shape: &[usize], zero: bool) -> Result<Tensor, GpuError> {
        let n: usize = shape.iter().product();
        let bytes = self.check_size(n)?;
        let buffer = match self.backend() {
            Backend::Cpu(_) => Buffer::Host(HostBuffer::pooled(n.max(1), zero)),
            Backend::Wgpu(w) => Buffer::Device(w.device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: bytes,
                usage: USAGE,
                mapped_at_creation: false,
            })),
        };
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
        let w = match (&tensor.buffer, self.backend()) {
            (Buffer::Host(h), _) => return Ok(h.read()[..n].to_vec()),
            (Buffer::Device(_), Backend::Wgpu(w)) => w,
            (Buffer::Device(_), Backend::Cpu(_)) => {
                return Err(GpuError::Readback(
                    "a wgpu tensor was read through a cpu backend context".into(),
                ));
            }
        };
        let bytes = (n * 4) as u64;
        let staging = w.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = w
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        encoder.copy_buffer_to_buffer(tensor.buffer.device()?, 0, &staging, 0, bytes);
        let index = w.queue.submit(Some(encoder.finish()));
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        w.device
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
