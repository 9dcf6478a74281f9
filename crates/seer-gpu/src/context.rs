//! Adapter selection and the device every kernel runs on.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use crate::cpu::CpuDevice;
use crate::error::GpuError;
use crate::kernels::{Kernel, build_pipeline};
use crate::tensor::{Buffer, HostBuffer};

/// Which backend to run on; `SEER_ADAPTER=auto|gpu|cpu|software` overrides the default `Auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterChoice {
    /// A hardware GPU when one is present, else the native CPU backend.
    Auto,
    /// A hardware GPU through wgpu only; an error when none is present.
    Gpu,
    /// The native CPU backend: the same kernels in Rust, threaded over the cores this process
    /// may use. No Vulkan driver needed.
    Cpu,
    /// The WGSL kernels on a software Vulkan adapter (Mesa lavapipe): how CI tests the GPU path
    /// without a GPU. Slow; not for serving.
    Software,
}

impl FromStr for AdapterChoice {
    type Err = GpuError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(AdapterChoice::Auto),
            "gpu" | "hardware" => Ok(AdapterChoice::Gpu),
            "cpu" | "native" => Ok(AdapterChoice::Cpu),
            "software" | "lavapipe" => Ok(AdapterChoice::Software),
            _ => Err(GpuError::BadAdapterChoice(s.to_string())),
        }
    }
}

impl AdapterChoice {
    pub fn from_env() -> Result<Self, GpuError> {
        match std::env::var("SEER_ADAPTER") {
            Ok(v) => v.parse(),
            Err(_) => Ok(AdapterChoice::Auto),
        }
    }
}

/// What `seer info` prints and what logs name.
#[derive(Debug, Clone)]
pub struct AdapterSummary {
    pub name: String,
    /// `cpu` for the native CPU backend, else the wgpu backend (`Vulkan`, `Metal`, ...).
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub is_software: bool,
    pub timestamp_queries: bool,
    pub subgroups: bool,
    pub shader_f16: bool,
    /// Worker threads of the native CPU backend (0 on a wgpu adapter).
    pub threads: usize,
}

impl AdapterSummary {
    /// The `backend`, `adapter` and `threads` labels of a service's `*_compute_info` gauge.
    pub fn metric_labels(&self) -> [String; 3] {
        [
            self.kind().to_string(),
            self.name.clone(),
            self.threads.to_string(),
        ]
    }

    /// The label metrics and logs carry: `cpu`, `gpu` or `software`.
    pub fn kind(&self) -> &'static str {
        if self.backend == CPU_BACKEND {
            "cpu"
        } else if self.is_software {
            "software"
        } else {
            "gpu"
        }
    }
}

pub(crate) const CPU_BACKEND: &str = "cpu";

/// The device every kernel runs on: a wgpu adapter, or the native CPU backend. Cheap to share
/// behind an `Arc`.
pub struct GpuContext {
    pub summary: AdapterSummary,
    /// What one binding and one dispatch may hold; callers size batch chunks by it. The CPU
    /// backend reports host-sized limits.
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    backend: Backend,
    // bound where a kernel's optional input is absent (its flag tells the kernel not to read it)
    placeholder: Buffer,
}

pub(crate) enum Backend {
    Wgpu(WgpuDevice),
    Cpu(CpuDevice),
}

pub(crate) struct WgpuDevice {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pipelines: Mutex<HashMap<Kernel, Arc<wgpu::ComputePipeline>>>,
}

const INSTALL_HINT: &str = "install a Vulkan driver: on Debian/Ubuntu `apt-get install mesa-vulkan-drivers libvulkan1` gives the software adapter (lavapipe); on a GPU machine install the vendor's Vulkan driver";

fn is_software(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu
}

impl GpuContext {
    /// Opens the adapter `SEER_ADAPTER` asks for (default: auto).
    pub fn from_env() -> Result<Self, GpuError> {
        Self::new(AdapterChoice::from_env()?)
    }

    pub fn new(choice: AdapterChoice) -> Result<Self, GpuError> {
        match choice {
            AdapterChoice::Cpu => Ok(Self::cpu()),
            AdapterChoice::Auto => match pollster::block_on(Self::wgpu(AdapterChoice::Gpu)) {
                Ok(ctx) => Ok(ctx),
                Err(e) => {
                    tracing::debug!(error = %e, "no hardware GPU; using the native cpu backend");
                    Ok(Self::cpu())
                }
            },
            AdapterChoice::Gpu | AdapterChoice::Software => pollster::block_on(Self::wgpu(choice)),
        }
    }

    /// The native CPU backend, threaded over the cores this process may use (or
    /// `SEER_CPU_THREADS`).
    pub fn cpu() -> Self {
        Self::cpu_with_threads(None)
    }

