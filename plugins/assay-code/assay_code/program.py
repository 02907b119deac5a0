"""From a model's raw output to the program that is run.

Samples come in three shapes: a base model's continuation of the prompt (the function body), a complete
function (possibly repeating the prompt), and a chat answer with the code in a fenced block and prose
around it. `assemble` tries, in order, the readings below and keeps the first that compiles:

1. prompt + text, as they are (a continuation; also a full function written after a docstring stub,
   since the later `def` wins);
2. the code of the fenced blocks (```python, ```py, ``` and ~~~), up to and including the last block that
   defines the entry point (blocks after it are usage examples or the model's own tests);
3. the text without the prose lines before and after the code (unindented lines of words that are not
   Python);

and for the code of 2 and 3: prompt + code, then the prompt's lines above its own `def` of the entry
point (imports, helpers) + code when the code defines the entry point itself, then the code alone. Only
the model's words are ever dropped, never code: a completion cut off mid-statement is reported as the
syntax error it is.

Before any of this, the response is reduced to what it shows as its answer (`response_code`): hidden
reasoning (`<think> ... </think>`) and chat tokens are dropped, and, unless the rest compiles as it is,
an `<answer>` tag's content is taken when there is one. A reading that does not compile only because its
indentation holds no-break spaces is read again with plain spaces there.

Optional stop sequences (`stop_sequences`, e.g. HumanEval's ``["\\nclass", "\\ndef", "\\n#", "\\nif",
"\\nprint"]``) cut the text at the first occurrence before any of this.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from assay import answer_in_tags, visible_text

_FENCE = re.compile(r"^[ \t]*(```|~~~)[ \t]*([\w+#.\-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S)
_PY_LANGS = frozenset({"", "python", "py", "python3", "py3", "pycon", "ipython"})
_CPP_LANGS = frozenset({"", "cpp", "c++", "cc", "cxx", "c", "hpp"})
#: Lines that start like Python (a keyword, a call, an assignment, a decorator, a bracket, a string) are
#: code, however broken: a completion cut off mid-statement must stay a syntax error.
_CODE_START = re.compile(
    r"^(?:(?:assert|def|class|return|import|from|if|elif|else|for|while|try|except|finally|with|raise|print"
    r"|lambda|yield|async|await|global|nonlocal|del|pass|break|continue|match|case)\b"
    r"|[A-Za-z_][\w.]*\s*(?:[(\[=+\-*/%<>!&|^]|:\s*[A-Za-z_\[]\w*\s*(?:=|$))|[@#'\"\[\](){}\d])"
)
_NBSP_INDENT = re.compile(r"^[ \t\u00a0]*\u00a0[ \t\u00a0]*", re.M)
#: Prose: words (at least two), or one capitalised word and a colon ("Explanation:").
_PROSE = re.compile(r"^(?:[*>\-]\s*)?[A-Za-z][A-Za-z'’]*(?:[,;:]?\s+\S+)+|^[A-Z][a-z]+(?: [a-z]+)*:$")


@dataclass(frozen=True)
class Program:
    """The source to run, how it was read from the sample, and why it cannot run (when it cannot)."""

    source: str
    how: str
    syntax_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.syntax_error is None


def response_code(visible: str, error_of: Callable[[str], str | None]) -> tuple[str, str | None]:
    """The part of a response's visible text (`assay.visible_text`) that holds its code, and `error_of` it:
    the text without a leading byte-order mark; or, when that does not compile as it is, what its last
    `<answer>` tag holds, if it has one (a program that compiles may itself mention the tag)."""
    text = visible.removeprefix("\ufeff")
    error = error_of(text)
    if error is not None:
        tagged = answer_in_tags(text)
        if tagged is not None:
            text, error = tagged, error_of(tagged)
    return text, error


def _not_python(code: str) -> str:
    return "not Python"


def _nbsp_indented(text: str) -> str:
    """`text` with no-break spaces in its lines' indentation made plain spaces (chat front ends paste code
    that way; Python rejects them)."""
    return _NBSP_INDENT.sub(lambda match: match[0].replace("\u00a0", " "), text)


def cut_at_stop(text: str, stop_sequences: Sequence[str]) -> str:
    """`text` up to the first occurrence of any stop sequence."""
    cut = len(text)
    for stop in stop_sequences:
        if stop:
            found = text.find(stop)
            if found != -1:
                cut = min(cut, found)
    return text[:cut]


def fenced_blocks(text: str, languages: frozenset[str] = _PY_LANGS) -> list[str]:
    """The bodies of the fenced code blocks whose language is one of `languages` ("" = unlabelled)."""
    return [body for _, lang, body in _FENCE.findall(text) if lang.lower() in languages]


def compile_error(source: str, filename: str = "<candidate>") -> str | None:
    """None when `source` compiles, else the error as a user reads it (`SyntaxError: ... (line 3)`)."""
    try:
        compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return f"{type(exc).__name__}: {exc.msg}{where}"
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:  # NUL bytes, nesting, size
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


def top_level_names(source: str) -> set[str]:
    """Names a module binds at its top level (defs, classes, assignments, imports), also inside if/try."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    names: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            elif isinstance(node, ast.If | ast.Try | ast.With | ast.For | ast.While):
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []) or [])
                for handler in getattr(node, "handlers", []) or []:
                    visit(handler.body)

    visit(tree.body)
    return names


