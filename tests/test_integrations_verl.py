"""The verl adapter driven by the real verl 0.9.1 (installed with `--no-deps` by `make install`; see the
Makefile): its `get_custom_reward_fn` loads `assay.integrations.verl` by `pkg://` and by file path, its
`load_reward_manager` builds the reward loop's NaiveRewardManager, its BatchRewardManager calls the batch
form, and its own SandboxFusion code reward runs against assay's `/run_code`. Rewards come from the real
`math` and `code` verifiers; the tokenizer is a byte-level BPE trained here (nothing is downloaded)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

import assay.integrations.verl as verl_adapter
from assay.integrations.grader import close_graders
from assay.plugins import UnknownComponent, get_registry
from assay.server import BackgroundServer, ServerSettings

pytest.importorskip("verl", reason="verl is installed by `make install` (pip install --no-deps verl==0.9.1)")
np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
from omegaconf import OmegaConf  # noqa: E402 - after the skips: a dependency of verl
from verl import DataProto  # noqa: E402
from verl.trainer.ppo.reward import get_custom_reward_fn, load_reward_manager  # noqa: E402
from verl.workers.reward_manager import BatchRewardManager  # noqa: E402

ADD = "```python\nimport sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)\n```"
SUB = "```python\nimport sys\na, b = map(int, sys.stdin.read().split())\nprint(a - b)\n```"
#: What verl's code data sets carry in reward_model.ground_truth: a JSON string of inputs and outputs.
ADD_TESTS = json.dumps({"inputs": ["1 2\n", "10 -3\n", "0 0\n"], "outputs": ["3\n", "7\n", "0\n"]})
EXTRA_KEYS = {"score", "acc", "pred", "assay_status", "assay_reason"}


def _installed(component: str, kind: str) -> None:
    try:
        if kind == "verifier":
            get_registry().verifier_class(component)
        else:
            get_registry().sandbox_class(component)
    except UnknownComponent:
        pytest.skip(f"the {kind} {component!r} is not installed")


@pytest.fixture(autouse=True)
def fresh_graders() -> Iterator[None]:
    close_graders()
    yield
    close_graders()


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    """A real Hugging Face fast tokenizer that round-trips any text: byte-level BPE trained on a few lines."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "<eos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator([ADD, SUB, "The answer is \\boxed{2}.", "What is 1 + 1?"], trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="<eos>")


def _batch(tokenizer: Any, rows: list[tuple[str, str, Any]], prompt: str = "Solve it.") -> DataProto:
    """A rollout batch as verl's trainer hands it to a reward manager: left-padded prompts, right-padded
    responses, one attention mask over both; data_source and reward_model.ground_truth per row."""
    pad = tokenizer.pad_token_id
    prompt_ids = tokenizer.encode(prompt)
    responses = [[*tokenizer.encode(text), tokenizer.eos_token_id] for _, text, _ in rows]
    width = max(len(ids) for ids in responses) + 2
    prompts = torch.tensor([prompt_ids] * len(rows))
    response_tensor = torch.full((len(rows), width), pad)
    mask = torch.zeros((len(rows), len(prompt_ids) + width), dtype=torch.long)
    mask[:, : len(prompt_ids)] = 1
    for row, ids in enumerate(responses):
        response_tensor[row, : len(ids)] = torch.tensor(ids)
        mask[row, len(prompt_ids) : len(prompt_ids) + len(ids)] = 1
    return DataProto.from_dict(
        tensors={
            "prompts": prompts,
            "responses": response_tensor,
            "input_ids": torch.cat([prompts, response_tensor], dim=1),
            "attention_mask": mask,
        },
        non_tensors={
            "data_source": np.array([source for source, _, _ in rows], dtype=object),
            "reward_model": np.array([{"ground_truth": truth, "style": "rule"} for *_, truth in rows], dtype=object),
            "extra_info": np.array([{"index": i} for i in range(len(rows))], dtype=object),
        },
    )


def _config(path: str, name: str = "compute_score", **reward_kwargs: Any) -> Any:
    """The `reward` section of verl's trainer config, as `reward.custom_reward_function.path=...` and
    `+reward.custom_reward_function.reward_kwargs.KEY=...` overrides leave it."""
    custom: dict[str, Any] = {"path": path, "name": name}
    if reward_kwargs:
        custom["reward_kwargs"] = reward_kwargs
    return OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": custom,
                "reward_manager": {"source": "register", "name": "naive", "module": {"path": None}},
                "sandbox_fusion": {"url": None, "max_concurrent": 64, "memory_limit_mb": 1024},
            }
        }
    )


def _run_single(manager: Any, batch: DataProto, index: int) -> dict[str, Any]:
    """What verl's reward loop does with each response: `await manager.run_single(item)`."""
    result: dict[str, Any] = manager.loop.run_until_complete(manager.run_single(batch[index : index + 1]))
    return result


@pytest.mark.parametrize("path", ["pkg://assay.integrations.verl", verl_adapter.__file__])
def test_get_custom_reward_fn_loads_the_adapter_and_merges_reward_kwargs(path: str) -> None:
    _installed("math", "verifier")
    compute_score = get_custom_reward_fn(_config(path, verifier="math"))
    assert compute_score is not None
    right = compute_score(data_source="my/own-set", solution_str="\\boxed{0.5}", ground_truth="1/2", extra_info={})
    wrong = compute_score(data_source="my/own-set", solution_str="\\boxed{3}", ground_truth="1/2", extra_info={})
    assert (right["score"], right["acc"], wrong["score"], wrong["acc"]) == (1.0, True, 0.0, False)
    assert set(right) == set(wrong) == EXTRA_KEYS


