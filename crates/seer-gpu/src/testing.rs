//! One test body, run on both backends: the native CPU kernels and the WGSL kernels (on a
//! hardware GPU when there is one, else the software Vulkan adapter). Test suites of this crate
//! and of the crates above it use it so that neither path can regress unseen.
//!
//! ```ignore
//! seer_gpu::on_backends!(lstm_matches_reference);
//! fn lstm_matches_reference() {
//!     let ctx = seer_gpu::testing::context();
//!     // ...
//! }
//! ```

use std::cell::Cell;
use std::sync::OnceLock;

use crate::context::{AdapterChoice, GpuContext};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    /// The native CPU backend.
    Cpu,
    /// The WGSL kernels through wgpu: `SEER_ADAPTER=gpu|software` when set, else a hardware GPU
    /// when present, else the software adapter.
    Wgsl,
}

thread_local! {
    static CURRENT: Cell<Option<TestBackend>> = const { Cell::new(None) };
}

/// Runs `body` with `context()` answering `backend` on this thread.
pub fn run_on(backend: TestBackend, body: impl FnOnce()) {
    CURRENT.with(|c| c.set(Some(backend)));
    body();
    CURRENT.with(|c| c.set(None));
}

/// The backend `run_on` chose for this thread; outside `run_on`, the one `SEER_ADAPTER` selects.
pub fn context() -> &'static GpuContext {
    static CPU: OnceLock<GpuContext> = OnceLock::new();
    static WGSL: OnceLock<GpuContext> = OnceLock::new();
    static ENV: OnceLock<GpuContext> = OnceLock::new();
    match CURRENT.with(|c| c.get()) {
        Some(TestBackend::Cpu) => CPU.get_or_init(GpuContext::cpu),
        Some(TestBackend::Wgsl) => WGSL.get_or_init(|| {
            let opened = match AdapterChoice::from_env() {
                Ok(choice @ (AdapterChoice::Gpu | AdapterChoice::Software)) => {
                    GpuContext::new(choice)
                }
                _ => GpuContext::new(AdapterChoice::Gpu)
                    .or_else(|_| GpuContext::new(AdapterChoice::Software)),
            };
            opened.expect(
                "the WGSL tests need a GPU or the software adapter (apt-get install mesa-vulkan-drivers libvulkan1)",
            )
        }),
        None => ENV.get_or_init(|| {
            GpuContext::from_env().expect("the backend SEER_ADAPTER selects")
        }),
    }
}

/// Declares `#[test]`s `<name>::cpu` and `<name>::wgsl` that run the function `name` on each
/// backend (see `testing::run_on`).
#[macro_export]
macro_rules! on_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[test]
                fn cpu() {
                    $crate::testing::run_on($crate::testing::TestBackend::Cpu, super::$name)
                }
                #[test]
                fn wgsl() {
                    $crate::testing::run_on($crate::testing::TestBackend::Wgsl, super::$name)
                }
            }
        )+
    };
}
