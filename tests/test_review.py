"""`assay review` without a browser: the index and its order, the append-only label database, the page
server's safety (CSRF, origin, host, tokens), durability under `kill -9`, the export, and the audit against
human labels. The browser tests are in test_review_browser.py."""

from __future__ import annotations

import html
import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.audit.human import cohen_kappa, fleiss_kappa, human_audit
from assay.cli import main
from assay.jsonl import load_jsonl, write_jsonl
from assay.review import index_path_for, render
from assay.review import labels as label_db
from assay.review.export import export_labels
from assay.review.index import STRATA, Filters, OrderOptions, ReviewIndex, ReviewInputError, SampleView, build_index
from assay.review.session import Review


def write_review_data(folder: Path, tasks: int = 6, per_task: int = 10) -> tuple[Path, Path, list[Path]]:
    """Tasks whose answer is "0"; sample j answers j % 3. `math@1` passes answer 0; `judge@1` agrees except
    on sample 4 (so the verifiers disagree there) and scores sample 7 at 0.45 (near the boundary)."""
    folder.mkdir(parents=True, exist_ok=True)
    task_rows = [{"id": f"t{t}", "prompt": f"What is ${t}-{t}$?", "reference": {"answer": "0"}} for t in range(tasks)]
    samples, math, judge = [], [], []
    for t in range(tasks):
        for j in range(per_task):
            answer = j % 3
            samples.append({"task_id": f"t{t}", "index": j, "text": f"The answer is {answer}."})
            right = answer == 0
            math.append(
                {
                    "task_id": f"t{t}",
                    "sample_index": j,
                    "verifier": "math@1",
                    "status": "pass" if right else "fail",
                    "passed": right,
                    "answer": str(answer),
                    "reason": None if right else "wrong_answer",
                }
            )
            judged = right != (j == 4)
            judge.append(
                {
                    "task_id": f"t{t}",
                    "sample_index": j,
                    "verifier": "judge@1",
                    "status": "pass" if judged else "fail",
                    "passed": judged,
                    "score": 0.45 if j == 7 else float(judged),
                }
            )
    return (
        write_jsonl(folder / "tasks.jsonl", task_rows),
        write_jsonl(folder / "samples.jsonl", samples),
        [write_jsonl(folder / "math.jsonl", math), write_jsonl(folder / "judge.jsonl", judge)],
    )


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path, list[Path]]:
    return write_review_data(tmp_path / "data")


def built(tmp_path: Path, data: tuple[Path, Path, list[Path]], **options: float) -> tuple[Path, ReviewIndex]:
    tasks, samples, verdicts = data
    labels = tmp_path / "labels.sqlite"
    build_index(index_path_for(labels), tasks, samples, verdicts, OrderOptions(**options))  # type: ignore[arg-type]
    return labels, ReviewIndex(index_path_for(labels))


# -- the index and its order ---------------------------------------------------------------------------------


def test_strata_follow_the_verdicts(tmp_path: Path, data: tuple[Path, Path, list[Path]]) -> None:
    _, index = built(tmp_path, data)
    strata = {}
    for position in range(index.total):
        task_id, sample_index, stratum, _ = index.key(position)  # type: ignore[misc]
        strata[(task_id, sample_index)] = stratum
    for t in range(6):
        assert strata[(f"t{t}", 4)] == "verifiers_disagree"
        assert strata[(f"t{t}", 7)] == "near_boundary"
        # Answer 0 is the majority (samples 0, 3, 6, 9): its first sample is what majority vote picks.
        assert strata[(f"t{t}", 0)] == "selected_answer"
        assert strata[(f"t{t}", 1)] == "uniform"
    assert index.populations == {
        "verifiers_disagree": 6,
        "disagrees_with_majority": 0,
        "near_boundary": 6,
        "selected_answer": 6,
        "uniform": 42,
    }


