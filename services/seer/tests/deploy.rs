//! The Kubernetes manifests (deploy/) rendered by kustomize and checked for what no schema
//! validator catches: selectors that match pod labels, named ports that exist, GPU requests equal
//! to limits, grace periods longer than the drain, KEDA replicas within the partitions, every
//! container's configuration and flags accepted by the binary, and every metric the alerts,
//! autoscalers and dashboard name exported by the services (from a real /metrics scrape).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `kubectl kustomize`, or `kustomize build` where only that is installed (CI installs one).
fn render(overlay: &str) -> Vec<Value> {
    let dir = root().join("deploy/overlays").join(overlay);
    let attempts: [(&str, &[&str]); 2] = [("kubectl", &["kustomize"]), ("kustomize", &["build"])];
    for (tool, args) in attempts {
        let Ok(out) = Command::new(tool).args(args).arg(&dir).output() else {
            continue;
        };
        assert!(
            out.status.success(),
            "{tool} {args:?} {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        return serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .filter(|v: &Value| !v.is_null())
            .collect();
    }
    panic!("neither kubectl nor kustomize is installed (.ci/run installs kustomize)");
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut v = v;
    for p in path {
        v = v.get(*p)?;
    }
    Some(v)
}

fn str_of(v: &Value, path: &[&str]) -> String {
    s(v, path)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn labels(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.as_str().unwrap().to_string(),
                        v.as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A label selector (matchLabels and `In` matchExpressions) against pod labels.
fn selects(selector: &Value, pod: &BTreeMap<String, String>) -> bool {
    let plain = match selector.get("matchLabels") {
        Some(m) => labels(Some(m)),
        None if selector.get("matchExpressions").is_none() => labels(Some(selector)),
        None => BTreeMap::new(),
    };
    let exprs_ok = selector
        .get("matchExpressions")
        .and_then(Value::as_sequence)
        .is_none_or(|exprs| {
            exprs.iter().all(|e| {
                let key = str_of(e, &["key"]);
                let values: Vec<&str> = e["values"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                assert_eq!(str_of(e, &["operator"]), "In", "only In is checked here");
                pod.get(&key).is_some_and(|v| values.contains(&v.as_str()))
            })
        });
    plain.iter().all(|(k, v)| pod.get(k) == Some(v)) && exprs_ok
}

struct Workload<'a> {
    kind: String,
    name: String,
    obj: &'a Value,
    pod_labels: BTreeMap<String, String>,
}

fn workloads(objs: &[Value]) -> Vec<Workload<'_>> {
    objs.iter()
        .filter(|o| matches!(str_of(o, &["kind"]).as_str(), "Deployment" | "StatefulSet"))
        .map(|o| Workload {
            kind: str_of(o, &["kind"]),
            name: str_of(o, &["metadata", "name"]),
            obj: o,
            pod_labels: labels(s(o, &["spec", "template", "metadata", "labels"])),
        })
        .collect()
}

fn containers<'a>(w: &Workload<'a>) -> &'a Vec<Value> {
    s(w.obj, &["spec", "template", "spec", "containers"])
        .and_then(Value::as_sequence)
        .unwrap()
}

fn port_names(w: &Workload<'_>) -> BTreeSet<String> {
    containers(w)
        .iter()
        .flat_map(|c| c["ports"].as_sequence().cloned().unwrap_or_default())
        .map(|p| str_of(&p, &["name"]))
        .collect()
}

fn rendered_config(objs: &[Value]) -> String {
    objs.iter()
        .find(|o| {
            str_of(o, &["kind"]) == "ConfigMap"
                && str_of(o, &["metadata", "name"]).starts_with("seer-config")
        })
        .map(|o| str_of(o, &["data", "seer.toml"]))
        .expect("the seer-config ConfigMap")
}

/// Every `seer_…` metric a /metrics scrape of the three services shows (with every labelled
/// family touched once, since an empty vector is not exposed).
fn exported_metrics() -> BTreeSet<String> {
    let registry = prometheus::Registry::new();
    let ingest = seer_ingest::IngestMetrics::new(&registry).unwrap();
    let engine = seer_engine::EngineMetrics::new(&registry).unwrap();
    let gateway = seer_gateway::GatewayMetrics::new(&registry).unwrap();
    let trainer = seer_trainer::TrainerMetrics::new(&registry).unwrap();
    trainer.set_compute(&seer_gpu::GpuContext::cpu().summary);
    trainer.live_mase.with_label_values(&["m", "v"]).set(1.0);
    trainer
        .rounds_total
        .with_label_values(&["time", "promoted"])
        .inc();
    trainer.rollbacks_total.with_label_values(&["m"]).inc();
    engine
        .model_load_failures_total
        .with_label_values(&["m", "checksum"])
        .inc();
    ingest.dead_letters.with_label_values(&["late"]).inc();
    ingest.consumer_lag.with_label_values(&["0"]).set(0);
    ingest.rebalances.with_label_values(&["assigned"]).inc();
    engine.requests_total.with_label_values(&["m", "ok"]).inc();
    engine
        .kernel_seconds
        .with_label_values(&["m", "cpu"])
        .observe(0.1);
    engine.set_compute(&seer_gpu::GpuContext::cpu().summary);
    engine
        .fallback_total
        .with_label_values(&["short_window"])
        .inc();
    engine
        .series_errors_total
        .with_label_values(&["no_observations"])
        .inc();
    engine.model_info.with_label_values(&["m", "v"]).set(1);
    gateway
        .requests_total
        .with_label_values(&["Forecast", "ok"])
        .inc();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body = rt.block_on(async {
        let stop = tokio_util::sync::CancellationToken::new();
        let addr = seer_runtime::spawn_admin(
            "127.0.0.1:0".parse().unwrap(),
            registry,
            Default::default(),
            stop.clone(),
        )
        .await
        .unwrap();
        let (status, body) = seer_runtime::http_get(addr, "/metrics").await.unwrap();
        assert_eq!(status, 200);
        stop.cancel();
        body
    });
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("seer_") {
        let start = i + at;
        let mut end = start;
        while end < b.len()
            && (b[end].is_ascii_lowercase() || b[end].is_ascii_digit() || b[end] == b'_')
        {
            end += 1;
        }
        out.insert(text[start..end].to_string());
        i = end;
    }
    out
}

