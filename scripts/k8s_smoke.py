#!/usr/bin/env python3
"""The dev-cpu overlay, run rather than parsed: render it, take each container's command, args
and env from the rendered objects, start them as local processes against a real broker (tansu),
and check that
  1. every startup/readiness probe path answers 200 within its probe budget,
  2. forecasts flow end to end (replayed observations → ingest → engine → forecasts topic →
     the gateway's view holds every series),
  3. SIGTERM to each process ends it within its pod's terminationGracePeriodSeconds.
Cluster DNS is emulated by rewriting the Service host names in the rendered ConfigMap to
127.0.0.1 (every port is distinct). Run it through scripts/k8s_smoke.sh, which prepares the venv
and the broker."""
import json, os, pathlib, re, signal, subprocess, sys, tempfile, time, urllib.request

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEER = os.environ["SEER_BIN"]
BROKER = os.environ["SMOKE_BROKER"]
SERIES, POINTS = 20, 60
# the image's ENV (Dockerfile): what every container sees besides its own env
IMAGE_ENV = {"XDG_RUNTIME_DIR": "/tmp", "HOME": "/tmp"}


def log(msg):
    print(f"[k8s-smoke] {msg}", flush=True)


def render():
    out = subprocess.run(["kubectl", "kustomize", str(ROOT / "deploy/overlays/dev-cpu")],
                         check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return None, ""


def metric(text, name):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main():
    objs = render()
    work = pathlib.Path(tempfile.mkdtemp(prefix="seer-k8s-smoke-"))
    cm = next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("seer-config"))
    toml = cm["data"]["seer.toml"]
    toml = toml.replace("seer-kafka-bootstrap:9092", BROKER).replace("http://seer-engine:", "http://127.0.0.1:")
    (work / "seer.toml").write_text(toml)
    models = work / "models"
    models.mkdir()
    workloads = {o["metadata"]["name"]: o for o in objs if o["kind"] in ("Deployment", "StatefulSet")}
    procs = {}
    order = ["seer-engine", "seer-ingest", "seer-gateway"]
    try:
        for name in order:
            w = workloads[name]
            pod = w["spec"]["template"]["spec"]
            c = pod["containers"][0]
            pod_name = f"{name}-0" if w["kind"] == "StatefulSet" else f"{name}-abc12"
            env = dict(os.environ)
            env.update(IMAGE_ENV)
            env["XDG_RUNTIME_DIR"] = str(work)
            for e in c.get("env", []):
                if "value" in e:
                    env[e["name"]] = e["value"]
                elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
                    env[e["name"]] = pod_name
                # optional secretKeyRefs: the Secrets do not exist in the smoke run
            args = [str(work / "seer.toml") if a == "/etc/seer/seer.toml" else a for a in c["args"]]
            # the PVC at /models: an empty models directory (seasonal naive serves)
            args += ["--set", f"engine.models_dir={models}"] if args[0] == "engine" else []
            log(f"starting {name}: seer {' '.join(args)}")
            out = open(work / f"{name}.log", "w")
            procs[name] = (subprocess.Popen([SEER] + args, env=env, stdout=out, stderr=subprocess.STDOUT),
                           w, c)
            admin = next(p["containerPort"] for p in c["ports"] if p["name"] == "admin")
            probe = c["startupProbe"]
            budget = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
            deadline = time.time() + budget
            for p in ("startupProbe", "readinessProbe", "livenessProbe"):
                path = c[p]["httpGet"]["path"]
                while True:
                    status, _ = get(f"http://127.0.0.1:{admin}{path}")
                    if status == 200:
                        break
                    if procs[name][0].poll() is not None:
                        sys.exit(f"{name} exited: see {work / (name + '.log')}")
                    if time.time() > deadline:
                        sys.exit(f"{name}: {p} {path} never answered 200 within {budget} s")
                    time.sleep(0.2)
            log(f"{name}: /readyz and /healthz answer 200")

        csv = work / "series.csv"
        with open(csv, "w") as f:
            f.write("series_id,timestamp,value\n")
            for k in range(POINTS):
                for s in range(SERIES):
                    f.write(f"s{s},{1735689600 + 3600 * k},{10 + s + k % 24}\n")
        log(f"replaying {SERIES * POINTS} observations")
        subprocess.run([SEER, "replay", "--data", str(csv), "--brokers", BROKER], check=True,
                       env={**os.environ, "XDG_RUNTIME_DIR": str(work)})
        deadline = time.time() + 90
        while True:
            _, ingest = get("http://127.0.0.1:9465/metrics")
            _, gateway = get("http://127.0.0.1:9466/metrics")
            published = metric(ingest, "seer_ingest_forecasts_published_total")
            view = metric(gateway, "seer_gateway_view_series")
            if view >= SERIES:
                break
            if time.time() > deadline:
                sys.exit(f"forecasts did not flow: published {published}, gateway view {view} series")
            time.sleep(0.5)
        log(f"forecasts flow: {int(published)} published, the gateway's view holds {int(view)} series")

        for name in reversed(order):
            proc, w, c = procs[name]
            grace = w["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
            t0 = time.time()
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                sys.exit(f"{name} still running {grace} s after SIGTERM")
            took = time.time() - t0
            if code != 0:
                sys.exit(f"{name} exited {code} after SIGTERM: see {work / (name + '.log')}")
            log(f"{name}: SIGTERM → exit 0 in {took:.2f} s (grace {grace} s)")
        log("passed")
    finally:
        for proc, _, _ in procs.values():
            if proc.poll() is None:
                proc.kill()


if __name__ == "__main__":
    main()
