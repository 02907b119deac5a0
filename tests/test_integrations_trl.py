"""TRL reward functions inside a real GRPOTrainer (a tiny randomly initialised GPT-2 and a word-level
tokenizer built here: nothing is downloaded), with the real `math` verifier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl")
pytest.importorskip("torch")

from assay.integrations.grader import close_graders
from assay.integrations.trl import async_reward_function, reward_function

pytestmark = pytest.mark.slow

WORDS = ["<pad>", "<eos>", "<unk>", "what", "is", "1", "2", "3", "+", "?", "half"]


def _trainer(tmp_path: Path, reward_funcs: list[Any], rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    processing = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    config = GPT2Config(
        vocab_size=len(WORDS),
        n_positions=32,
        n_embd=8,
        n_layer=1,
        n_head=2,
        bos_token_id=1,
        eos_token_id=1,
        pad_token_id=0,
    )
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"), report_to=[], per_device_train_batch_size=2, num_generations=2,
        max_completion_length=4, use_cpu=True, max_steps=1, logging_steps=1, save_strategy="no", seed=0,
    )  # fmt: skip
    return GRPOTrainer(
        model=GPT2LMHeadModel(config),
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=processing,
    )


@pytest.fixture
def graders() -> Iterator[None]:
    close_graders()
    yield
    close_graders()


def test_trl_calls_sync_and_async_assay_rewards_with_its_own_arguments(
    math_installed: None, graders: None, tmp_path: Path
) -> None:
    import torch

    sync = reward_function("math")
    asynchronous = async_reward_function("math", name="assay_math_async")
    rows = [
        {"prompt": "what is 1 + 1 ?", "answer": "2"},
        {"prompt": "what is half ?", "answer": "1/2"},
        {"prompt": "what is 3 ?", "answer": None},  # no reference: this verifier does not apply
    ]
    trainer = _trainer(tmp_path, [sync, asynchronous], rows)
    inputs = [dict(row) for row in rows for _ in range(2)]  # as GRPO repeats each prompt per generation
    completions = ["\\boxed{2}", "3", "The answer is 0.5", "\\frac{1}{3}", "3", "\\boxed{3}"]
    rewards = trainer._calculate_rewards(
        inputs, [row["prompt"] for row in inputs], completions, [[5]] * len(completions)
    )
    expected = torch.tensor([1.0, 0.0, 1.0, 0.0, float("nan"), float("nan")])
    for column in (0, 1):
        assert torch.allclose(rewards[:, column], expected, equal_nan=True)


def test_conversational_completions_and_a_missing_column(math_installed: None, graders: None, tmp_path: Path) -> None:
    reward = reward_function("math", reference_column="solution")
    trainer = _trainer(tmp_path, [reward], [{"prompt": "what is 1 + 1 ?", "solution": "2"}])
    prompts = [[{"role": "user", "content": "what is 1 + 1 ?"}]] * 2
    completions = [[{"role": "assistant", "content": "It is \\boxed{2}."}], [{"role": "assistant", "content": "1"}]]
    inputs = [{"prompt": prompts[0], "solution": "2"}] * 2
    rewards = trainer._calculate_rewards(inputs, prompts, completions, [[5], [5]])
    assert rewards[:, 0].tolist() == [1.0, 0.0]
    with pytest.raises(KeyError, match="reference_column"):
        reward_function("math")(prompts=["p"], completions=["c"], solution=["2"], trainer_state=None)


def test_a_training_step_logs_the_assay_reward(math_installed: None, graders: None, tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, [reward_function("math")], [{"prompt": "what is 1 + 1 ?", "answer": "2"}] * 4)
    trainer.train()
    logged = trainer.state.log_history[0]
    # A random model's completions are words from the vocabulary: whatever it said was judged by assay.
    assert "rewards/assay_math/mean" in logged
    assert 0.0 <= logged["rewards/assay_math/mean"] <= 1.0
