//! Which bindings of each kernel are written, read from the shaders themselves (naga), so the CPU
//! backend locks exactly what the GPU path binds `read_write` and cannot drift from the WGSL.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::error::GpuError;
use crate::kernels::{Kernel, Shader};

type AccessMap = HashMap<Kernel, Vec<bool>>;

/// Per slot of `kernel.bindings()`: true where the shader declares the binding `read_write`.
pub(crate) fn written(kernel: Kernel) -> Result<&'static [bool], GpuError> {
    static MAP: OnceLock<Result<AccessMap, String>> = OnceLock::new();
    let map = MAP
        .get_or_init(build)
        .as_ref()
        .map_err(|e| GpuError::Shader {
            shader: kernel.shader().file_name(),
            message: e.clone(),
        })?;
    map.get(&kernel)
        .map(|v| v.as_slice())
        .ok_or_else(|| GpuError::Pipeline {
            kernel: kernel.entry_point(),
            message: "no binding access recorded for this kernel".into(),
        })
}

fn build() -> Result<AccessMap, String> {
    let mut map = HashMap::new();
    for &shader in Shader::ALL {
        let source = shader.source();
        let module = naga::front::wgsl::parse_str(&source)
            .map_err(|e| format!("{}: {}", shader.file_name(), e.emit_to_string(&source)))?;
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .map_err(|e| format!("{}: {}", shader.file_name(), e.emit_to_string(&source)))?;
        // A file may declare one binding number differently per entry point (loss.wgsl does),
        // so look only at the globals each entry point uses, helpers it calls included.
        for (index, ep) in module.entry_points.iter().enumerate() {
            let uses = info.get_entry_point(index);
            let declared: HashMap<u32, bool> = module
                .global_variables
                .iter()
                .filter(|(handle, _)| !uses[*handle].is_empty())
                .filter_map(|(_, var)| match (&var.binding, var.space) {
                    (Some(rb), naga::AddressSpace::Storage { access }) => {
                        Some((rb.binding, access.contains(naga::StorageAccess::STORE)))
                    }
                    _ => None,
                })
                .collect();
            for &kernel in Kernel::ALL {
                if kernel.shader() != shader || kernel.entry_point() != ep.name {
                    continue;
                }
                let slots = kernel
                    .bindings()
                    .iter()
                    .map(|b| {
                        declared.get(b).copied().ok_or_else(|| {
                            format!(
                                "{}: binding {b} is not a storage buffer it uses",
                                kernel.entry_point()
                            )
                        })
                    })
                    .collect::<Result<Vec<bool>, String>>()?;
                map.insert(kernel, slots);
            }
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_writes_something_and_gemm_writes_only_c() {
        for &k in Kernel::ALL {
            let w = written(k).unwrap();
            assert_eq!(w.len(), k.bindings().len(), "{}", k.entry_point());
            assert!(w.iter().any(|&x| x), "{} writes nothing", k.entry_point());
        }
        assert_eq!(written(Kernel::Gemm).unwrap(), &[false, false, false, true]);
        // loss.wgsl reuses binding numbers across entry points with other access modes
        assert_eq!(
            written(Kernel::LikelihoodLoss).unwrap(),
            &[false, false, false, false, true, true]
        );
    }
}
