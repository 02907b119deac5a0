"""The audit's report.html in a real browser (Debian's headless Chromium through Selenium): it renders, reads
at a glance (title, headline sentence, short input names), and every figure shows a mark for each entry of
its legend, so that no curve hides under another. Full-page screenshots are written beside the report.

Skipped, with the reason, where there is no Chromium or chromedriver; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.cli import main
from assay.jsonl import write_jsonl

CHROMIUM = os.environ.get("ASSAY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("ASSAY_CHROMEDRIVER") or shutil.which("chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1280,1000")  # fmt: skip

#: Per legend kind, the fewest pixels of its colour a figure must show: a legend handle alone has fewer.
MIN_PIXELS = {"line": 400, "area": 400, "marker": 60}

#: Counts, for each legend colour, the image pixels within a small distance of it (drawn on a canvas).
COUNT_PIXELS = """
const [img, colours] = arguments;
const canvas = document.createElement('canvas');
canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
const context = canvas.getContext('2d');
context.drawImage(img, 0, 0);
const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
const targets = colours.map(c => [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16)));
const counts = targets.map(() => 0);
for (let p = 0; p < data.length; p += 4) {
  for (let t = 0; t < targets.length; t++) {
    const [r, g, b] = targets[t];
    if (Math.abs(data[p] - r) + Math.abs(data[p + 1] - g) + Math.abs(data[p + 2] - b) <= 30) counts[t]++;
  }
}
return counts;
"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    missing = None
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing = "selenium is not installed (pip install 'assay[test]')"
    if missing is None and (CHROMIUM is None or CHROMEDRIVER is None):
        missing = "no Chromium or chromedriver here (Debian: apt-get install chromium chromium-driver)"
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the browser tests to run: {missing}")
        pytest.skip(missing)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="assay-report-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _audit_data(folder: Path) -> list[Path]:
    """40 problems x 16 samples: a perfect verifier with graded scores (its best-of-n and verified vote equal
    coverage) and a noisy one, so that curves coincide, cross and separate."""
    rng = random.Random(7)
    folder.mkdir(parents=True, exist_ok=True)
    tasks, samples, perfect, noisy = [], [], [], []
    for t in range(40):
        skill = rng.random()
        tasks.append({"id": f"p{t}", "prompt": f"problem {t}", "reference": {"answer": str(t)}})
        for j in range(16):
            right = rng.random() < skill * 0.6
            answer = str(t) if right else str(rng.choice([t + 1, t + 2, t + 3]))
            samples.append({"task_id": f"p{t}", "index": j, "text": answer, "label": right,
                            "metadata": {"dataset": "toy-arithmetic", "model": "toy-model"}})  # fmt: skip
            for verdicts, says in ((perfect, right), (noisy, right if rng.random() < 0.8 else not right)):
                verifier = "perfect@1" if verdicts is perfect else "noisy@1"
                score = (0.6 + 0.4 * rng.random()) if says else 0.5 * rng.random()
                verdicts.append({"task_id": f"p{t}", "sample_index": j, "verifier": verifier,
                                 "status": "pass" if says else "fail", "passed": says, "score": round(score, 3),
                                 "answer": answer, "reason": None if says else "wrong_answer"})  # fmt: skip
    return [
        write_jsonl(folder / "tasks.jsonl", tasks),
        write_jsonl(folder / "samples.jsonl", samples),
        write_jsonl(folder / "perfect.jsonl", perfect),
        write_jsonl(folder / "noisy.jsonl", noisy),
    ]


def test_the_report_reads_at_a_glance_and_shows_every_legend_entry(chromium: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    tasks, samples, *verdicts = _audit_data(tmp_path / "data")
    out = tmp_path / "report"
    args = ["audit", str(tasks), str(samples), "--verdicts", *map(str, verdicts), "-o", str(out), "-q"]
    assert main([*args, "--bootstrap", "200"]) == 0
    report = json.loads((out / "report.json").read_text())

    chromium.get((out / "report.html").as_uri())
    heading = chromium.find_element(By.TAG_NAME, "h1").text
    assert heading.startswith("toy-arithmetic · toy-model: 40 problems, 640 samples")
    headline = chromium.find_element(By.CLASS_NAME, "headline").text
    assert headline.startswith("At k = 16 samples per problem: coverage") and "majority vote" in headline
    inputs = chromium.find_element(By.CLASS_NAME, "inputs").text
    assert "data/samples.jsonl" in inputs and str(tmp_path) not in inputs
    assert chromium.page_source.count("<h2>Coverage fit</h2>") == 1
    perfect = [c["name"] for c in report["curves"] if c["name"].endswith("[perfect@1]")]
    equal = [name for name in perfect if not name.startswith("weighted_majority")]
    body = chromium.find_element(By.TAG_NAME, "body").text
    assert equal and all(f"{name} = coverage" in body for name in equal)

    images = chromium.find_elements(By.TAG_NAME, "img")
    assert len(images) >= 2
    for image in images:
        assert chromium.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image)
        legend = json.loads(image.get_attribute("data-legend") or "[]")
        assert legend, f"{image.get_attribute('alt')}: no legend entries recorded"
        counts = chromium.execute_script(COUNT_PIXELS, image, [entry["color"] for entry in legend])
        for entry, count in zip(legend, counts, strict=True):
            assert count >= MIN_PIXELS[entry["kind"]], (
                f"{image.get_attribute('alt')}: legend entry {entry['label']!r} ({entry['color']}) has {count} pixels"
            )

    height = chromium.execute_script("return document.documentElement.scrollHeight")
    chromium.set_window_size(1280, min(int(height) + 100, 8000))
    screenshot = out / "screenshot.png"
    assert chromium.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 20_000
