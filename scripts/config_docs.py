#!/usr/bin/env python3
"""Writes the key tables of docs/configuration.md from the embedded defaults files, whose
comments are the documentation of each key. Run after changing a defaults.toml:
    python3 scripts/config_docs.py > /tmp/keys.md   (then paste over the tables)
The test `every_key_is_documented` (services/seer/src/config.rs) fails while a key is missing."""
import re, sys, pathlib
root = pathlib.Path(__file__).resolve().parent.parent
files = ["services/runtime/defaults.toml", "services/ingest/defaults.toml",
         "services/engine/defaults.toml", "services/gateway/defaults.toml",
         "services/trainer/defaults.toml"]
out = []
for f in files:
    section, comment = None, []
    rows = []
    for line in (root / f).read_text().splitlines():
        s = line.strip()
        if s.startswith("#"):
            comment.append(s.lstrip("# ").rstrip())
            continue
        m = re.match(r"^\[([\w.]+)\]$", s)
        if m:
            if section is not None and rows:
                out.append((section, rows))
            section, rows = m.group(1), []
            if comment and "." in section:
                # a free-form table: documented as one key
                rows.append((section, "(any key)", " ".join(comment)))
                out.append((section.rsplit(".", 1)[0] + "+", rows))
                section, rows = section.rsplit(".", 1)[0], []
            comment = []
            continue
        m = re.match(r"^([\w]+)\s*=\s*(.+)$", s)
        if m and section:
            rows.append((f"{section}.{m.group(1)}", m.group(2), " ".join(comment)))
        comment = [] if s == "" or m else comment
    if section is not None and rows:
        out.append((section, rows))
seen = set()
for section, rows in out:
    name = section.rstrip("+")
    if name not in seen:
        print(f"\n### [{name}]\n")
        print("| key | default | environment | meaning |")
        print("|---|---|---|---|")
        seen.add(name)
    for key, default, doc in rows:
        env = "SEER_" + key.replace(".", "__").upper()
        default = default.replace("|", "\\|")
        doc = doc.replace("|", "\\|")
        print(f"| `{key}` | `{default}` | `{env}` | {doc} |")
