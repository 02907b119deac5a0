"""Where scores come from. Each backend turns a task and a batch of sample texts into raw scores, in order.

- `HeadBackend`: the offline default: a MiniLM encoder (embeddings cached by text hash) and a learned
  head (`assay reward train`). Scores are probabilities already.
- `TransformersBackend`: any `AutoModelForSequenceClassification` reward model from a local path or a model
  id (Skywork / ArmoRM shape: the chat template, `logits[:, 0]`), batched, on the GPU when there is one.
- `RemoteBackend`: an HTTP reward server speaking OpenRLHF's `POST /get_reward`.

Each is built once per worker and kept warm; heavy libraries are imported in the constructors.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from assay import Task
from assay_reward.config import RewardConfig, default_head_path
from assay_reward.encoders import EMBEDDING_SPACE, EmbeddingCache, build_encoder
from assay_reward.head import RewardHead


class ScoringError(RuntimeError):
    """A backend could not score a batch; `reason` becomes the verdicts' reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Backend(Protocol):
    #: True when the raw scores are probabilities already (no transform applies).
    probabilities: bool

    def score(self, task: Task, texts: Sequence[str]) -> list[float]: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class HeadBackend:
    probabilities = True

    def __init__(self, config: RewardConfig) -> None:
        path = Path(config.model) if config.model else default_head_path()
        self.head = RewardHead.load(path)
        self.path = path
        # A head fitted on one MiniLM path is valid on the other (the same embedding space); the file's own
        # encoder is the default.
        encoder_name = config.encoder or self.head.encoder
        if encoder_name not in ("onnx-int8", "st-fp32"):
            encoder_name = "onnx-int8"
        encoder = build_encoder(
            encoder_name,  # type: ignore[arg-type]
            threads=config.threads,
            max_tokens=self.head.max_tokens,
            token_budget=config.encode_tokens,
        )
        self.cache = EmbeddingCache(encoder, max_entries=config.cache_entries)

    def score(self, task: Task, texts: Sequence[str]) -> list[float]:
        embeddings = self.cache.embed([task.prompt, *texts])
        prompts = embeddings[:1].repeat(len(texts), axis=0)
        return [float(p) for p in self.head.score(prompts, embeddings[1:], texts)]

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "head",
            "model": str(self.path),
            "encoder": self.cache.encoder.name,
            "embedding_space": EMBEDDING_SPACE,
            "recipe": self.head.recipe,
        }

    def close(self) -> None:
        pass


class TransformersBackend:
    """A sequence-classification reward model; the score is `logits[:, 0]` of (prompt, sample)."""

    probabilities = False

    def __init__(self, config: RewardConfig) -> None:
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as exc:
            raise RuntimeError(
                f"backend 'hf' needs transformers and torch: pip install 'assay-reward[hf]' ({exc})"
            ) from None
        if not config.model:
            raise ValueError("backend 'hf' needs `model`: a local path or a model id (`--set model=...`)")
        self.torch = torch
        if config.threads:
            torch.set_num_threads(config.threads)
        device = config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        local = Path(config.model).exists()
        dtype: Any = "auto"
        if config.dtype != "auto":
            dtype = getattr(torch, config.dtype)
        elif self.device.type == "cpu":
            dtype = torch.float32  # bf16 checkpoints are slow and imprecise on CPUs
        self.tokenizer = AutoTokenizer.from_pretrained(config.model, local_files_only=local)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            config.model, dtype=dtype, local_files_only=local
        ).to(self.device)
        self.model.eval()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.name = config.model
        self.batch_size = config.hf_batch_size
        # Never past the model's positions (an encoder reward model has 512), whatever `max_tokens` says.
        limits = [
            config.max_tokens,
            getattr(self.model.config, "max_position_embeddings", None),
            getattr(self.tokenizer, "model_max_length", None),
        ]
        self.max_tokens = min(int(v) for v in limits if isinstance(v, int) and 0 < v < 10**7)
        self.chat_template = bool(getattr(self.tokenizer, "chat_template", None)) and config.chat_template

    def _inputs(self, prompt: str, texts: Sequence[str]) -> Any:
        if self.chat_template:
            conversations = [
                self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": prompt}, {"role": "assistant", "content": text}], tokenize=False
                )
                for text in texts
            ]
            return self.tokenizer(
                conversations,
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors="pt",
                add_special_tokens=False,
            )
        # No chat template (an encoder reward model): score the (prompt, sample) pair, cutting the prompt first.
        return self.tokenizer(
            [prompt] * len(texts),
            list(texts),
            padding=True,
            truncation="longest_first",
            max_length=self.max_tokens,
            return_tensors="pt",
        )

    def score(self, task: Task, texts: Sequence[str]) -> list[float]:
        scores: list[float] = []
        with self.torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self._inputs(task.prompt, texts[start : start + self.batch_size]).to(self.device)
                logits = self.model(**batch).logits
                scores.extend(float(v) for v in logits[:, 0].float().cpu())
        return scores

    def describe(self) -> dict[str, Any]:
        return {"backend": "hf", "model": self.name, "device": str(self.device), "chat_template": self.chat_template}

    def close(self) -> None:
        if self.device.type == "cuda":
            del self.model
            self.torch.cuda.empty_cache()


