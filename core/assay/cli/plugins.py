"""`assay plugins [--json]`: what loaded, what each plugin provides, and why anything did not load."""

from __future__ import annotations

import argparse
import json

from assay.cli.command import Command
from assay.plugins import get_registry


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (one list of plugins) for other tools")


def run(args: argparse.Namespace) -> int:
    infos = [info.to_json() for info in get_registry().plugins]
    if args.json:
        print(json.dumps(infos, indent=2))
        return 0
    if not infos:
        print("no plugins installed")
    for info in infos:
        version = f" {info['version']}" if info["version"] else ""
        print(f"{info['name']}{version} [{info['status']}]")
        if info["error"]:
            print(f"  error: {info['error']}")
        for name, meta in info["verifiers"].items():
            print(f"  verifier {name}@{meta['version']} ({meta['kind']})")
        for name, meta in info["sandboxes"].items():
            layers = meta.get("layers") if isinstance(meta, dict) else None
            extra = f" layers: {layers}" if layers else ""
            print(f"  sandbox {name}{extra}")
            guarded = meta.get("protections") if isinstance(meta, dict) else None
            for protection, state in (guarded or {}).items():
                held = "closed" if state.get("on") else "OPEN"
                print(f"    {protection}: {held} (by the {state.get('layer')} layer)")
        for name in info["selectors"]:
            print(f"  selector {name}")
        for name in info["commands"]:
            print(f"  command {name}")
    return 0


COMMAND = Command("plugins", "List installed plugins and what they register.", configure, run)
