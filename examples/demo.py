"""The demo (`make demo`): verify real model samples, audit the verifier and the selection methods, and point
to the HTML report.

    python examples/demo.py [--out DIR]

1. SVAMP word problems, 30 programs per problem from code-davinci-002 (examples/data/svamp-pot-codex): the
   `math` verifier judges each program's answer against the reference; the audit then measures the
   verifier against the data set's own labels and what majority vote, best-of-n and verified vote make of
   coverage as the number of samples grows, and fits coverage's power law.
2. HumanEval, the first 40 problems with 100 CodeGen-16B completions each (examples/data/humaneval-codegen16b):
   the `code` verifier runs every completion against the official tests in the sandbox; the audit measures it
   against the data set's labels and draws pass@k.
3. Game of 24 with GPT-4, two prompts (examples/data/game24-gpt4): coverage at 100 samples from the labels,
   and against it what majority vote makes of them (an HTML report for each prompt); then the `ensemble`
   selector against majority vote: three small checks on each answer's form (examples/weak_checks.py) go into
   the samples' metadata as weak signals, and `assay select` picks one answer per puzzle with each selector,
   without labels; the labels only score the choices.
4. The review page (`assay review`) on the HumanEval slice and its verdicts: where a browser is installed
   (Chromium and chromedriver, with selenium), a screenshot of it in OUT/review/review.png; and the command
   that opens it, to label samples by hand.

Every step is a plain `assay` command, printed before it runs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"


def assay(*args: str, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "assay", *args]
    shown = " ".join(shlex.quote(str(Path(a).relative_to(ROOT)) if a.startswith(str(ROOT)) else a) for a in args)
    print(f"\n$ assay {shown}", flush=True)
    result = subprocess.run(command, text=True, capture_output=quiet)
    if result.returncode != 0:
        if quiet:
            print(result.stdout + result.stderr, file=sys.stderr)
        raise SystemExit(f"demo: `assay {args[0]}` failed with exit status {result.returncode}")
    return result


def installed(verifier: str) -> bool:
    from assay.plugins import get_registry

    return verifier in get_registry().verifiers


def verify(tasks: str, samples: str, verifier: str, out: Path) -> list[str]:
    """`assay verify` into OUT/<name>-<verifier>-verdicts.jsonl; the `--verdicts` arguments for the audit
    (none when the verifier's plugin is not installed: the audit then works from the labels alone)."""
    if not installed(verifier):
        print(f"\nThe {verifier} verifier (plugins/assay-{verifier}) is not installed: auditing from the labels alone.")
        return []
    verdict_file = str(out / f"{Path(tasks).parent.name}-{verifier}-verdicts.jsonl")
    store = str(out / "verdicts.sqlite")
    assay(
        "verify",
        tasks,
        samples,
        "--verifier",
        verifier,
        "-o",
        verdict_file,
        "--overwrite",
        "--store",
        store,
        "--jobs",
        "2",
    )
    return ["--verdicts", verdict_file]


def write_with_checks(tasks: str, samples: str, out: Path) -> None:
    """The samples, each with the weak checks of examples/weak_checks.py in its metadata."""
    sys.path.insert(0, str(ROOT))
    from examples.weak_checks import game24_checks

    with gzip.open(tasks, "rt") as handle:
        puzzles = {task["id"]: task["reference"] for task in map(json.loads, handle)}
    with gzip.open(samples, "rt") as handle, out.open("w") as written:
        for sample in map(json.loads, handle):
            puzzle = puzzles[sample["task_id"]]
            sample["metadata"] = game24_checks(puzzle["numbers"], puzzle["target"], sample["text"])
            written.write(json.dumps(sample) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the assay demo on the bundled real data.")
    parser.add_argument("--out", default=str(ROOT / "out" / "demo"), help="where verdicts and reports go")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    svamp = DATA / "svamp-pot-codex"
    tasks, samples = str(svamp / "tasks.jsonl.gz"), str(svamp / "samples.jsonl.gz")
    verdicts = verify(tasks, samples, "math", out)
    report_dir = out / "svamp"
    assay("audit", tasks, samples, *verdicts, "-o", str(report_dir))

    humaneval = DATA / "humaneval-codegen16b"
    tasks, samples = str(humaneval / "tasks.jsonl.gz"), str(humaneval / "samples.jsonl.gz")
    verdicts = verify(tasks, samples, "code", out)
    assay("audit", tasks, samples, *verdicts, "--k", "1,2,5,10,20,50,100", "-o", str(out / "humaneval"))
    review_args = [tasks, samples, *verdicts, "--labels", str(out / "review" / "labels.sqlite")]

    game24 = DATA / "game24-gpt4"
    coverage = {}
    for prompt, title in (("io", "input-output prompt"), ("cot", "chain-of-thought prompt")):
        assay(
            "audit",
            str(game24 / "tasks.jsonl.gz"),
            str(game24 / f"samples-{prompt}.jsonl.gz"),
            "--k",
            "1,10,100",
            "--title",
            f"Game of 24, GPT-4, {title}",
            "-o",
            str(out / f"game24-{prompt}"),
            quiet=True,
        )
        report = json.loads((out / f"game24-{prompt}" / "report.json").read_text())
        coverage[prompt] = report["curves"][0]["value"]
    print("\nGame of 24 (GPT-4), coverage at k = 1, 10, 100:")
    for prompt, label in (("io", "input-output prompt"), ("cot", "chain-of-thought prompt")):
        print(f"  {label:24s} " + "  ".join(f"{100 * v:5.1f} %" for v in coverage[prompt]))

    print("\nGame of 24: one answer per puzzle from 100 samples, no labels used to choose (ensemble: answer")
    print("form checks as weak signals in the samples' metadata, used where the vote confirms them):")
    for prompt, label in (("io", "input-output prompt"), ("cot", "chain-of-thought prompt")):
        tasks = str(game24 / "tasks.jsonl.gz")
        with_checks = out / f"game24-{prompt}-with-checks.jsonl"
        write_with_checks(tasks, str(game24 / f"samples-{prompt}.jsonl.gz"), with_checks)
        right = {}
        for selector in ("majority", "ensemble"):
            chosen = out / f"game24-{prompt}-{selector}.jsonl"
            assay("select", tasks, str(with_checks), "--selector", selector, "-o", str(chosen), quiet=True)
            lines = [json.loads(line) for line in chosen.read_text().splitlines()]
            right[selector] = sum(bool(line.get("label")) for line in lines) / len(lines)
        print(
            f"  {label:24s} majority {100 * right['majority']:5.1f} %   ensemble {100 * right['ensemble']:5.1f} %"
            f"   (coverage {100 * coverage[prompt][-1]:5.1f} %)"
        )

    screenshot = review_screenshot(review_args, out / "review" / "review.png")

    print(f"\nDone in {time.perf_counter() - started:.0f} s. Open the reports: {report_dir / 'report.html'}")
    print(f"                  {out / 'humaneval' / 'report.html'}")
    print(f"                  {out / 'game24-cot' / 'report.html'}")
    if screenshot is not None:
        print(f"The review page, as a screenshot: {screenshot}")
    print("Label samples by hand on the review page (then open http://127.0.0.1:8000/):")
    print(f"  assay review {' '.join(shlex.quote(shown_path(arg)) for arg in review_args)}")
    return 0


def shown_path(arg: str) -> str:
    return str(Path(arg).relative_to(ROOT)) if arg.startswith(str(ROOT)) else arg


def review_screenshot(review_args: list[str], path: Path, *, width: int = 1440, height: int = 1050) -> Path | None:
    """Start `assay review` on a free loopback port, sign in with headless Chromium, save the page as a PNG.
    None (and a line saying why) where there is no browser: selenium, chromium and chromedriver are needed."""
    import shutil
    import tempfile

    chromium, driver_path = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        chromium = None
    if chromium is None or driver_path is None:
        print("\nNo browser here (chromium, chromedriver and selenium): no screenshot of the review page.")
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "assay", "review", *review_args, "--port", "0"]
    shown = " ".join(shlex.quote(shown_path(arg)) for arg in review_args)
    print(f"\n$ assay review {shown} --port 0   (for a screenshot)")
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    profile = tempfile.mkdtemp(prefix="assay-demo-chromium-")
    browser = None
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        if "http://" not in first:
            print(f"assay review did not start: {first}{server.stdout.read()}", file=sys.stderr)
            return None
        url = first.split("http://", 1)[1].split()[0]
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--window-size={width},{height}", f"--user-data-dir={profile}",
        ):  # fmt: skip
            options.add_argument(flag)
        browser = webdriver.Chrome(options=options, service=Service(driver_path))
        browser.get(f"http://{url}login")
        name = browser.find_element(By.ID, "name")
        name.send_keys("demo")
        name.submit()
        WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "review"))
        browser.save_screenshot(str(path))
        return path
    finally:
        if browser is not None:
            browser.quit()
        server.terminate()
        server.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