def test_a_verdict_against_the_majority_answer_is_its_own_stratum(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    tasks = write_jsonl(folder / "t.jsonl", [{"id": "a", "prompt": "p"}])
    samples = write_jsonl(folder / "s.jsonl", [{"task_id": "a", "index": j, "text": str(j % 2)} for j in range(5)])
    # Majority answer "0" (samples 0, 2, 4); the verifier passes sample 1 (answer "1") and fails sample 2.
    passed = {0: True, 1: True, 2: False, 3: False, 4: True}
    verdicts = write_jsonl(
        folder / "v.jsonl",
        [
            {
                "task_id": "a",
                "sample_index": j,
                "verifier": "v@1",
                "status": "pass" if p else "fail",
                "passed": p,
                "answer": str(j % 2),
            }
            for j, p in passed.items()
        ],
    )
    _, index = built(tmp_path, (tasks, samples, [verdicts]))
    strata = {index.key(p)[1]: index.key(p)[2] for p in range(index.total)}  # type: ignore[index]
    assert strata[1] == strata[2] == "disagrees_with_majority"
    assert strata[0] == "selected_answer"
    assert strata[3] == strata[4] == "uniform"


def test_order_is_informative_first_with_a_uniform_share_and_seeded(tmp_path: Path) -> None:
    data = write_review_data(tmp_path / "big", tasks=40, per_task=10)
    _, index = built(tmp_path, data, random_share=0.25)
    strata = [index.key(p)[2] for p in range(index.total)]  # type: ignore[index]
    informative = [s for s in strata if s != "uniform"]
    # Informative strata come in priority order.
    assert informative == sorted(informative, key=STRATA.index)
    # A quarter of the first 80 places go to the uniform slice.
    assert 18 <= strata[:80].count("uniform") <= 22
    again = tmp_path / "again"
    build_index(again, *data[:2], data[2], OrderOptions(random_share=0.25))
    assert [ReviewIndex(again).key(p) for p in range(index.total)] == [index.key(p) for p in range(index.total)]
    other = tmp_path / "other"
    build_index(other, *data[:2], data[2], OrderOptions(random_share=0.25, seed=1))
    assert [ReviewIndex(other).key(p) for p in range(50)] != [index.key(p) for p in range(50)]


def test_double_share_marks_that_share(tmp_path: Path) -> None:
    data = write_review_data(tmp_path / "big", tasks=100, per_task=20)
    _, index = built(tmp_path, data, double_share=0.2)
    doubles = sum(index.key(p)[3] for p in range(index.total))  # type: ignore[index,misc]
    assert 0.17 * 2000 < doubles < 0.23 * 2000


def test_index_is_rebuilt_when_an_input_changes(tmp_path: Path, data: tuple[Path, Path, list[Path]]) -> None:
    tasks, samples, verdicts = data
    target = tmp_path / "idx"
    first = build_index(target, tasks, samples, verdicts)
    assert build_index(target, tasks, samples, verdicts) == first
    with open(samples, "a") as handle:
        handle.write(json.dumps({"task_id": "t0", "index": 99, "text": "late"}) + "\n")
    second = build_index(target, tasks, samples, verdicts)
    assert second != first
    assert ReviewIndex(target).total == 61


def test_bad_input_names_file_line_and_field(tmp_path: Path, data: tuple[Path, Path, list[Path]]) -> None:
    tasks, samples, verdicts = data
    with open(samples, "a") as handle:
        handle.write(json.dumps({"task_id": "t0", "index": 3, "text": "again"}) + "\n")
        handle.write(json.dumps({"task_id": "nope", "index": 0, "text": "x"}) + "\n")
        handle.write(json.dumps({"task_id": "t1", "index": -2, "text": "x"}) + "\n")
    with open(verdicts[0], "a") as handle:
        handle.write(
            json.dumps({"task_id": "t0", "sample_index": 500, "verifier": "math@1", "status": "skipped"}) + "\n"
        )
    with pytest.raises(ReviewInputError) as caught:
        build_index(tmp_path / "idx", tasks, samples, verdicts)
    message = str(caught.value)
    assert f"{samples}:61: field 'index': sample 3 of this task also on line 4" in message
    assert f"{samples}:62: field 'task_id': no task 'nope'" in message
    assert f"{samples}:63: field 'index'" in message
    assert not list(tmp_path.glob("idx*"))
    with open(samples) as handle:
        good = handle.readlines()[:60]
    samples.write_text("".join(good))
    with pytest.raises(ReviewInputError) as caught:
        build_index(tmp_path / "idx", tasks, samples, verdicts)
    assert f"{verdicts[0]}:61: field 'sample_index': no sample 500 of task 't0'" in str(caught.value)


# -- the label database --------------------------------------------------------------------------------------


def test_labels_are_append_only(tmp_path: Path) -> None:
    db = label_db.connect(tmp_path / "l.sqlite")
    row_id = label_db.add(db, "ann", "t0", 1, "correct", sampling="uniform", design="d")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE labels SET label = 'wrong' WHERE id = ?", (row_id,))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM labels")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(
            "INSERT INTO labels (reviewer, task_id, sample_index, label, created, sampling, design)"
            " VALUES ('ann', 't0', 1, 'maybe', 0, 'uniform', 'd')"
        )


