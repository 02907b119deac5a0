"""Shared fixtures for the host's tests.

Plugins are installed for real: `installed_plugins` writes a `*.dist-info` folder with an
`entry_points.txt` onto sys.path (and PYTHONPATH, for subprocesses), which is exactly what pip leaves
behind, so the host's entry-point loading is exercised as users hit it.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.jsonl import write_jsonl
from assay.plugins import UnknownComponent, get_registry, reset_host

InstallPlugins = Callable[..., Path]


@pytest.fixture
def installed_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstallPlugins]:
    """`installed_plugins({"echo": "assay.testing.echo"}, modules={"broken_mod": "raise ImportError('x')"})`."""
    site = tmp_path / "site"
    site.mkdir()
    counter = iter(range(1000))

    def install(entry_points: dict[str, str], modules: dict[str, str] | None = None, dist: str | None = None) -> Path:
        for name, source in (modules or {}).items():
            (site / f"{name}.py").write_text(textwrap.dedent(source))
        dist = dist or f"assay-test-plugin-{next(counter)}"
        info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
        lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[assay]\n{lines}\n")
        return site

    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    for variable in ("ASSAY_PLUGINS", "ASSAY_DISABLE_PLUGINS", "ASSAY_STRICT_PLUGINS"):
        monkeypatch.delenv(variable, raising=False)
    reset_host()
    try:
        yield install
    finally:
        reset_host()
        for name in list(sys.modules):
            module = sys.modules[name]
            if getattr(module, "__file__", None) and str(site) in str(module.__file__):
                del sys.modules[name]


@pytest.fixture
def echo_installed(installed_plugins: InstallPlugins) -> Path:
    return installed_plugins({"echo": "assay.testing.echo"}, dist="assay-echo")


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "verdicts.sqlite"
    monkeypatch.setenv("ASSAY_STORE", str(path))
    return path


@pytest.fixture
def echo_data(tmp_path: Path) -> tuple[Path, Path]:
    """10 tasks x 20 samples; sample j of task i is right when j % 4 == 0; some texts repeat."""
    tasks = [{"id": f"t{i}", "prompt": f"say {i}", "reference": {"answer": str(i)}} for i in range(10)]
    samples = [
        {"task_id": f"t{i}", "index": j, "text": str(i) if j % 4 == 0 else f"wrong {j % 3}"}
        for i in range(10)
        for j in range(20)
    ]
    return write_jsonl(tmp_path / "tasks.jsonl", tasks), write_jsonl(tmp_path / "samples.jsonl", samples)


@pytest.fixture
def math_installed() -> None:
    """Skips the test where the `math` verifier plugin (distribution assay-math) is not installed."""
    try:
        get_registry().verifier_class("math")
    except UnknownComponent:
        pytest.skip("the `math` verifier (distribution assay-math) is not installed")


VoteEvaluation = Callable[..., dict[str, Any]]


@pytest.fixture
def lm_eval_vote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> VoteEvaluation:
    """`lm_eval_vote(answers, replies, filter_list, process_results)` -> lm-eval's figures for the task: a
    real lm-eval evaluation of a generate_until task over the questions of `answers` (a local JSONL data set,
    five samples per question), answered by a scripted model (lm-eval's own `LM` interface, replying to each
    question with its next scripted reply from `replies`), so that lm-eval's evaluate() runs unchanged."""
    pytest.importorskip("lm_eval")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import json

    from lm_eval.api.model import LM
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.evaluator import evaluate

    class Scripted(LM):  # type: ignore[misc]
        def __init__(self, script: dict[str, list[str]]) -> None:
            super().__init__()
            self.script = script
            self.asked: dict[str, int] = {}

        def loglikelihood(self, requests: Any) -> Any:
            raise NotImplementedError

        def loglikelihood_rolling(self, requests: Any) -> Any:
            raise NotImplementedError

        def generate_until(self, requests: Any) -> list[str]:
            replies = []
            for request in requests:
                question = request.args[0].strip()
                turn = self.asked.get(question, 0)
                self.asked[question] = turn + 1
                replies.append(self.script[question][turn])
            return replies

    def run(
        answers: dict[str, str], replies: dict[str, list[str]], filter_list: list[dict[str, Any]], process_results: Any
    ) -> dict[str, Any]:
        data = tmp_path / "questions.jsonl"
        data.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in answers.items()))
        config = {
            "task": "assay_vote",
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(data)}},
            "test_split": "test",
            "output_type": "generate_until",
            "doc_to_text": "{{question}}",
            "doc_to_target": "{{answer}}",
            "repeats": 5,
            "generation_kwargs": {"until": ["\n\n"], "do_sample": True},
            "filter_list": filter_list,
            "process_results": process_results,
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        }
        results = evaluate(lm=Scripted(replies), task_dict={"assay_vote": ConfigurableTask(config=config)})
        figures: dict[str, Any] = results["results"]["assay_vote"]
        return figures

    return run
