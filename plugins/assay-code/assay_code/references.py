"""The reference models: what a task's `reference` holds for each task style.

```json
{"style": "function", "entry_point": "add", "tests": "def check(candidate): assert candidate(1, 2) == 3"}
{"style": "io", "language": "python", "cases": [{"input": "1 2\\n", "output": "3\\n"}]}
{"style": "pytest", "tests": "from solution import add\\ndef test_add(): assert add(1, 2) == 3"}
{"style": "generated_tests", "entry_point": "add", "tests": ["assert add(1, 2) == 3"]}
```

A reference without `style` is read as one of the public formats in `assay_code.formats` (verl's
`{"inputs", "outputs"}`, APPS, CodeContests, LiveCodeBench, HumanEval, MBPP, SandboxFusion) and converted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=200)]


class _Reference(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FunctionReference(_Reference):
    """HumanEval / MBPP: the program is the task's prompt + the sample; `tests` defines `check(candidate)`
    (or is top-level asserts that call the entry point by name)."""

    style: Literal["function"]
    entry_point: Identifier
    tests: str = Field(min_length=1)
    #: A correct sample (HumanEval's `canonical_solution`): what a learned time limit is calibrated on.
    solution: str | None = None


class IOCase(_Reference):
    input: str = ""
    output: str


class IOReference(_Reference):
    """CodeContests / APPS: a whole program reading stdin; each case's stdout is compared token by token."""

    style: Literal["io"]
    language: Literal["python", "cpp"] = "python"
    cases: list[IOCase] = Field(min_length=1)


class PytestReference(_Reference):
    """A pytest file run against the sample saved as the module `module`."""

    style: Literal["pytest"]
    tests: str = Field(min_length=1)
    module: Identifier = "solution"
    #: Code the module runs before the sample's own (call-based data sets' graders put a standard-library
    #: import header there, which their samples rely on: `List`, `defaultdict`, `heappush`).
    prelude: str = ""


class GeneratedTestsReference(_Reference):
    """No trusted tests: model-generated assertions, each run on its own; the verdict's `answer` is the
    set of tests passed, so that samples that agree vote together (CodeT's dual execution agreement)."""

    style: Literal["generated_tests"]
    entry_point: Identifier
    tests: list[str] = Field(min_length=1)


class CodeReference(RootModel[FunctionReference | IOReference | PytestReference | GeneratedTestsReference]):
    root: Annotated[
        FunctionReference | IOReference | PytestReference | GeneratedTestsReference,
        Field(discriminator="style"),
    ]

    @model_validator(mode="before")
    @classmethod
    def _from_other_formats(cls, value: Any) -> Any:
        """Tests in another harness's or data set's shape (no `style`) are converted first
        (`assay_code.formats`); one that cannot be read is a validation error naming its field."""
        if isinstance(value, Mapping) and "style" not in value:
            from assay_code.formats import TestFormatError, converted_reference

            try:
                return converted_reference(value)
            except TestFormatError as exc:
                raise ValueError(str(exc)) from None
            except Exception as exc:  # a shape no reader foresaw is still the reference's fault, and said so
                raise ValueError(f"tests that cannot be read ({type(exc).__name__}: {exc})") from None
        return value


Reference = FunctionReference | IOReference | PytestReference | GeneratedTestsReference
