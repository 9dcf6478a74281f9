//! Every WGSL file under shaders/ parses and validates with naga, and the registry knows it.

use std::path::Path;

use seer_gpu::kernels::{Kernel, Shader};

#[test]
fn every_shader_file_validates_and_is_registered() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shaders");
    let common = std::fs::read_to_string(dir.join("common.wgsl")).expect("common.wgsl");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("shaders dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wgsl"))
        .collect();
    files.sort();
    assert!(
        files.len() > 1,
        "no shader files found in {}",
        dir.display()
    );
    for name in &files {
        let body = std::fs::read_to_string(dir.join(name)).unwrap();
        let source = if name == "common.wgsl" {
            body.clone()
        } else {
            format!("{common}\n{body}")
        };
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
        if name != "common.wgsl" {
            assert!(
                Shader::ALL.iter().any(|s| s.file_name() == name),
                "{name} is not in the kernel registry"
            );
        }
    }
    for kernel in Kernel::ALL {
        let source = kernel.shader().source();
        assert!(
            source.contains(&format!("fn {}(", kernel.entry_point())),
            "{:?}: entry point missing",
            kernel
        );
    }
}

#[test]
fn a_broken_shader_is_a_typed_error_not_a_panic() {
    let err = seer_gpu::kernels::validate_wgsl("broken.wgsl", "fn broken( {").unwrap_err();
    assert!(
        matches!(
            err,
            seer_gpu::GpuError::Shader {
                shader: "broken.wgsl",
                ..
            }
        ),
        "{err:?}"
    );
    // type errors are caught by validation, with the offending line quoted
    let bad = "@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }";
    let err = seer_gpu::kernels::validate_wgsl("typed.wgsl", bad).unwrap_err();
    assert!(err.to_string().contains("typed.wgsl"), "{err}");
}

#[test]
fn adapter_choice_parses_and_rejects_nonsense() {
    use seer_gpu::AdapterChoice;
    assert_eq!("GPU".parse::<AdapterChoice>().unwrap(), AdapterChoice::Gpu);
    assert_eq!(
        "software".parse::<AdapterChoice>().unwrap(),
        AdapterChoice::Software
    );
    assert_eq!("".parse::<AdapterChoice>().unwrap(), AdapterChoice::Auto);
    // `cpu` is the native backend now, not the software Vulkan adapter
    assert_eq!(
        " cpu ".parse::<AdapterChoice>().unwrap(),
        AdapterChoice::Cpu
    );
    let err = "quantum".parse::<AdapterChoice>().unwrap_err();
    assert!(
        err.to_string().contains("auto, gpu, cpu or software"),
        "{err}"
    );
}

#[test]
fn every_kernel_binds_exactly_what_its_entry_point_uses() {
    // The pipeline layout is derived from the shader, so a binding list that disagrees with the
    // entry point fails only at dispatch time; check the registry against naga's usage analysis.
    for &kernel in Kernel::ALL {
        let source = kernel.shader().source();
        let module = naga::front::wgsl::parse_str(&source).unwrap();
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap();
        let ep = module
            .entry_points
            .iter()
            .position(|e| e.name == kernel.entry_point())
            .unwrap_or_else(|| panic!("{kernel:?}: no entry point"));
        let fi = info.get_entry_point(ep);
        let mut used: Vec<u32> = module
            .global_variables
            .iter()
            .filter(|(h, _)| !fi[*h].is_empty())
            .filter_map(|(_, g)| g.binding.as_ref().map(|b| b.binding))
            .filter(|&b| b != 0)
            .collect();
        used.sort();
        assert_eq!(
            used,
            kernel.bindings(),
            "{kernel:?}: storage bindings used by the shader"
        );
    }
}