def test_load_reward_manager_scores_math_and_code_with_the_naive_manager(tokenizer: Any) -> None:
    _installed("math", "verifier")
    _installed("code", "verifier")
    manager = load_reward_manager(_config("pkg://assay.integrations.verl"), tokenizer)
    assert type(manager).__name__ == "NaiveRewardManager"
    batch = _batch(
        tokenizer,
        [
            ("lighteval/MATH", "The answer is \\boxed{2}.", "2"),
            ("lighteval/MATH", "The answer is \\boxed{3}.", "2"),
            ("codecontests", ADD, ADD_TESTS),
            ("codecontests", SUB, ADD_TESTS),
            ("livecodebench/code_generation_lite", ADD, ADD_TESTS),
            ("likaixin/TACO-verified", SUB, ADD_TESTS),
        ],
    )
    results = [_run_single(manager, batch, i) for i in range(len(batch))]
    assert [result["reward_score"] for result in results] == pytest.approx([1.0, 0.0, 1.0, 1 / 3, 1.0, 1 / 3])
    statuses = [result["reward_extra_info"]["assay_status"] for result in results]
    assert statuses == ["pass", "fail", "pass", "fail", "pass", "fail"]
    assert all(set(result["reward_extra_info"]) == EXTRA_KEYS for result in results)


def test_a_test_format_error_is_reported_never_a_silent_zero(tokenizer: Any, caplog: pytest.LogCaptureFixture) -> None:
    _installed("code", "verifier")
    manager = load_reward_manager(_config(verl_adapter.__file__), tokenizer)
    broken = json.dumps({"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n"]})
    batch = _batch(tokenizer, [("apps", ADD, broken), ("apps", ADD, broken), ("taco", ADD, "not tests")])
    with caplog.at_level(logging.WARNING, logger="assay.integrations.verl"):
        results = [_run_single(manager, batch, i)["reward_extra_info"] for i in range(len(batch))]
    assert [(r["score"], r["assay_status"], r["assay_reason"]) for r in results] == [
        (0.0, "error", "bad_reference")
    ] * 3
    warnings = [record.getMessage() for record in caplog.records if record.name == "assay.integrations.verl"]
    assert len(warnings) == 1, warnings  # logged once, however many responses it hits
    assert "bad_reference" in warnings[0] and "2 inputs but 1 outputs" in warnings[0]


def test_batch_reward_manager_calls_the_batch_form(tokenizer: Any) -> None:
    _installed("math", "verifier")
    _installed("code", "verifier")
    compute_score_batch = get_custom_reward_fn(_config("pkg://assay.integrations.verl", "compute_score_batch"))
    manager = BatchRewardManager(tokenizer=tokenizer, num_examine=0, compute_score=compute_score_batch)
    batch = _batch(
        tokenizer,
        [
            ("openai/gsm8k", "The answer is \\boxed{2}.", "2"),
            ("codecontests", ADD, ADD_TESTS),
            ("codecontests", SUB, ADD_TESTS),
            ("taco", ADD, json.dumps({"inputs": ["1 2\n"]})),
        ],
    )
    out = manager(batch, return_dict=True)
    rewards = out["reward_tensor"].sum(dim=1).tolist()
    assert rewards == pytest.approx([1.0, 1.0, 1 / 3, 0.0])
    info = out["reward_extra_info"]
    assert info["assay_status"] == ["pass", "pass", "fail", "error"]
    assert info["assay_reason"][3] == "bad_reference"
    assert set(info) == EXTRA_KEYS


@pytest.fixture(scope="module")
def run_code_url() -> Iterator[str]:
    _installed("local", "sandbox")
    with BackgroundServer(ServerSettings(workers=1, sandbox_threads=4)) as url:
        yield f"{url}/run_code"


def test_code_rewards_over_http_with_numpy_ground_truths(run_code_url: str) -> None:
    """verl's batches can hold the tests as numpy arrays; the adapter sends them to `assay serve` as JSON."""
    _installed("code", "verifier")
    url = run_code_url.removesuffix("/run_code")
    compute_score = get_custom_reward_fn(_config("pkg://assay.integrations.verl", url=url))
    assert compute_score is not None
    tests = {"inputs": np.array(["1 2\n", "10 -3\n"], dtype=object), "outputs": np.array(["3\n", "7\n"])}
    right = compute_score(data_source="codecontests", solution_str=ADD, ground_truth=tests, extra_info={})
    wrong = compute_score(data_source="codecontests", solution_str=SUB, ground_truth=tests, extra_info={})
    assert (right["score"], right["assay_status"], wrong["score"], wrong["assay_status"]) == (1.0, "pass", 0.0, "fail")


def test_verls_own_sandbox_fusion_reward_runs_on_assays_run_code(tokenizer: Any, run_code_url: str) -> None:
    """No custom reward function: verl's default code reward calls SandboxFusion at `reward.sandbox_fusion.url`."""
    config = _config("")
    config.reward.custom_reward_function.path = None
    config.reward.sandbox_fusion.url = run_code_url
    manager = load_reward_manager(config, tokenizer)
    call_based = json.dumps({"fn_name": "add", "inputs": ["1\n2", "5\n-5"], "outputs": ["3", "0"]})
    batch = _batch(
        tokenizer,
        [
            ("codecontests", ADD, ADD_TESTS),
            ("codecontests", SUB, ADD_TESTS),
            ("taco", "```python\ndef add(a, b):\n    return a + b\n```", call_based),
        ],
    )
    scores = [_run_single(manager, batch, i)["reward_score"] for i in range(len(batch))]
    assert scores == pytest.approx([1.0, 1 / 3, 1.0])
