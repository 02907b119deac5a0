"""assay-reward: the `reward` verifier, a learned score of how likely a sample is correct.

Backends: an offline MiniLM encoder with a learned head (the default; no PyTorch), a transformers
sequence-classification reward model (`assay-reward[hf]`), and an OpenRLHF-style HTTP reward server.
`assay reward train` fits a head on labelled samples. Heavy libraries load when a verifier is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import assay
from assay_reward.config import RewardConfig
from assay_reward.verifier import RewardVerifier

__version__ = "0.1.0"
__all__ = ["RewardConfig", "RewardVerifier", "__version__"]


@assay.hookimpl
def register_verifiers(register: Callable[[type[Any]], None]) -> None:
    register(RewardVerifier)


@assay.hookimpl
def register_commands(register: Callable[[Any], None]) -> None:
    from assay_reward.cli import COMMAND

    register(COMMAND)
