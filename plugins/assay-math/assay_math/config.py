"""The one configuration of the `math` verifier (pydantic). Its defaults are meant for every suite."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from assay import VerifierConfig


class MathConfig(VerifierConfig):
    time_limit_s: float = Field(
        default=5.0,
        gt=0,
        description="Wall-clock budget for one verdict (parsing and comparing), enforced without signals.",
    )
    relative_tolerance: float = Field(
        default=1e-9,
        ge=0,
        lt=1e-3,
        description="Relative tolerance for a decimal answer against a decimal reference (float noise such as "
        "0.30000000000000004 for 0.3), or against an exact reference that no finite decimal can write (1/3, sqrt(2), "
        "pi: 0.3333333333 matches, 0.33 does not). There is no absolute tolerance.",
    )
    float_noise: float = Field(
        default=0.0,
        ge=0,
        lt=1e-9,
        description="Relative tolerance for a decimal answer against an exact reference that a finite decimal can "
        "write (an integer, 1/8). 0: that decimal must be written exactly (4.0000000001 and 17.000000000000004 are "
        "not 4 and 17); 1e-15 accepts the rounding noise of a double-precision program output.",
    )
    rounding_min_places: int = Field(
        default=2,
        ge=0,
        description="A decimal reference written with at least this many places (and significant digits) states its "
        "precision: a more precise answer that rounds to it matches (0.333 and 1/3 for the reference 0.33).",
    )
    accept_rounded_answers: bool = Field(
        default=False,
        description="Also let a decimal answer with at least rounding_min_places places match an exact reference "
        "that rounds to it (0.67 for 2/3). Off: an answer states its own precision, and 0.67 is not 2/3.",
    )
    reject_restated_question: bool = Field(
        default=True,
        description="When the task's prompt asks to simplify, expand, factor, evaluate or compute an expression, an "
        "answer that only restates that expression (the same syntax tree) fails with reason 'restated_question', "
        "unless the reference is that expression too.",
    )
    extraction: list[Literal["boxed", "marker", "math", "number"]] = Field(
        default=["boxed", "marker", "math", "number"],
        description="Where the answer is looked for in a response: \\boxed{}, phrases such as 'The answer is', "
        "the last math span ($...$, \\(...\\), \\[...\\]), the last number in the prose (the last-expression "
        "fall-back).",
    )
    join_boxed: bool = Field(
        default=True,
        description="Read consecutive \\boxed{} joined by short connectors ('and', ',') as one list answer.",
    )
    multiple_choice: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Grade letters: 'auto' when the reference answer is a single capital letter or an option "
        "like '(C) text'.",
    )
    # -- multiple choice (see the README's section on it) ----------------------------------------------------------
    choice_tolerance: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="With options in the reference, a number matches the option nearest to it when within this "
        "relative distance (an option stated with rounding: 234.29 for '230'); a value never matches two options. "
        "0 turns rounded matches off.",
    )
    choice_lone_letter: bool = Field(
        default=False,
        description="Read the last lone capital letter of a response as its choice when nothing marks one. Only for "
        "outputs known to be a bare letter: in reasoning and programs such letters are variables and points.",
    )
    ordered_tuples: bool = Field(
        default=True,
        description="A parenthesised tuple in the reference is ordered; sets and bare lists are not, unless the list "
        "has an ellipsis (1, 2, \\ldots, n is a sequence).",
    )
    percent_matches_fraction: bool = Field(default=True, description="'20%' also matches 0.2 (and always matches 20).")
    degrees_match_radians: bool = Field(default=True, description="'90^\\circ' also matches \\frac{\\pi}{2}.")
    imaginary_unit: bool = Field(default=True, description="Read a free 'i' as the imaginary unit.")
    max_answer_chars: int = Field(
        default=4000, gt=0, description="Longer extracted answers get an error verdict instead of being parsed."
    )
    max_response_chars: int = Field(
        default=200_000, gt=0, description="Only the last this many characters of a response are searched."
    )