def test_a_change_and_an_undo_are_new_rows(tmp_path: Path) -> None:
    db = label_db.connect(tmp_path / "l.sqlite")
    label_db.add(db, "ann", "t0", 1, "correct", sampling="uniform", design="d")
    label_db.add(db, "ann", "t0", 1, "wrong", note="off by one", sampling="uniform", design="d")
    label_db.add(db, "ann", "t0", 2, "unsure", sampling="uniform", design="d")
    label_db.add(db, "bob", "t0", 1, "correct", sampling="uniform", design="d")
    assert [r.label for r in label_db.latest(db)] == ["wrong", "correct", "unsure"]
    undone = label_db.undo(db, "ann", "d")
    assert undone is not None and (undone.sample_index, undone.label) == (2, "none")
    undone = label_db.undo(db, "ann", "d")
    assert undone is not None and (undone.sample_index, undone.label) == (1, "correct")
    undone = label_db.undo(db, "ann", "d")
    assert undone is not None and undone.label == "none"
    assert label_db.undo(db, "ann", "d") is None
    assert db.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 7
    assert [(r.reviewer, r.label) for r in label_db.latest(db)] == [("bob", "correct")]


def test_review_tracks_what_is_left_to_label(tmp_path: Path, data: tuple[Path, Path, list[Path]]) -> None:
    labels, _ = built(tmp_path, data, double_share=0.0)
    review = Review(index_path_for(labels), labels)
    first = review.next_position("ann", -1, Filters())
    assert first == 0
    review.save("ann", 0, "correct", "", browsed=False)
    assert review.next_position("ann", -1, Filters()) == 1
    assert review.next_position("bob", -1, Filters()) == 1  # one label is all a single sample wants
    assert review.progress("ann").labelled == 1 and review.progress("ann").todo == 59
    assert review.undo("ann") is not None
    assert review.next_position("bob", -1, Filters()) == 0
    # Filters narrow the queue; a label given under one is recorded as browsed.
    position = review.next_position("ann", -1, Filters(task="t3", status="fail", verifier="judge@1"))
    assert position is not None
    sample = review.sample(position)
    assert sample is not None and sample.task_id == "t3"
    assert any(v.verifier == "judge@1" and v.status == "fail" for v in sample.verdicts)
    assert review.save("ann", position, "wrong", "", browsed=True).sampling == label_db.BROWSED
    assert review.next_position("ann", -1, Filters(task="missing")) is None
    review.close()
    # Restarting rebuilds the derived state from the labels alone.
    again = Review(index_path_for(labels), labels)
    assert again.progress("ann").mine == 1 and again.labels_at(position) == {"ann": "wrong"}


def test_filtered_walks_match_a_plain_scan(tmp_path: Path, data: tuple[Path, Path, list[Path]]) -> None:
    """Every way of walking the queue (driven by whichever index fits the filters) finds exactly the samples a
    plain scan over all of them finds, in order, forwards and backwards, and with the to-label rule."""
    labels, index = built(tmp_path, data, double_share=0.3)
    review = Review(index_path_for(labels), labels)
    for position in range(0, index.total, 3):
        review.save("ann", position, "correct", "", browsed=False)
    samples = [index.sample(p) for p in range(index.total)]
    mine = {p for p in range(0, index.total, 3)}
    for task, verifier, status, disagree in itertools.product(
        (None, "t0", "t3", "nope"),
        (None, "math@1", "judge@1", "nope@1"),
        (None, "pass", "fail", "error"),
        (False, True),
    ):
        filters = Filters(task=task, verifier=verifier, status=status, disagree=disagree)

        def matches(sample: SampleView | None, filters: Filters = filters) -> bool:
            assert sample is not None
            verdicts = [
                v
                for v in sample.verdicts
                if (filters.verifier is None or v.verifier == filters.verifier)
                and (filters.status is None or v.status == filters.status)
            ]
            return (
                (filters.task is None or sample.task_id == filters.task)
                and (not filters.disagree or len({v.passed for v in sample.verdicts if v.passed is not None}) > 1)
                and (bool(verdicts) if filters.verifier is not None or filters.status is not None else True)
            )

        expected = [p for p, sample in enumerate(samples) if matches(sample)]
        walked, at = [], -1
        while (at := review.next_position("ann", at, filters, todo=False)) is not None:  # type: ignore[assignment]
            walked.append(at)
        assert walked == expected, filters
        backwards, at = [], index.total
        while (at := review.previous_position(at, filters)) is not None:  # type: ignore[assignment]
            backwards.append(at)
        assert backwards == expected[::-1], filters
        wanted = [p for p in expected if p not in mine]
        todo, at = [], -1
        while (at := review.next_position("bob", at, filters)) is not None:  # type: ignore[assignment]
            todo.append(at)
        want_bob = [p for p in expected if p not in mine or samples[p].double]  # type: ignore[union-attr]
        assert todo == want_bob, filters
        todo_ann, at = [], -1
        while (at := review.next_position("ann", at, filters)) is not None:  # type: ignore[assignment]
            todo_ann.append(at)
        assert todo_ann == wanted, filters


