"""`assay serve [--host H] [--port P] [--token T] [--workers N] ...`: the HTTP service (`assay[serve]`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from assay.cli.command import Command


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument(
        "--token",
        default=None,
        help="require `Authorization: Bearer TOKEN` on all routes but /healthz, /openapi.json and /docs "
        "(default: $ASSAY_SERVE_TOKEN)",
    )
    parser.add_argument(
        "--workers",
        "-j",
        type=int,
        default=None,
        help="worker processes per verifier configuration (default: CPUs; 0: in-process)",
    )
    parser.add_argument(
        "--preload",
        action="append",
        default=[],
        metavar="VERIFIER",
        help="start this verifier's workers, warm, before accepting requests (repeatable; recommended in "
        "production: otherwise the first request for a verifier waits for its workers to start)",
    )
    parser.add_argument("--reward-verifier", help="verifier for /get_reward when the URL names none")
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config for --reward-verifier (`--set time_limit_s=5`)",
    )
    parser.add_argument("--sandbox", default="local", help="sandbox backend for /run_code (default: local)")
    parser.add_argument(
        "--max-concurrent", type=int, default=None, help="requests at once before 429 (default 512)"
    )
    parser.add_argument(
        "--max-body-mb", type=float, default=None, help="largest request body in MiB (default 16)"
    )
    parser.add_argument(
        "--max-samples", type=int, default=None, help="most samples per request (default 4096)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="per-request time limit in seconds, not counting a verifier's start-up (default 300)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=None,
        help="seconds a verifier's workers may take to start before its requests get 503 (default 300)",
    )
    parser.add_argument(
        "--read-timeout",
        type=float,
        default=None,
        help="seconds a client has to send a request's headers, and again its body (default 30)",
    )
    parser.add_argument(
        "--max-connections-per-client",
        type=int,
        default=None,
        help="open connections from one address before 429 (default 1024; 0: no bound, e.g. behind a proxy)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=None,
        help="seconds to finish work in flight on SIGTERM/SIGINT (default 30)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from assay.server import ServerSettings, create_app
        from assay.server.connections import uvicorn_config
    except ImportError as exc:
        print(
            f"assay serve: {exc.name} is missing; install it with: pip install 'assay[serve]'",
            file=sys.stderr,
        )
        return 2
    from pydantic import ValidationError

    from assay.cli.verify import parse_settings

    options: dict[str, object] = {
        "token": args.token or os.environ.get("ASSAY_SERVE_TOKEN") or None,
        "preload": args.preload,
        "reward_verifier": args.reward_verifier,
        "sandbox": args.sandbox,
    }
    for key, value in (
        ("workers", args.workers),
        ("max_concurrent", args.max_concurrent),
        ("max_samples", args.max_samples),
        ("request_timeout_s", args.timeout),
        ("startup_timeout_s", args.startup_timeout),
        ("read_timeout_s", args.read_timeout),
        ("max_connections_per_client", args.max_connections_per_client),
        ("shutdown_timeout_s", args.shutdown_timeout),
    ):
        if value is not None:
            options[key] = value
    if args.max_body_mb is not None:
        options["max_body_bytes"] = int(args.max_body_mb * (1 << 20))
    try:
        options["reward_config"] = parse_settings(args.settings)
        settings = ServerSettings.model_validate(options)
        app = create_app(settings)
    except (ValueError, ValidationError) as exc:
        print(f"assay serve: {exc}", file=sys.stderr)
        return 2
    config = uvicorn_config(
        app,
        settings,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        # Keep-alive matches the clients trainers use (connections reused between batches).
        timeout_keep_alive=30,
    )
    _raise_open_files_limit()
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


def _raise_open_files_limit() -> None:
    """Raise this process's soft limit on open files to its hard limit: every connection is a file, and
    the common default (1024) is what one busy client address may hold (`--max-connections-per-client`)."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 16
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


COMMAND = Command(
    "serve",
    "Serve verifiers over HTTP (OpenAPI at /docs; OpenRLHF and SandboxFusion routes).",
    configure,
    run,
)
