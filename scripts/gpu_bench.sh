#!/usr/bin/env bash
# Runs seer's kernel benchmark and PyTorch's on the same shapes, on the device machine, in one
# call (see ../.library/device/README.md). Expects a release `seer` binary at target/release/seer
# carried along, and the Vulkan loader unpacked into ./vulkan (dpkg -x libvulkan1*.deb vulkan).
set -euo pipefail
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH="$PWD/vulkan/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
out="${OUT:-/tmp}"
SEER_ADAPTER=gpu target/release/seer info | tee "$out/seer-info.txt"
SEER_ADAPTER=gpu target/release/seer bench kernels --reps 20 --json --out "$out/seer-bench.json"
SEER_ADAPTER=gpu target/release/seer bench train --steps 20 --json --out "$out/seer-train.json"
python3 scripts/bench_pytorch.py --reps 20 | tee "$out/pytorch-bench.json"
