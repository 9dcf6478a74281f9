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
    let err = naga::front::wgsl::parse_str("fn broken( {").unwrap_err();
    assert!(!err.emit_to_string("fn broken( {").is_empty());
}
