"""`assay sandbox build|check`: build a sandbox image offline; start a backend and show what it isolates."""

from __future__ import annotations

import argparse
import json
import sys
import time

from assay import PythonSandbox
from assay.cli import Command
from assay_sandboxes.images import DEFAULT_RECIPE, RECIPES


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="sandbox_action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="build a docker sandbox image from an offline recipe")
    build.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default=DEFAULT_RECIPE,
        help="; ".join(f"{r.name}: {r.help}" for r in RECIPES.values()) + f" (default {DEFAULT_RECIPE})",
    )
    build.add_argument("--tag", help="image tag (default assay-sandbox:RECIPE)")
    build.add_argument("--docker-host", help="the daemon (default $DOCKER_HOST)")
    check = actions.add_parser("check", help="start a backend, print its isolation layers and time a few runs")
    check.add_argument("backend", nargs="?", default="local", help="a registered sandbox name (default local)")
    check.add_argument("--runs", type=int, default=50, help="trivial Python runs to time (default 50)")


def run(args: argparse.Namespace) -> int:
    if args.sandbox_action == "build":
        return _build(args)
    return _check(args)


def _build(args: argparse.Namespace) -> int:
    from assay_sandboxes.client import SandboxUnavailable
    from assay_sandboxes.docker_backend import docker_client
    from assay_sandboxes.images import ImageBuildError, build_image

    try:
        tag, seconds = build_image(docker_client(args.docker_host), args.recipe, args.tag)
    except (SandboxUnavailable, ImageBuildError) as exc:
        print(f"assay sandbox build: {exc}", file=sys.stderr)
        return 1
    print(f"built {tag} from recipe {args.recipe} in {seconds:.1f} s")
    return 0


def _check(args: argparse.Namespace) -> int:
    from assay.plugins import UnknownComponent, get_registry

    try:
        cls = get_registry().sandbox_class(args.backend)
    except UnknownComponent as exc:
        print(f"assay sandbox check: {exc}", file=sys.stderr)
        return 2
    sandbox = cls()
    try:
        python = sandbox if isinstance(sandbox, PythonSandbox) else None
        first = python.run_python("print('ok')") if python is not None else sandbox.run(["true"])
        if first.status != "ok":
            print(f"assay sandbox check: a trivial run failed: {first.status}: {first.message}", file=sys.stderr)
            return 1
        started = time.perf_counter()
        for _ in range(args.runs):
            if python is not None:
                python.run_python("pass")
            else:
                sandbox.run(["true"])
        per_run = (time.perf_counter() - started) / max(args.runs, 1)
        report = {
            "backend": args.backend,
            **sandbox.isolation(),
            "seconds_per_trivial_run": round(per_run, 5),
        }
        print(json.dumps(report, indent=2))
    finally:
        sandbox.close()
    return 0


COMMAND = Command("sandbox", "Build sandbox images; check what a sandbox backend isolates here.", configure, run)