def reference_label(task: Task) -> str:
    """What OpenRLHF calls the label: the reference answer when there is one, else the reference as JSON."""
    answer = task.reference.get("answer")
    if isinstance(answer, str):
        return answer
    if answer is not None:
        return json.dumps(answer)
    return json.dumps(task.reference, sort_keys=True) if task.reference else ""


class RemoteBackend:
    """OpenRLHF's remote reward protocol: `POST {url}` with `{"query": [prompt + sample, ...], "prompts":
    [prompt, ...], "labels": [reference, ...]}`, answered by `{"rewards": [float, ...], ...}`."""

    probabilities = False

    def __init__(self, config: RewardConfig) -> None:
        if not config.url:
            raise ValueError("backend 'remote' needs `url` (`--set url=http://host:port/get_reward`)")
        self.url = config.url
        self.timeout_s = config.time_limit_s  # per request: a verdict must come within the time limit
        self.score_key = config.score_key
        self.batch_size = config.remote_batch_size

    def score(self, task: Task, texts: Sequence[str]) -> list[float]:
        scores: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            scores.extend(self._post(task, texts[start : start + self.batch_size]))
        return scores

    def _post(self, task: Task, texts: Sequence[str]) -> list[float]:
        body = {
            "query": [task.prompt + text for text in texts],
            "prompts": [task.prompt] * len(texts),
            "labels": [reference_label(task)] * len(texts),
        }
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode("utf-8", "replace")
            raise ScoringError("remote_error", f"{self.url}: HTTP {exc.code}: {detail}") from None
        except TimeoutError:
            raise ScoringError("remote_timeout", f"{self.url}: no answer within {self.timeout_s:g}s") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise ScoringError("remote_timeout", f"{self.url}: no answer within {self.timeout_s:g}s") from None
            raise ScoringError("remote_unreachable", f"{self.url}: {reason}") from None
        try:
            answer = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ScoringError("remote_bad_response", f"{self.url}: answer is not JSON ({exc})") from None
        rewards = answer.get(self.score_key) if isinstance(answer, dict) else None
        if not isinstance(rewards, list) or len(rewards) != len(texts):
            got = f"{len(rewards)} values" if isinstance(rewards, list) else repr(rewards)[:80]
            raise ScoringError(
                "remote_bad_response",
                f"{self.url}: field {self.score_key!r}: expected a list of {len(texts)} numbers, got {got}",
            )
        scores = []
        for position, value in enumerate(rewards):
            if isinstance(value, list) and len(value) == 1:  # some servers answer [[r], [r], ...]
                value = value[0]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ScoringError(
                    "remote_bad_response",
                    f"{self.url}: field '{self.score_key}[{position}]': not a finite number: {value!r}",
                )
            scores.append(float(value))
        return scores

    def describe(self) -> dict[str, Any]:
        return {"backend": "remote", "url": self.url}

    def close(self) -> None:
        pass


def build_backend(config: RewardConfig) -> Backend:
    if config.backend == "head":
        return HeadBackend(config)
    if config.backend == "hf":
        return TransformersBackend(config)
    return RemoteBackend(config)
