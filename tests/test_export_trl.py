"""The exported files, loaded the way TRL's scripts load data (`datasets.load_dataset("json", ...)`), train
one step in TRL's own SFTTrainer and DPOTrainer: a tiny randomly initialised model and a character-level
tokenizer built here, nothing downloaded."""

from __future__ import annotations

import copy
import string
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl")
pytest.importorskip("torch")

from assay.export import export
from assay.jsonl import write_jsonl

pytestmark = pytest.mark.slow

_SPECIAL = ["<pad>", "<eos>", "<unk>"]
_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}<eos>{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def _tokenizer() -> Any:
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(_SPECIAL + list(string.printable))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("<eos>|<pad>|."), behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    fast.chat_template = _TEMPLATE
    return fast


def _model(vocab_size: int) -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size, n_positions=256, n_embd=16, n_layer=1, n_head=2, bos_token_id=1, eos_token_id=1,
        pad_token_id=0,
    )  # fmt: skip
    return GPT2LMHeadModel(config)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("export")
    tasks = [{"id": f"p{p}", "prompt": f"What is {p} + {p}?", "reference": {"answer": str(2 * p)}} for p in range(6)]
    samples, verdicts = [], []
    for p in range(6):
        for i in range(4):
            right = i % 2 == 0
            answer = str(2 * p) if right else str(2 * p + i)
            samples.append({"task_id": f"p{p}", "index": i, "text": f"{p} + {p} = {answer} (try {i})"})
            verdicts.append({"task_id": f"p{p}", "sample_index": i, "verifier": "math@1", "status": "pass" if right
                             else "fail", "passed": right, "answer": answer})  # fmt: skip
    paths = (write_jsonl(folder / "t.jsonl", tasks), write_jsonl(folder / "s.jsonl", samples))
    verdict_file = write_jsonl(folder / "v.jsonl", verdicts)
    files = {}
    for name, kind, fmt in [("messages", "sft", "messages"), ("completion", "sft", "prompt-completion"),
                            ("dpo", "preference", "dpo")]:  # fmt: skip
        files[name] = folder / f"{name}.jsonl"
        summary = export(*paths, [verdict_file], kind=kind, format=fmt, out=files[name], per_problem=2)
        assert summary.rows == 12
    return files


def _load(path: Path) -> Any:
    from datasets import load_dataset

    return load_dataset("json", data_files=str(path), split="train")


def _trained(trainer: Any) -> None:
    result = trainer.train()
    assert result.global_step == 1
    assert result.training_loss == result.training_loss and result.training_loss > 0  # a number, not NaN


@pytest.mark.parametrize("name", ["messages", "completion"])
def test_sft_trainer_trains_on_the_exported_file(exported: dict[str, Path], tmp_path: Path, name: str) -> None:
    from trl import SFTConfig, SFTTrainer

    tokenizer = _tokenizer()
    args = SFTConfig(
        output_dir=str(tmp_path), report_to=[], per_device_train_batch_size=4, max_steps=1, use_cpu=True,
        save_strategy="no", max_length=128, seed=0,
    )  # fmt: skip
    trainer = SFTTrainer(
        model=_model(len(tokenizer)), args=args, train_dataset=_load(exported[name]), processing_class=tokenizer
    )
    _trained(trainer)


def test_dpo_trainer_trains_on_the_exported_pairs(exported: dict[str, Path], tmp_path: Path) -> None:
    from trl import DPOConfig, DPOTrainer

    tokenizer = _tokenizer()
    dataset = _load(exported["dpo"])
    assert {"prompt", "chosen", "rejected"} <= set(dataset.column_names)
    args = DPOConfig(
        output_dir=str(tmp_path), report_to=[], per_device_train_batch_size=4, max_steps=1, use_cpu=True,
        save_strategy="no", max_length=128, seed=0,
    )  # fmt: skip
    policy = _model(len(tokenizer))
    reference = copy.deepcopy(policy)  # a model built from a config has no path to load a reference from
    trainer = DPOTrainer(
        model=policy, ref_model=reference, args=args, train_dataset=dataset, processing_class=tokenizer
    )
    _trained(trainer)