def test_double_labelled_samples_wait_for_a_second_reviewer(
    tmp_path: Path, data: tuple[Path, Path, list[Path]]
) -> None:
    labels, _ = built(tmp_path, data, double_share=1.0)
    review = Review(index_path_for(labels), labels)
    review.save("ann", 0, "correct", "", browsed=False)
    assert review.next_position("ann", -1, Filters()) == 1
    assert review.next_position("bob", -1, Filters()) == 0
    review.save("bob", 0, "wrong", "", browsed=False)
    assert review.next_position("cid", -1, Filters()) == 1
    assert review.progress("x").double == 1


# -- rendering untrusted text --------------------------------------------------------------------------------

PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    "[click](javascript:window.__xss=1)",
    "$\\text{<img src=x onerror=alert(1)>}$",
    "$\\href{javascript:alert(1)}{x}$",
    "```html\n<script>alert(1)</script>\n```",
    "<svg onload=alert(1)>",
    '"><iframe srcdoc="<script>alert(1)</script>">',
]
SAFE_TAGS = {
    "p", "em", "strong", "code", "pre", "span", "a", "ul", "ol", "li", "blockquote", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "br", "table", "thead", "tbody", "tr", "th", "td", "s", "div", "img",
}  # fmt: skip
SAFE_TAGS |= set(render._MATHML_ELEMENTS)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def assert_safe(markup: str) -> None:
    parser = _Tags()
    parser.feed(markup)
    for tag, attrs in parser.found:
        assert tag in SAFE_TAGS, (tag, markup)
        assert tag != "img" or all(
            name in ("src", "alt") and not (value or "").startswith("x") for name, value in attrs
        )
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name, markup)
            if name in ("href", "src"):
                assert (value or "").lower().startswith(("http://", "https://", "mailto:", "#")), markup


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_render_as_text(payload: str) -> None:
    for rendered in (render.markdown(payload), render.sample(payload), render.reference({"answer": payload})):
        assert_safe(str(rendered))


def test_payload_text_stays_visible() -> None:
    rendered = str(render.sample("<script>window.__xss=1</script>"))
    assert html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip() == "<script>window.__xss=1</script>"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([*PAYLOADS, "$", "$$", "\\", "`", "\n", "<", ">", '"', "{", "}", "\\text{", "\\frac"]),
            st.text(max_size=12),
        ),
        max_size=12,
    )
)
def test_any_text_renders_without_active_markup(parts: list[str]) -> None:
    text = "".join(parts)
    assert_safe(str(render.markdown(text)))
    assert_safe(str(render.sample(text)))


def test_latex_becomes_mathml_and_code_is_highlighted() -> None:
    assert "<mfrac>" in str(render.markdown("Half is $\\frac{1}{2}$."))
    assert 'class="k">def</span>' in str(render.sample("def f(x):\n    return x\n"))


# -- the page server, over real HTTP -------------------------------------------------------------------------


class Served:
    def __init__(self, process: subprocess.Popen[str], url: str, lines: list[str]) -> None:
        self.process = process
        self.url = url
        self.lines = lines


