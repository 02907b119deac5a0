"""The review page in a real browser: Debian's headless Chromium driven by Selenium, against `assay review`
running as its own process on loopback.

Skipped, with the reason, where there is no Chromium or chromedriver; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.audit.human import cohen_kappa
from assay.jsonl import write_jsonl

CHROMIUM = os.environ.get("ASSAY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("ASSAY_CHROMEDRIVER") or shutil.which("chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
XSS_MATH = "$\\text{<img src=x onerror=window.__xss=3>}$ [link](javascript:window.__xss=4)"


def _missing_browser() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install 'assay[test]')"
    if CHROMIUM is None:
        return "no Chromium here (Debian: apt-get install chromium chromium-driver)"
    if CHROMEDRIVER is None:
        return "no chromedriver here (Debian: apt-get install chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Callable[[], Any]]:
    """Starts fresh Chromium sessions (each with its own profile, so its own cookies); quits them all."""
    missing = _missing_browser()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the browser tests to run: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []
    profiles: list[str] = []

    def start() -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        profile = tempfile.mkdtemp(prefix="assay-chromium-")
        profiles.append(profile)
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        driver.set_page_load_timeout(30)
        drivers.append(driver)
        return driver

    try:
        yield start
    finally:
        for driver in drivers:
            driver.quit()
        for profile in profiles:
            shutil.rmtree(profile, ignore_errors=True)


def write_data(folder: Path, *, text: Callable[[int, int], str] | None = None, prompt: str = "") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    tasks = [
        {"id": f"t{t}", "prompt": prompt or f"Compute $\\frac{{{t}}}{{2}}$.", "reference": {"answer": str(t / 2)}}
        for t in range(4)
    ]
    samples, verdicts = [], []
    for t in range(4):
        for j in range(8):
            samples.append({"task_id": f"t{t}", "index": j, "text": text(t, j) if text else f"The answer is {j % 3}."})
            passed = j % 3 == 0
            verdicts.append(
                {
                    "task_id": f"t{t}",
                    "sample_index": j,
                    "verifier": "math@1",
                    "status": "pass" if passed else "fail",
                    "passed": passed,
                    "answer": str(j % 3),
                    "reason": None if passed else (XSS if text else "wrong_answer"),
                    "details": {"got": XSS} if text else {},
                }
            )
    return [
        write_jsonl(folder / "tasks.jsonl", tasks),
        write_jsonl(folder / "samples.jsonl", samples),
        write_jsonl(folder / "verdicts.jsonl", verdicts),
    ]


class Server:
    def __init__(self, files: list[Path], labels: Path, *extra: str) -> None:
        tasks, samples, verdicts = files
        self.labels = labels
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "assay", "review", str(tasks), str(samples), "--verdicts", str(verdicts)),
                *("--labels", str(labels), "--port", "0", *extra),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        found = re.search(r"(http://\S+/)", first)
        if found is None:
            self.process.kill()
            raise AssertionError(f"assay review did not start: {first}{self.process.stdout.read()}")
        self.url = found.group(1)
        for _ in range(200):
            try:
                httpx.get(self.url + "healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(files: list[Path], *extra: str) -> Server:
        server = Server(files, tmp_path / "labels.sqlite", *extra)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


def sign_in(driver: Any, url: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "login")
    field = driver.find_element(By.ID, "name")
    field.send_keys(name)
    field.submit()
    wait_for(driver, lambda d: d.find_elements(By.ID, "review"))


def _vanished(exc: Exception) -> bool:
    """Chromium's way of saying an element was replaced between finding and reading it."""
    return "does not belong to the document" in str(exc)


