use seer_gpu::GpuContext;
use serde_json::json;

pub fn run(as_json: bool) -> anyhow::Result<()> {
    let ctx = GpuContext::from_env()?;
    let s = &ctx.summary;
    let l = &ctx.limits;
    let report = json!({
        "adapter": s.name,
        "kind": s.kind(),
        "backend": s.backend,
        "threads": s.threads,
        "device_type": s.device_type,
        "driver": s.driver,
        "driver_info": s.driver_info,
        "software": s.is_software,
        "features": {
            "timestamp_query": s.timestamp_queries,
            "subgroup": s.subgroups,
            "shader_f16": s.shader_f16,
        },
        "limits": {
            "max_storage_buffer_binding_size": l.max_storage_buffer_binding_size,
            "max_buffer_size": l.max_buffer_size,
            "max_compute_workgroup_storage_size": l.max_compute_workgroup_storage_size,
            "max_compute_invocations_per_workgroup": l.max_compute_invocations_per_workgroup,
            "max_compute_workgroups_per_dimension": l.max_compute_workgroups_per_dimension,
            "max_storage_buffers_per_shader_stage": l.max_storage_buffers_per_shader_stage,
        },
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("adapter      {}", s.name);
    println!("kind         {}", s.kind());
    println!("backend      {}", s.backend);
    if s.threads > 0 {
        println!("threads      {}", s.threads);
    }
    println!(
        "device type  {}{}",
        s.device_type,
        if s.is_software { " (software)" } else { "" }
    );
    println!("driver       {} {}", s.driver, s.driver_info);
    println!(
        "features     timestamp_query={} subgroup={} shader_f16={}",
        s.timestamp_queries, s.subgroups, s.shader_f16
    );
    println!("limits");
    for (k, v) in report["limits"].as_object().into_iter().flatten() {
        println!("  {k:<40} {v}");
    }
    Ok(())
}