def serve(args: list[str], env: dict[str, str] | None = None) -> Served:
    process = subprocess.Popen(
        [sys.executable, "-m", "assay", "review", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError("assay review exited: " + "".join(lines))
        lines.append(line)
        found = re.search(r"assay review: (http://\S+/)", line)
        if found:
            url = found.group(1)
            break
    else:
        process.kill()
        raise AssertionError("assay review did not start")
    served = Served(process, url, lines)
    for _ in range(200):
        try:
            if httpx.get(url + "healthz", timeout=2).status_code == 200:
                if "token" in " ".join(args) or "--reviewer" in args:
                    # Token lines follow the URL line.
                    time.sleep(0.1)
                return served
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("assay review did not answer")


def stop(served: Served) -> None:
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
        try:
            served.process.wait(10)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait()


@pytest.fixture
def server(tmp_path: Path, data: tuple[Path, Path, list[Path]]) -> Iterator[tuple[Served, Path]]:
    tasks, samples, verdicts = data
    labels = tmp_path / "labels.sqlite"
    served = serve([str(tasks), str(samples), "--verdicts", *map(str, verdicts), "--labels", str(labels)])
    try:
        yield served, labels
    finally:
        stop(served)


def signed_in(url: str, name: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url, timeout=10)
    response = client.post("/login", data={"name": name})
    assert response.status_code == 303
    page = client.get("/")
    csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text)
    assert csrf is not None
    return client, csrf.group(1)


def test_posts_need_the_csrf_token_and_the_same_origin(server: tuple[Served, Path]) -> None:
    served, labels = server
    client, csrf = signed_in(served.url, "ann")
    body = {"position": 0, "label": "correct"}
    assert client.post("/api/label", json=body).status_code == 403
    assert client.post("/api/label", json=body, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    evil = {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
    assert client.post("/api/label", json=body, headers=evil).status_code == 403
    opaque = {"X-CSRF-Token": csrf, "Origin": "null"}  # a sandboxed frame or a file: page
    assert client.post("/api/label", json=body, headers=opaque).status_code == 403
    assert httpx.post(served.url + "login", data={"name": "eve"}, headers={"Origin": "null"}).status_code == 403
    cross = {"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}
    assert client.post("/api/label", json=body, headers=cross).status_code == 403
    anonymous = httpx.post(served.url + "api/label", json=body, headers={"X-CSRF-Token": csrf})
    assert anonymous.status_code == 401
    # A forged cookie (another name, no valid signature) is nobody.
    forged = httpx.get(served.url, cookies={"assay_review": "mallory.abc"}, follow_redirects=False)
    assert forged.status_code == 303 and forged.headers["location"] == "/login"
    assert not load_labels(labels)
    saved = client.post("/api/label", json=body, headers={"X-CSRF-Token": csrf})
    assert saved.status_code == 200 and saved.json()["label"] == "correct"
    assert [row["label"] for row in load_labels(labels)] == ["correct"]


def test_page_refuses_other_host_names_and_sets_a_strict_policy(server: tuple[Served, Path]) -> None:
    served, _ = server
    rebinding = httpx.get(served.url + "login", headers={"Host": "attacker.example"})
    assert rebinding.status_code == 421
    page = httpx.get(served.url + "login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]


def test_labels_survive_kill_9(tmp_path: Path, data: tuple[Path, Path, list[Path]]) -> None:
    tasks, samples, verdicts = data
    labels = tmp_path / "labels.sqlite"
    args = [str(tasks), str(samples), "--verdicts", *map(str, verdicts), "--labels", str(labels)]
    served = serve(args)
    try:
        client, csrf = signed_in(served.url, "ann")
        for position in range(8):
            response = client.post(
                "/api/label",
                json={"position": position, "label": "wrong", "note": f"n{position}"},
                headers={"X-CSRF-Token": csrf},
            )
            assert response.status_code == 200
        served.process.send_signal(signal.SIGKILL)
        served.process.wait()
    finally:
        stop(served)
    assert [row["note"] for row in load_labels(labels)] == [f"n{p}" for p in range(8)]
    again = serve(args)
    try:
        client, _ = signed_in(again.url, "ann")
        assert re.search(r'id="mine-count">8<', client.get("/").text)
    finally:
        stop(again)


def test_beyond_loopback_reviewers_sign_in_with_tokens(tmp_path: Path, data: tuple[Path, Path, list[Path]]) -> None:
    tasks, samples, _ = data
    labels = tmp_path / "labels.sqlite"
    args = [str(tasks), str(samples), "--labels", str(labels), "--host", "0.0.0.0"]
    refused = subprocess.run(
        [sys.executable, "-m", "assay", "review", *args, "--port", "0"], capture_output=True, text=True
    )
    assert refused.returncode == 2 and "--reviewer NAME" in refused.stderr
    served = serve([*args, "--reviewer", "ann", "--reviewer", "bob"])
    try:
        assert served.process.stdout is not None
        while len(served.lines) < 3:
            served.lines.append(served.process.stdout.readline())
        links = dict(re.findall(r"sign-in link for (\w+) \(shown once\): \S+login\?token=(\S+)", "".join(served.lines)))
        assert set(links) == {"ann", "bob"}
        base = served.url.replace("0.0.0.0", "127.0.0.1")
        client = httpx.Client(base_url=base)
        assert client.post("/login", data={"name": "ann"}).status_code == 403  # a name alone is not enough
        assert client.get("/login", params={"token": "guess"}).status_code == 403
        response = client.get("/login", params={"token": links["bob"]})
        assert response.status_code == 303
        assert ">bob <form" in client.get("/").text
    finally:
        stop(served)
    stored = sqlite3.connect(labels).execute("SELECT token_sha256 FROM reviewers ORDER BY name").fetchall()
    assert all(row[0] and row[0] not in links.values() for row in stored)


def load_labels(path: Path) -> list[dict[str, object]]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in db.execute("SELECT * FROM labels ORDER BY id")]
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


# -- export and the audit against human labels --------------------------------------------------------------


def label_everything(
    tmp_path: Path, data: tuple[Path, Path, list[Path]], truth: dict[tuple[str, int], bool], **options: float
) -> Path:
    labels, index = built(tmp_path, data, **options)
    review = Review(index_path_for(labels), labels)
    for position in range(index.total):
        task_id, sample_index, _, _ = index.key(position)  # type: ignore[misc]
        review.save("ann", position, "correct" if truth[(task_id, sample_index)] else "wrong", "", browsed=False)
    review.close()
    return labels


def test_export_feeds_the_audit_unchanged(tmp_path: Path, data: tuple[Path, Path, list[Path]]) -> None:
    tasks, samples, verdicts = data
    truth = {(f"t{t}", j): j % 3 == 0 for t in range(6) for j in range(10)}
    labels = label_everything(tmp_path, data, truth)
    out = tmp_path / "labelled.jsonl"
    assert main(["review", str(tasks), str(samples), "--labels", str(labels), "--export", str(out)]) == 0
    rows = load_jsonl(out)
    assert len(rows) == 60
    assert all(row["label"] == truth[(row["task_id"], row["index"])] for row in rows)
    assert rows[0]["metadata"]["review"]["labels"] == {"ann": "correct" if rows[0]["label"] else "wrong"}
    report = tmp_path / "report"
    assert main(["audit", str(tasks), str(out), "--verdicts", *map(str, verdicts), "-o", str(report), "-q"]) == 0
    audited = json.loads((report / "report.json").read_text())
    math = next(v for v in audited["verifiers"] if v["id"] == "math@1")
    assert math["false_positive_rate"]["value"] == 0.0 and math["false_negative_rate"]["value"] == 0.0


def test_export_keeps_other_fields_and_leaves_out_undecided(tmp_path: Path) -> None:
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [{"task_id": "a", "index": j, "text": "x", "extra": j, "metadata": {"k": 1}} for j in range(3)],
    )
    db = label_db.connect(tmp_path / "l.sqlite")
    label_db.add(db, "ann", "a", 0, "correct", sampling="uniform", design="d")
    label_db.add(db, "ann", "a", 1, "correct", sampling="uniform", design="d")
    label_db.add(db, "bob", "a", 1, "wrong", sampling="uniform", design="d")
    db.close()
    counts = export_labels(tmp_path / "l.sqlite", samples, tmp_path / "out.jsonl", include_unlabelled=True)
    rows = load_jsonl(tmp_path / "out.jsonl")
    assert (counts.written, counts.labelled, counts.undecided) == (3, 1, 1)
    assert rows[0]["label"] is True and rows[0]["extra"] == 0 and rows[0]["metadata"]["k"] == 1
    assert "label" not in rows[1] and rows[1]["metadata"]["review"]["labels"] == {"ann": "correct", "bob": "wrong"}
    assert rows[2] == {"task_id": "a", "index": 2, "text": "x", "extra": 2, "metadata": {"k": 1}}


def test_kappas_match_hand_computed_values() -> None:
    # 10 items: raters agree on 7 (4 correct, 3 wrong); p_o = 0.7, p_e = 0.5*0.6 + 0.5*0.4 = 0.5 -> 0.4.
    a = ["correct"] * 5 + ["wrong"] * 5
    b = ["correct"] * 4 + ["wrong"] + ["correct", "correct"] + ["wrong"] * 3
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    assert cohen_kappa([], []) is None
    # With two raters per item Fleiss' kappa is Scott's pi: p_e from pooled counts (11 correct, 9 wrong).
    p_e = (11 / 20) ** 2 + (9 / 20) ** 2
    assert fleiss_kappa(list(zip(a, b, strict=True))) == pytest.approx((0.7 - p_e) / (1 - p_e))
    assert fleiss_kappa([["correct", "correct", "wrong"], ["wrong", "wrong", "wrong"]]) == pytest.approx(
        ((1 / 3 + 1) / 2 - ((2 / 6) ** 2 + (4 / 6) ** 2)) / (1 - ((2 / 6) ** 2 + (4 / 6) ** 2))
    )


def test_human_audit_weights_labels_by_how_they_were_drawn(tmp_path: Path) -> None:
    """Stratum A: 100 samples, 10 labelled; stratum B: 900 samples, 10 labelled. A verifier that passes
    everything: weighted FPR = share of wrong among the population as the strata estimate it."""
    db = label_db.connect(tmp_path / "l.sqlite")
    label_db.record_design(db, "d1", {}, {}, {"a": 100, "b": 900})
    verdicts = []
    for j in range(10):
        label_db.add(db, "ann", "A", j, "wrong" if j < 8 else "correct", sampling="a", design="d1")
        label_db.add(db, "ann", "B", j, "wrong" if j < 1 else "correct", sampling="b", design="d1")
    label_db.add(db, "ann", "C", 0, "wrong", sampling=label_db.BROWSED, design="d1")
    for task in "ABC":
        for j in range(10):
            verdicts.append({"task_id": task, "sample_index": j, "verifier": "yes@1", "status": "pass", "passed": True})
    db.close()
    path = write_jsonl(tmp_path / "v.jsonl", verdicts)
    report = human_audit(tmp_path / "l.sqlite", [path], bootstrap=200)
    assert report["by_sampling"] == {"a": 10, "b": 10, "browsed": 1}
    assert [s["weight"] for s in report["strata"]] == [10.0, 90.0]
    # Precision = weighted share correct: (2*10 + 9*90) / 1000 = 0.83; unweighted it would be 11/20.
    (verifier,) = report["verifiers"]
    assert verifier["precision"]["value"] == pytest.approx(0.83)
    assert report["share_correct"]["value"] == pytest.approx(0.83)
    assert verifier["false_positive_rate"]["value"] == pytest.approx(1.0)
    assert verifier["raw_confusion"] == {"tp": 11, "fp": 10, "tn": 0, "fn": 0, "undecided": 0}
    low, high = verifier["precision"]["ci_low"], verifier["precision"]["ci_high"]
    assert low < 0.83 < high


def test_audit_reads_the_label_database(tmp_path: Path, data: tuple[Path, Path, list[Path]]) -> None:
    tasks, samples, verdicts = data
    truth = {(f"t{t}", j): j % 3 == 0 for t in range(6) for j in range(10)}
    labels = label_everything(tmp_path, data, truth)
    out = tmp_path / "audit"
    code = main(
        [
            "audit",
            str(tasks),
            str(samples),
            "--verdicts",
            *map(str, verdicts),
            "--labels",
            str(labels),
            "-o",
            str(out),
            "-q",
        ]
    )
    assert code == 0
    report = json.loads((out / "human_labels.json").read_text())
    by_id = {v["id"]: v for v in report["verifiers"]}
    # Every sample labelled: the weighted figures are the plain ones. 36 samples are wrong (j % 3 != 0);
    # judge@1 passes one of them per task (sample 4) and fails no right one.
    assert by_id["math@1"]["false_positive_rate"]["value"] == 0.0
    assert by_id["judge@1"]["false_positive_rate"]["value"] == pytest.approx(6 / 36, abs=1e-6)
    assert by_id["judge@1"]["false_negative_rate"]["value"] == 0.0
    assert report["covered_share"] == 1.0
    assert Counter(report["by_sampling"]) == Counter(
        {"verifiers_disagree": 6, "near_boundary": 6, "selected_answer": 6, "uniform": 42}
    )


def test_another_sqlite_database_is_not_taken_for_labels(tmp_path: Path, data: tuple[Path, Path, list[Path]]) -> None:
    other = tmp_path / "verdicts.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE verdicts (key TEXT)")
    db.commit()
    db.close()
    with pytest.raises(ValueError, match="not a label database"):
        label_db.connect(other)
    (tmp_path / "notes.txt").write_text("not a database at all, just some text that is long enough\n" * 10)
    with pytest.raises(ValueError, match="not a label database"):
        label_db.connect(tmp_path / "notes.txt")
    tasks, samples, _ = data
    result = subprocess.run(
        [sys.executable, "-m", "assay", "review", str(tasks), str(samples), "--labels", str(other), "--port", "0"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "not a label database" in result.stderr
    assert {row[0] for row in sqlite3.connect(other).execute("SELECT name FROM sqlite_master")} == {"verdicts"}


def test_human_audit_of_an_empty_database(tmp_path: Path) -> None:
    label_db.connect(tmp_path / "l.sqlite").close()
    verdicts = write_jsonl(
        tmp_path / "v.jsonl", [{"task_id": "a", "sample_index": 0, "verifier": "v@1", "status": "pass", "passed": True}]
    )
    report = human_audit(tmp_path / "l.sqlite", [verdicts], bootstrap=50)
    assert report["labelled_samples"] == 0 and report["verifiers"] == []
    assert report["share_correct"]["value"] is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.booleans(), st.sampled_from([1, 0, -1])), min_size=1, max_size=60),
    st.integers(0, 2**16),
)
def test_weighted_rates_equal_the_plain_ones_when_every_sample_is_labelled(
    cells: list[tuple[int, bool, int]], seed: int
) -> None:
    """With every sample of every stratum labelled, each weight is 1: the estimates are the plain rates."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "l.sqlite"
        db = label_db.connect(path)
        populations = Counter(f"s{stratum}" for stratum, _, _ in cells)
        label_db.record_design(db, "d", {}, {}, {f"s{h}": populations.get(f"s{h}", 0) for h in range(3)})
        verdicts = []
        for j, (stratum, right, passed) in enumerate(cells):
            label_db.add(db, "ann", "t", j, "correct" if right else "wrong", sampling=f"s{stratum}", design="d")
            status = {1: "pass", 0: "fail", -1: "error"}[passed]
            verdicts.append(
                {
                    "task_id": "t",
                    "sample_index": j,
                    "verifier": "v@1",
                    "status": status,
                    "passed": {1: True, 0: False, -1: None}[passed],
                }
            )
        db.close()
        report = human_audit(path, [write_jsonl(Path(folder) / "v.jsonl", verdicts)], bootstrap=20, seed=seed)
    fp = sum(1 for _, right, passed in cells if passed == 1 and not right)
    tn = sum(1 for _, right, passed in cells if passed == 0 and not right)
    fn = sum(1 for _, right, passed in cells if passed == 0 and right)
    tp = sum(1 for _, right, passed in cells if passed == 1 and right)
    (verifier,) = report["verifiers"]
    expected_fpr = fp / (fp + tn) if fp + tn else None
    expected_fnr = fn / (fn + tp) if fn + tp else None
    assert verifier["false_positive_rate"]["value"] == (
        None if expected_fpr is None else pytest.approx(expected_fpr, abs=1e-6)
    )
    assert verifier["false_negative_rate"]["value"] == (
        None if expected_fnr is None else pytest.approx(expected_fnr, abs=1e-6)
    )
    assert report["covered_share"] == 1.0


def test_paths_with_quotes_and_uri_characters(tmp_path: Path) -> None:
    folder = tmp_path / "it's a ?#% folder"
    data = write_review_data(folder / "data", tasks=2, per_task=3)
    labels, index = built(folder, data)
    review = Review(index_path_for(labels), labels)
    review.save("ann", 0, "wrong", "", browsed=False)
    review.close()
    assert index.total == 6
    assert human_audit(labels, data[2], bootstrap=10)["labelled_samples"] == 1
    assert export_labels(labels, data[1], folder / "out.jsonl").labelled == 1