fn check_overlay(overlay: &str) -> Vec<Value> {
    let objs = render(overlay);
    let ws = workloads(&objs);
    assert!(
        ws.len() >= 4,
        "{overlay}: engine, ingest, gateway and trainer"
    );
    let config = rendered_config(&objs);
    let grace: u64 = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("grace_seconds = "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(25);
    for w in &ws {
        let ctx = format!("{overlay} {} {}", w.kind, w.name);
        let selector = s(w.obj, &["spec", "selector"]).unwrap();
        assert!(
            selects(selector, &w.pod_labels),
            "{ctx}: selector does not match its pods"
        );
        let names = port_names(w);
        for n in &names {
            assert!(n.len() <= 15, "{ctx}: port name {n:?} longer than 15");
        }
        let pod = s(w.obj, &["spec", "template", "spec"]).unwrap();
        assert_eq!(
            pod["automountServiceAccountToken"].as_bool(),
            Some(false),
            "{ctx}"
        );
        let term = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
        for c in containers(w) {
            for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
                let p = c.get(probe).unwrap_or_else(|| panic!("{ctx}: no {probe}"));
                let port = str_of(p, &["httpGet", "port"]);
                assert!(
                    names.contains(&port),
                    "{ctx}: {probe} on missing port {port:?}"
                );
            }
            assert_eq!(
                str_of(c, &["readinessProbe", "httpGet", "path"]),
                "/readyz",
                "{ctx}"
            );
            assert_eq!(
                str_of(c, &["livenessProbe", "httpGet", "path"]),
                "/healthz",
                "{ctx}"
            );
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{ctx}");
            assert_eq!(
                sc["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{ctx}"
            );
            assert_eq!(sc["capabilities"]["drop"][0].as_str(), Some("ALL"), "{ctx}");
            let limits = &c["resources"]["limits"];
            let requests = &c["resources"]["requests"];
            assert!(
                limits.get("cpu").is_some() && limits.get("memory").is_some(),
                "{ctx}"
            );
            assert!(
                requests.get("cpu").is_some() && requests.get("memory").is_some(),
                "{ctx}"
            );
            if let (Some(gpu), Some(req)) =
                (limits.get("nvidia.com/gpu"), requests.get("nvidia.com/gpu"))
            {
                assert_eq!(req, gpu, "{ctx}: a GPU request must equal the limit");
            }
            let pre_stop = c["lifecycle"]["preStop"]["exec"]["command"][1]
                .as_str()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            assert!(
                term > grace + pre_stop,
                "{ctx}: terminationGracePeriodSeconds {term} must exceed the drain {grace} s + preStop {pre_stop} s"
            );
            check_container_config(&ctx, c, &config);
        }
    }
    for o in &objs {
        let kind = str_of(o, &["kind"]);
        let ctx = format!("{overlay} {kind} {}", str_of(o, &["metadata", "name"]));
        match kind.as_str() {
            "Service" => {
                let sel = labels(s(o, &["spec", "selector"]));
                let target = ws
                    .iter()
                    .find(|w| sel.iter().all(|(k, v)| w.pod_labels.get(k) == Some(v)))
                    .unwrap_or_else(|| panic!("{ctx}: selects no workload"));
                for p in o["spec"]["ports"].as_sequence().unwrap() {
                    let t = str_of(p, &["targetPort"]);
                    assert!(port_names(target).contains(&t), "{ctx}: targetPort {t:?}");
                }
            }
            "PodDisruptionBudget" | "NetworkPolicy" => {
                let sel = s(
                    o,
                    &[
                        "spec",
                        if kind == "NetworkPolicy" {
                            "podSelector"
                        } else {
                            "selector"
                        },
                    ],
                )
                .unwrap();
                assert!(
                    ws.iter().any(|w| selects(sel, &w.pod_labels)),
                    "{ctx}: selects no pod"
                );
            }
            "HorizontalPodAutoscaler" | "ScaledObject" => {
                let name = str_of(o, &["spec", "scaleTargetRef", "name"]);
                assert!(
                    ws.iter().any(|w| w.name == name),
                    "{ctx}: scales missing {name:?}"
                );
            }
            _ => {}
        }
    }
    objs
}

/// The binary accepts the container's flags, and the rendered ConfigMap plus the container's
/// env (secrets as placeholders) make a configuration its service would start with.
fn check_container_config(ctx: &str, c: &Value, config: &str) {
    let dir = std::env::temp_dir().join(format!("seer-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("seer.toml");
    std::fs::write(&file, config).unwrap();
    let args: Vec<String> = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_str().unwrap();
            if a == "/etc/seer/seer.toml" {
                file.display().to_string()
            } else {
                a.to_string()
            }
        })
        .collect();
    let mut env = Vec::new();
    for e in c["env"].as_sequence().cloned().unwrap_or_default() {
        let name = str_of(&e, &["name"]);
        let value = match e.get("value") {
            Some(v) => v.as_str().unwrap().to_string(),
            None => "placeholder-from-the-pod".to_string(),
        };
        env.push((name, value));
    }
    let service = args[0].clone();
    let run = |extra: &[&str], args: &[String]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_seer"));
        cmd.args(extra)
            .args(args)
            .env("XDG_RUNTIME_DIR", std::env::temp_dir());
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let help = run(&[], &[args.clone(), vec!["--help".into()]].concat());
    assert!(
        help.status.success(),
        "{ctx}: seer rejects the container's args {args:?}: {}",
        String::from_utf8_lossy(&help.stderr)
    );
    let print_args = [
        vec!["config".to_string(), "print".into(), service],
        args[1..].to_vec(),
    ]
    .concat();
    let out = run(&[], &print_args);
    assert!(
        out.status.success(),
        "{ctx}: seer config print {print_args:?} with the container's env: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_overlay_renders_and_its_objects_fit_together() {
    let exported = exported_metrics();
    assert!(
        exported.contains("seer_engine_queue_seconds_bucket"),
        "{exported:?}"
    );
    let dev = check_overlay("dev-cpu");
    assert!(
        !dev.iter()
            .any(|o| str_of(o, &["apiVersion"]).contains("keda")
                || str_of(o, &["apiVersion"]).contains("coreos")),
        "dev-cpu needs no CRDs"
    );
    let prod = check_overlay("prod-gpu");
    let engine = prod
        .iter()
        .find(|o| {
            str_of(o, &["kind"]) == "Deployment"
                && str_of(o, &["metadata", "name"]) == "seer-engine"
        })
        .unwrap();
    let c = &engine["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"].as_u64(), Some(1));
    let caps = c["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| str_of(e, &["name"]) == "NVIDIA_DRIVER_CAPABILITIES")
        .map(|e| str_of(e, &["value"]))
        .unwrap();
    assert!(
        caps.contains("graphics"),
        "Vulkan needs the graphics capability: {caps}"
    );

    // KEDA never runs more ingest replicas than the observations topic has partitions
    let partitions = prod
        .iter()
        .find(|o| {
            str_of(o, &["kind"]) == "KafkaTopic"
                && str_of(o, &["metadata", "name"]) == "seer.observations"
        })
        .and_then(|o| o["spec"]["partitions"].as_u64())
        .unwrap();
    let ingest_scaler = prod
        .iter()
        .find(|o| {
            str_of(o, &["kind"]) == "ScaledObject"
                && str_of(o, &["spec", "scaleTargetRef", "name"]) == "seer-ingest"
        })
        .unwrap();
    assert!(ingest_scaler["spec"]["maxReplicaCount"].as_u64().unwrap() <= partitions);

    // every metric the alerts, the autoscalers and the dashboard read is one seer exports
    let mut named = BTreeSet::new();
    for o in prod.iter().filter(|o| {
        matches!(
            str_of(o, &["kind"]).as_str(),
            "PrometheusRule" | "ScaledObject"
        )
    }) {
        named.extend(metric_names(&serde_yaml::to_string(o).unwrap()));
    }
    let dashboard =
        std::fs::read_to_string(root().join("deploy/grafana/seer-dashboard.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&dashboard).expect("the dashboard is JSON");
    named.extend(metric_names(&dashboard));
    let missing: Vec<&String> = named.iter().filter(|m| !exported.contains(*m)).collect();
    assert!(missing.is_empty(), "named but not exported: {missing:?}");
    assert!(named.len() >= 8, "{named:?}");
}

/// The alert rules pass promtool where it is installed (Debian's `prometheus` package; CI
/// installs it).
#[test]
fn alert_rules_pass_promtool() {
    let objs = render("prod-gpu");
    let rule = objs
        .iter()
        .find(|o| str_of(o, &["kind"]) == "PrometheusRule")
        .unwrap();
    let dir = std::env::temp_dir().join(format!("seer-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rules.yaml");
    std::fs::write(&file, serde_yaml::to_string(&rule["spec"]).unwrap()).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output();
    match out {
        Ok(o) => assert!(
            o.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            panic!("promtool not installed ({e}); .ci/run installs Debian's prometheus package")
        }
    }
}
