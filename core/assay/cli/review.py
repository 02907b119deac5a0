"""`assay review TASKS SAMPLES [--verdicts V ...] --labels LABELS.sqlite [--port 8000]`: the review page."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

from assay.cli.command import Command


def share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a share between 0 and 1, e.g. 0.1")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tasks", help="tasks JSONL ({id, prompt, reference}); .gz is fine")
    parser.add_argument("samples", help="samples JSONL ({task_id, index, text}); .gz is fine")
    parser.add_argument(
        "--verdicts", nargs="*", default=[], metavar="VERDICTS", help="verdict files written by `assay verify`"
    )
    parser.add_argument(
        "--labels", required=True, metavar="LABELS.sqlite", help="the label database (created when missing)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument(
        "--reviewer",
        action="append",
        default=[],
        metavar="NAME",
        help="a reviewer (repeatable); beyond loopback each gets a personal sign-in link, printed once",
    )
    parser.add_argument(
        "--double-share", type=share, default=0.1, help="share of samples labelled by two reviewers (default 0.1)"
    )
    parser.add_argument(
        "--random-share",
        type=share,
        default=0.25,
        help="share of the queue given to a uniform random slice (default 0.25)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the review order (default 0)")
    parser.add_argument(
        "--export",
        metavar="OUT.jsonl",
        help="write the labelled samples in the samples' own format (`label` field) and exit",
    )
    parser.add_argument(
        "--include-unlabelled", action="store_true", help="with --export: copy unlabelled samples through too"
    )
    parser.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from assay.review.app import ReviewSettings, create_review_app
    except ImportError as exc:
        print(f"assay review: {exc.name} is missing; install it with: pip install 'assay[review]'", file=sys.stderr)
        return 2
    from assay.jsonl import InputFileError
    from assay.review import index_path_for
    from assay.review import labels as label_db
    from assay.review.export import export_labels
    from assay.review.index import OrderOptions, ReviewInputError, build_index
    from assay.review.session import Review

    if args.export:
        try:
            counts = export_labels(args.labels, args.samples, args.export, include_unlabelled=args.include_unlabelled)
        except (FileNotFoundError, ValueError, InputFileError) as exc:
            print(f"assay review: {exc}", file=sys.stderr)
            return 2
        print(
            f"{counts.written} samples written to {args.export}: {counts.labelled} with a label,"
            f" {counts.undecided} that reviewers left unsure or tied"
        )
        return 0

    loopback = is_loopback(args.host)
    names = [name.strip() for name in args.reviewer if name.strip()]
    from assay.review.app import REVIEWER_NAME

    for name in names:
        if not REVIEWER_NAME.match(name):
            print(
                f"assay review: --reviewer {name!r}: use letters, digits, dots, dashes or underscores", file=sys.stderr
            )
            return 2
    if not loopback and not names:
        print(
            f"assay review: listening on {args.host} (beyond loopback) needs reviewers: --reviewer NAME for each,"
            " and each signs in with the personal link printed here",
            file=sys.stderr,
        )
        return 2
    options = OrderOptions(seed=args.seed, random_share=args.random_share, double_share=args.double_share)
    index_path = index_path_for(args.labels)
    try:
        build_index(index_path, args.tasks, args.samples, args.verdicts, options, progress=sys.stderr.isatty())
        review = Review(index_path, args.labels)
    except (ReviewInputError, InputFileError, ValueError) as exc:
        print(f"assay review: {exc}", file=sys.stderr)
        return 2
    try:
        with review.lock:
            tokens = label_db.ensure_reviewers(review.db, names, tokens=not loopback)
        app = create_review_app(review, ReviewSettings(tokens=not loopback, loopback=loopback))
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only when the listening socket
        # says TCP; without it every keep-alive response waits ~40 ms on the client's delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((args.host, args.port))
        except OSError as exc:
            print(f"assay review: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        port = sock.getsockname()[1]
        shown_host = f"[{args.host}]" if ":" in args.host else args.host
        url = f"http://{shown_host}:{port}/"
        progress = review.progress("")
        print(
            f"assay review: {url}  ({progress.total:,} samples, {progress.labelled:,} labelled;"
            f" labels in {args.labels})",
            flush=True,
        )
        for name, token in tokens.items():
            print(f"  sign-in link for {name} (shown once): {url}login?token={token}", flush=True)
        if not loopback and not tokens:
            print("  reviewers sign in with the links printed when they were added", flush=True)
        config = uvicorn.Config(app, log_level=args.log_level, timeout_graceful_shutdown=5)
        server = uvicorn.Server(config)
        server.run(sockets=[sock])
    finally:
        review.close()
    return 0


COMMAND = Command(
    "review",
    "Label samples by hand on a local web page; labels go to SQLite and feed the audit, selection and training.",
    configure,
    run,
)