def wait_for(driver: Any, condition: Callable[[Any], Any], timeout: float = 15) -> Any:
    from selenium.common.exceptions import (
        JavascriptException,
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    # The page is replaced while it navigates or re-renders: an element or script may vanish mid-check (as a
    # stale element, or as Chromium's inspector error); try again. Any other driver error fails the test.
    def check(d: Any) -> Any:
        try:
            return condition(d)
        except WebDriverException as exc:
            if _vanished(exc):
                return False
            raise

    ignored = (StaleElementReferenceException, NoSuchElementException, JavascriptException)
    return WebDriverWait(driver, timeout, ignored_exceptions=ignored).until(check)


def position(driver: Any) -> str:
    """The position of the sample on the page, once the page has loaded."""

    def loaded(d: Any) -> str | None:
        found = d.execute_script(
            "return document.readyState === 'complete' && document.getElementById('review').dataset.position"
        )
        return found if isinstance(found, str) and found else None

    return str(wait_for(driver, loaded))


def moved_from(driver: Any, before: str) -> str:
    """Waits until the page shows another sample than `before`; returns its position."""
    return str(wait_for(driver, lambda d: (now := position(d)) != before and now))


def press(driver: Any, key: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()


def label_with_keys(driver: Any, keys: str) -> list[str]:
    """Press each key on a fresh sample and wait for the page to move on; returns the positions labelled."""
    labelled = []
    for key in keys:
        before = position(driver)
        labelled.append(before)
        press(driver, key)
        moved_from(driver, before)
    return labelled


def stored_labels(path: Path) -> list[tuple[str, str, int, str]]:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT reviewer, task_id, sample_index, label FROM labels ORDER BY id").fetchall()
    finally:
        db.close()


def test_ten_keyboard_labels_are_kept_across_a_reload(
    browser: Callable[[], Any], serve: Callable[..., Server], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    server = serve(write_data(tmp_path / "data"), "--double-share", "0")
    driver = browser()
    sign_in(driver, server.url, "ann")
    keys = "1231231231"
    positions = label_with_keys(driver, keys)
    assert len(set(positions)) == 10
    driver.refresh()
    wait_for(driver, lambda d: d.find_element(By.ID, "mine-count").text == "10")
    assert driver.find_element(By.ID, "labelled-count").text == "10"
    names = {"1": "correct", "2": "wrong", "3": "unsure"}
    rows = stored_labels(server.labels)
    assert [(reviewer, label) for reviewer, _, _, label in rows] == [("ann", names[k]) for k in keys]
    # Back with k: the last sample shows the label it was given.
    before = position(driver)
    press(driver, "k")
    assert moved_from(driver, before) == positions[-1]
    chosen = driver.find_element(By.CSS_SELECTOR, ".choice.chosen")
    assert chosen.get_attribute("data-label") == names[keys[-1]]
    # u takes the last label back (a new row), and the page goes to that sample.
    press(driver, "u")
    wait_for(driver, lambda d: d.find_element(By.ID, "mine-count").text == "9")
    assert position(driver) == positions[-1]
    assert not driver.find_elements(By.CSS_SELECTOR, ".choice.chosen")
    assert len(stored_labels(server.labels)) == 11
    # A note typed on the page is saved with the label; keys typed into it are text, not shortcuts.
    driver.find_element(By.ID, "note").send_keys("j k 1 looks fine")
    driver.find_element(By.CSS_SELECTOR, ".choice.correct").click()
    moved_from(driver, positions[-1])
    assert stored_labels(server.labels)[-1][3] == "correct"


def test_xss_in_every_field_renders_as_text(
    browser: Callable[[], Any], serve: Callable[..., Server], tmp_path: Path
) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    files = write_data(tmp_path / "data", text=lambda t, j: f"{XSS}\n\n{XSS_MATH}", prompt=f"Solve: {XSS} {XSS_MATH}")
    server = serve(files)
    driver = browser()
    sign_in(driver, server.url, "ann")
    for details in driver.find_elements(By.CSS_SELECTOR, "details"):
        driver.execute_script("arguments[0].open = true", details)
    time.sleep(0.3)
    assert driver.execute_script("return window.__xss === undefined")
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    assert driver.find_element(By.ID, "sample-raw").text == f"{XSS}\n\n{XSS_MATH}"
    assert "<script>window.__xss = 1</script>" in driver.find_element(By.ID, "sample-text").text
    assert "<script>window.__xss = 1</script>" in driver.find_element(By.ID, "problem").text
    assert not driver.find_elements(By.CSS_SELECTOR, "#review script, #review img, #review iframe")
    assert not driver.find_elements(By.CSS_SELECTOR, "a[href^='javascript']")
    # A note carrying the payload comes back as text too.
    driver.find_element(By.ID, "note").send_keys(XSS)
    before = position(driver)
    driver.find_element(By.CSS_SELECTOR, ".choice.wrong").click()
    moved_from(driver, before)
    press(driver, "k")
    wait_for(driver, lambda d: position(d) == before)
    assert driver.find_element(By.ID, "note").get_attribute("value") == XSS
    assert driver.execute_script("return window.__xss === undefined")


def test_two_reviewers_agreement_is_computed(
    browser: Callable[[], Any], serve: Callable[..., Server], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    files = write_data(tmp_path / "data")
    server = serve(files, "--double-share", "1")
    ann, bob = browser(), browser()
    sign_in(ann, server.url, "ann")
    ann_keys, bob_keys = "112212", "122213"
    ann_positions = label_with_keys(ann, ann_keys)
    sign_in(bob, server.url, "bob")
    # Every sample was drawn for two reviewers: bob is shown ann's samples first, without her labels.
    assert "1 other reviewer labelled this sample" in bob.find_element(By.ID, "status-line").text
    assert not bob.find_elements(By.CSS_SELECTOR, ".choice.chosen")
    bob_positions = label_with_keys(bob, bob_keys)
    assert bob_positions == ann_positions
    bob.refresh()
    wait_for(bob, lambda d: d.find_element(By.ID, "double-count").text == "6")
    out = tmp_path / "audit"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "assay", "audit", str(files[0]), str(files[1]), "--verdicts", str(files[2])),
            *("--labels", str(server.labels), "-o", str(out)),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "human_labels.json").read_text())
    names = {"1": "correct", "2": "wrong", "3": "unsure"}
    expected = cohen_kappa([names[k] for k in ann_keys], [names[k] for k in bob_keys])
    (pair,) = report["agreement"]["pairs"]
    assert (pair["a"], pair["b"], pair["samples"]) == ("ann", "bob", 6)
    assert pair["agreement"] == pytest.approx(4 / 6, abs=1e-6)
    assert pair["cohen_kappa"] == pytest.approx(expected, abs=1e-6)
    assert report["agreement"]["fleiss_kappa"] is not None
    assert "Cohen's kappa ann / bob" in result.stdout


def test_demo_screenshot_of_the_review_page(browser: Callable[[], Any], tmp_path: Path) -> None:
    import importlib.util
    import struct

    spec = importlib.util.spec_from_file_location(
        "assay_demo", Path(__file__).resolve().parents[1] / "examples" / "demo.py"
    )
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    tasks, samples, verdicts = write_data(tmp_path / "data")
    args = [str(tasks), str(samples), "--verdicts", str(verdicts), "--labels", str(tmp_path / "labels.sqlite")]
    shot = demo.review_screenshot(args, tmp_path / "review" / "review.png")
    assert shot == tmp_path / "review" / "review.png"
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert width >= 1200 and height >= 700