    /// The native CPU backend on a pool of exactly `threads` (None: as `cpu`).
    pub fn cpu_with_threads(threads: Option<usize>) -> Self {
        let device = CpuDevice::new(threads);
        let threads = device.threads();
        let summary = AdapterSummary {
            name: format!("seer native cpu ({threads} threads)"),
            backend: CPU_BACKEND.into(),
            device_type: "Cpu".into(),
            driver: "seer".into(),
            driver_info: format!("rayon {threads} threads, matrixmultiply sgemm"),
            is_software: false,
            timestamp_queries: false,
            subgroups: false,
            shader_f16: false,
            threads,
        };
        tracing::info!(threads, "native cpu backend selected");
        // host memory bounds a buffer, not a binding: let callers batch as one chunk
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: u32::MAX as u64 * 4,
            max_buffer_size: u64::MAX / 4,
            max_compute_workgroups_per_dimension: u32::MAX,
            ..wgpu::Limits::default()
        };
        GpuContext {
            summary,
            limits,
            features: wgpu::Features::empty(),
            backend: Backend::Cpu(device),
            placeholder: Buffer::Host(HostBuffer::new(vec![0.0; 4])),
        }
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }

    /// True on the native CPU backend, where recording a kernel runs it at once.
    pub fn is_cpu(&self) -> bool {
        matches!(self.backend, Backend::Cpu(_))
    }

    async fn wgpu(choice: AdapterChoice) -> Result<Self, GpuError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapters = instance.enumerate_adapters(wgpu::Backends::all()).await;
        let found: Vec<String> = adapters
            .iter()
            .map(|a| {
                let i = a.get_info();
                format!("{} ({:?}, {:?})", i.name, i.backend, i.device_type)
            })
            .collect();
        let rank = |a: &wgpu::Adapter| {
            let i = a.get_info();
            let kind = match i.device_type {
                wgpu::DeviceType::DiscreteGpu => 0,
                wgpu::DeviceType::IntegratedGpu => 1,
                wgpu::DeviceType::VirtualGpu => 2,
                wgpu::DeviceType::Other => 3,
                wgpu::DeviceType::Cpu => 4,
            };
            // Vulkan first: it is the backend seer is tested on
            let backend = if i.backend == wgpu::Backend::Vulkan {
                0
            } else {
                1
            };
            (kind, backend)
        };
        let mut candidates: Vec<wgpu::Adapter> = adapters
            .into_iter()
            .filter(|a| {
                let i = a.get_info();
                // the GL backend cannot run compute shaders of this size reliably
                i.backend != wgpu::Backend::Gl
                    && match choice {
                        AdapterChoice::Auto | AdapterChoice::Gpu => !is_software(&i),
                        AdapterChoice::Software => is_software(&i),
                        AdapterChoice::Cpu => false,
                    }
            })
            .collect();
        candidates.sort_by_key(rank);
        let Some(adapter) = candidates.into_iter().next() else {
            let wanted = match choice {
                AdapterChoice::Auto | AdapterChoice::Gpu | AdapterChoice::Cpu => {
                    "a hardware GPU adapter (SEER_ADAPTER=gpu; SEER_ADAPTER=cpu needs no driver)"
                }
                AdapterChoice::Software => "a software adapter (SEER_ADAPTER=software)",
            };
            let seen = if found.is_empty() {
                "none".to_string()
            } else {
                found.join(", ")
            };
            return Err(GpuError::NoAdapter(format!(
                "no suitable GPU adapter: wanted {wanted}; found: {seen}; {INSTALL_HINT}"
            )));
        };
        let info = adapter.get_info();
        // Ask for what the adapter really offers: WebGPU's defaults cap storage buffers at 128 MiB
        // and workgroup memory at 16 KiB, well under what batched RNNs need.
        let limits = adapter.limits();
        let wanted = wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
            | wgpu::Features::SUBGROUP
            | wgpu::Features::SHADER_F16;
        let features = adapter.features() & wanted;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("seer"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| GpuError::RequestDevice {
                adapter: info.name.clone(),
                message: e.to_string(),
            })?;
        let summary = AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            is_software: is_software(&info),
            timestamp_queries: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            threads: 0,
        };
        tracing::info!(
            adapter = %summary.name,
            backend = %summary.backend,
            device_type = %summary.device_type,
            software = summary.is_software,
            "gpu adapter selected"
        );
        let placeholder = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("placeholder"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        Ok(GpuContext {
            placeholder: Buffer::Device(placeholder),
            summary,
            limits,
            features,
            backend: Backend::Wgpu(WgpuDevice {
                device,
                queue,
                pipelines: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The compiled pipeline for a kernel, built on first use; compile errors come back typed.
    /// The native CPU backend has none: its kernels are Rust functions.
    pub fn pipeline(&self, kernel: Kernel) -> Result<Arc<wgpu::ComputePipeline>, GpuError> {
        match &self.backend {
            Backend::Wgpu(w) => w.pipeline(kernel),
            Backend::Cpu(_) => Err(GpuError::Pipeline {
                kernel: kernel.entry_point(),
                message: "the native cpu backend compiles no pipelines".into(),
            }),
        }
    }

    /// A tiny buffer to bind for an optional input the kernel is told to ignore.
    pub fn placeholder(&self) -> &Buffer {
        &self.placeholder
    }

    /// Blocks until all submitted work is done (CPU kernels finish as they are recorded).
    pub fn wait_idle(&self) -> Result<(), GpuError> {
        match &self.backend {
            Backend::Wgpu(w) => w
                .device
                .poll(wgpu::PollType::wait_indefinitely())
                .map(|_| ())
                .map_err(|e| GpuError::Execution(e.to_string())),
            Backend::Cpu(_) => Ok(()),
        }
    }
}

impl WgpuDevice {
    pub(crate) fn pipeline(&self, kernel: Kernel) -> Result<Arc<wgpu::ComputePipeline>, GpuError> {
        if let Some(p) = self.lock_pipelines().get(&kernel) {
            return Ok(p.clone());
        }
        let pipeline = Arc::new(build_pipeline(&self.device, kernel)?);
        self.lock_pipelines().insert(kernel, pipeline.clone());
        Ok(pipeline)
    }

    fn lock_pipelines(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Kernel, Arc<wgpu::ComputePipeline>>> {
        // a panic while holding the lock cannot leave the map half-written, so poison is harmless
        self.pipelines.lock().unwrap_or_else(|e| e.into_inner())
    }
}
