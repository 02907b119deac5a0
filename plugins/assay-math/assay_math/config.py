"""The one configuration of the `math` verifier (pydantic). Its defaults are meant for every suite."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from assay.verifier import VerifierConfig


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
        description="Relative tolerance for values that involve a decimal literal (float noise such as "
        "0.30000000000000004). Exact values (integers, fractions, radicals) are compared exactly; there is no "
        "absolute tolerance.",
    )
    rounding_min_places: int = Field(
        default=2,
        ge=0,
        description="A decimal written with at least this many places (and significant digits) matches an exact "
        "value that rounds to it "
        "(0.33 for 1/3, 2.6667 for 8/3); set it high to turn rounding off.",
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
        default=True, description="A parenthesised tuple in the reference is ordered; bare lists and sets never are."
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
