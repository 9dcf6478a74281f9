#!/usr/bin/env python3
"""Runs every grpcurl command of docs/api.md against a live `seer up` (embedded broker, seasonal
naive), so the documented commands are ones that ran. ADDR becomes the gateway's address, TOKEN
and s3cret the admin token the gateway was started with; Watch streams are cut after a few
seconds; the TLS examples need certificates and are listed as not run.
    scripts/docs_grpcurl.py                   (SEER_BIN=target/debug/seer; grpcurl on PATH or GRPCURL)
Installs nothing: `go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3` gives grpcurl."""
import os, pathlib, re, shutil, socket, subprocess, sys, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEER = os.environ.get("SEER_BIN", str(ROOT / "target/debug/seer"))
GRPCURL = os.environ.get("GRPCURL") or shutil.which("grpcurl") or str(pathlib.Path.home() / "go/bin/grpcurl")
TOKEN = "docs-token"
# answers the docs describe that are not OK on `seer up`, which serves one version of each model:
# a rollback there has nothing to roll back to
EXPECTED = {"seer.v1.Models/Rollback": "FailedPrecondition"}


def commands(text):
    """The grpcurl commands of the sh blocks, each as one shell string (continuations and here-docs
    kept)."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if not line.startswith("grpcurl"):
                i += 1
                continue
            cmd = [line]
            heredoc = re.search(r"<<'?(\w+)'?", line)
            while (cmd[-1].endswith("\\") or "".join(cmd).count("'") % 2 == 1) and i + 1 < len(lines):
                i += 1
                cmd.append(lines[i])
            if heredoc:
                end = heredoc.group(1)
                while i + 1 < len(lines):
                    i += 1
                    cmd.append(lines[i])
                    if lines[i].strip() == end:
                        break
            out.append("\n".join(cmd))
            i += 1
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    cmds = commands((ROOT / "docs/api.md").read_text())
    port = free_port()
    addr = f"127.0.0.1:{port}"
    env = {**os.environ, "SEER_GATEWAY__ADMIN_TOKEN": TOKEN, "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}
    up = subprocess.Popen([SEER, "up", "--no-train", "--series", "20", "--rate", "400",
                           "--gateway-listen", addr, "--metrics-listen", "127.0.0.1:0"],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    failed, ran, skipped = [], 0, []
    try:
        deadline = time.time() + 120
        while True:
            r = subprocess.run([GRPCURL, "-plaintext", "-d", '{"series_id": "series_0"}', addr,
                                "seer.v1.Forecasts/GetLatest"], capture_output=True, text=True)
            if r.returncode == 0:
                break
            if time.time() > deadline or up.poll() is not None:
                sys.exit(f"seer up never served series_0: {r.stderr}")
            time.sleep(1)
        for c in cmds:
            if "-cacert" in c:
                skipped.append(c)
                continue
            shell = c.replace("ADDR", addr).replace("TOKEN", TOKEN).replace("s3cret", TOKEN)
            shell = shell.replace("grpcurl ", f"{GRPCURL} ", 1)
            watch = "Forecasts/Watch" in c
            if watch:
                shell = f"timeout 5 {shell}"
            r = subprocess.run(["bash", "-c", shell], capture_output=True, text=True)
            ran += 1
            expected = next((code for m, code in EXPECTED.items() if m in c), None)
            ok = (r.returncode == 0 and expected is None) or (watch and r.returncode == 124 and r.stdout.strip()) \
                or (expected is not None and f"Code: {expected}" in r.stderr)
            first = c.splitlines()[0][:100]
            print(f"{'ok  ' if ok else 'FAIL'} {first}")
            if not ok:
                failed.append((c, r.returncode, r.stdout[-300:], r.stderr[-500:]))
    finally:
        up.terminate()
        up.wait(timeout=30)
    for c in skipped:
        print(f"not run (needs TLS certificates): {c.splitlines()[0]}")
    for c, code, out, err in failed:
        print(f"\n--- failed (exit {code}): {c}\n{out}\n{err}")
    print(f"{ran - len(failed)} of {ran} grpcurl commands from docs/api.md ran successfully")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