def strip_prose(text: str) -> str:
    """`text` without the lines of prose before its first and after its last line of code."""
    lines = text.split("\n")
    start, end = 0, len(lines)
    while start < end and _is_prose_or_blank(lines[start]):
        start += 1
    while end > start and _is_prose_or_blank(lines[end - 1]):
        end -= 1
    return "\n".join(lines[start:end]) + "\n" if start < end else ""


def _is_prose_or_blank(line: str) -> bool:
    if not line.strip():
        return True
    if line[0] in " \t":
        return False  # indented: part of a block of code
    if _CODE_START.match(line) or not _PROSE.match(line):
        return False
    return compile_error(line) is not None


def _prompt_prefix(prompt: str, entry_point: str | None) -> str | None:
    """The prompt above its own `def entry_point` (imports and helpers), or None when there is none."""
    if not entry_point:
        return None
    match = re.search(rf"^(@[^\n]*\n)*(async\s+)?def\s+{re.escape(entry_point)}\s*\(", prompt, re.M)
    return prompt[: match.start()] if match else None


@lru_cache(maxsize=1024)
def prompt_for_tests(prompt: str, entry_point: str | None) -> str:
    """The part of a task's prompt the tests may run for its helpers (HumanEval's `poly`, `encode_cyclic`):
    the prompt itself when it compiles, with `pass` as the body of a final bare `def` line, or the prompt
    above its own `def` of the entry point; "" when none of these compiles (a prompt in plain words).
    Cached: it is worked out once per task, not per sample (it compiles the prompt up to three times)."""
    if not prompt.strip():
        return ""
    readings = [prompt, prompt.rstrip() + "\n    pass\n"]
    prefix = _prompt_prefix(prompt, entry_point)
    if prefix is not None:
        readings.append(prefix)
    for reading in readings:
        if compile_error(reading) is None:
            return reading
    return ""


def _join(blocks: list[str]) -> str:
    return "".join(block if block.endswith("\n") else block + "\n" for block in blocks)


def _readings(text: str, languages: frozenset[str]) -> Iterator[tuple[str, str]]:
    """(how, code) for the readings of the text other than the raw one, in order of preference."""
    blocks = fenced_blocks(text, languages)
    if blocks:
        yield "fenced", _join(blocks)
    stripped = strip_prose(text)
    if stripped and stripped.strip() != text.strip():
        yield "prose_stripped", stripped


def assemble(
    prompt: str,
    text: str,
    entry_point: str | None = None,
    *,
    stop_sequences: Sequence[str] = (),
) -> Program:
    """The Python program for a sample: see the module docs for the readings tried, in order."""
    text = visible_text(text)  # before the stop sequences: they are meant for the answer, not the reasoning
    if stop_sequences:
        text = cut_at_stop(text, stop_sequences)
    text, raw_error = response_code(text, lambda code: compile_error(prompt + code))
    program = _assembled(prompt, text, entry_point, raw_error)
    if not program.ok and "\u00a0" in text:
        indented = _nbsp_indented(text)
        again = _assembled(prompt, indented, entry_point, compile_error(prompt + indented))
        if again.ok:
            return again
    return program


def _assembled(prompt: str, text: str, entry_point: str | None, raw_error: str | None) -> Program:
    """The first reading of `text` that compiles; `raw_error` is prompt + text's own compile error."""
    raw = prompt + text
    if raw_error is None:
        return Program(raw, "continuation")
    prefix = _prompt_prefix(prompt, entry_point)
    readings = [*_readings(text, _PY_LANGS), ("text", text)]
    for how, code in readings:
        if how == "fenced" and entry_point:
            code = _up_to_last_definition(fenced_blocks(text), entry_point) or code
        defines = entry_point is not None and entry_point in top_level_names(code)
        tries = [(f"{how}+prompt", prompt + ("" if prompt.endswith("\n") or not prompt else "\n") + code)]
        if defines and prefix is not None:
            tries.append((f"{how}+prompt_imports", prefix + code))
        tries.append((how, code))
        for label, source in tries:
            if compile_error(source) is None and (not defines or entry_point in top_level_names(source)):
                return Program(source, label)
    return Program(raw, "continuation", syntax_error=raw_error)


def _up_to_last_definition(blocks: list[str], entry_point: str) -> str | None:
    last = None
    for index, block in enumerate(blocks):
        if entry_point in top_level_names(block):
            last = index
    if last is None:
        return None
    return _join(blocks[: last + 1])


def extract_source(text: str, language: str) -> str:
    """The program of a whole-program sample (stdin/stdout tasks): the fenced code if any, else the text
    without its prose."""
    languages = _CPP_LANGS if language == "cpp" else _PY_LANGS
    text, error = response_code(visible_text(text), compile_error if language == "python" else _not_python)
    if language == "python" and error is not None and "\u00a0" in text:
        indented = _nbsp_indented(text)
        if compile_error(indented) is None:
            text, error = indented, None
    if language == "python" and error is None:
        return text
    blocks = fenced_blocks(text, languages)
    if blocks:
        return _join(blocks)
    if language == "python":
        stripped = strip_prose(text)
        return stripped if stripped else text
    return text
