"""An answer that restates the question's expression is no answer to "simplify", "expand" or "evaluate" it.

`(x+1)^2 - x^2 - 2x` equals the simplified `1`, so value equality alone would pass a response that copies the
question. Where the task's prompt asks for such a transformation, an answer with the same syntax tree as an
expression of the prompt is refused (unless the reference is that expression too). No sympy here: trees of
`syntax.parse`, so that `2^{10}-1` is caught but `1023` is not.
"""

from __future__ import annotations

import functools
import math
import re

from assay_math.extract import math_spans
from assay_math.normalize import clean_latex
from assay_math.syntax import Node, ParseError, parse

#: Prompts that ask for another form of an expression they contain.
_ASKS = re.compile(
    r"\b(?:simplify|simplified|simplest|expand|expanded|evaluate|compute|calculate|factor|factori[sz]e|"
    r"rationali[sz]e|reduce|find\s+the\s+value\s+of|what\s+is\s+the\s+value\s+of)\b",
    re.IGNORECASE,
)
#: The plain-text expression after the verb: 'Simplify (x+1)^2 - x^2 - 2x.'
_PLAIN_AFTER_VERB = re.compile(
    r"\b(?:simplify|expand|evaluate|compute|calculate|factor|factori[sz]e|rationali[sz]e|reduce)\b"
    r"\s*:?\s*(?:the\s+expression\s+)?([^\n]{1,500}?)(?=[.?!](?:\s|$)|\n|$)",
    re.IGNORECASE,
)
#: Prompts that ask for a list in an order: there a bare list is a sequence ('1, 3, 2' is not '1, 2, 3').
_ASKS_ORDER = re.compile(
    r"\b(?:in\s+(?:(?:strictly\s+)?(?:increasing|decreasing|ascending|descending)|numerical|alphabetical|"
    r"chronological|that|this|the\s+same|the\s+given|the\s+following)\s+order|in\s+order|"
    r"(?:from\s+)?(?:least|smallest|lowest|greatest|largest|highest)\s+to\s+(?:greatest|largest|highest|least|"
    r"smallest|lowest)|ordered\s+(?:pairs?|triples?|tuples?|lists?|quadruples?)|first\s+\w+\s+terms)\b",
    re.IGNORECASE,
)
MAX_EXPRESSIONS = 50
MAX_EXPRESSION_CHARS = 2000


def asks_for_order(prompt: str) -> bool:
    """Whether a prompt asks for its answers in an order (then a bare list is compared in order)."""
    return bool(prompt) and _ASKS_ORDER.search(prompt) is not None


def asks_to_transform(prompt: str) -> bool:
    return _ASKS.search(prompt) is not None


def restates(prompt: str, answer: str, reference: str) -> bool:
    """Whether `answer` is an expression of a prompt that asks to simplify, expand, evaluate... it."""
    if not prompt or not asks_to_transform(prompt):
        return False
    tree = _tree(answer)
    if tree is None or _is_final(tree) or tree == _tree(reference):
        return False
    return any(tree == candidate for candidate in _prompt_trees(prompt))


@functools.lru_cache(maxsize=256)
def _prompt_trees(prompt: str) -> tuple[Node, ...]:
    """The prompt's expressions as trees: read once per prompt, however many of its samples are judged."""
    texts = [content for _, _, content in math_spans(prompt)[:MAX_EXPRESSIONS]]
    texts += [m.group(1) for m in _PLAIN_AFTER_VERB.finditer(prompt)][:MAX_EXPRESSIONS]
    trees = [_tree(text) for text in texts if len(text) <= MAX_EXPRESSION_CHARS]
    return tuple(t for t in trees if t is not None and not _is_final(t))


def _tree(text: str) -> Node | None:
    try:
        return _canonical(parse(clean_latex(text), plain=True))
    except (ParseError, RecursionError):
        return None


def _canonical(node: Node) -> Node:
    """Spelling that does not change the expression: `x^{2}` is `x^2`, `((x+1))` is `(x+1)`, an outer pair of
    parentheses is dropped, and terms and factors are taken in any order (`-2x - x^2` restates `-x^2 - 2x`)."""
    while node and node[0] == "paren" and isinstance(node[1], tuple):
        node = node[1]
    return _normal(node)


def _normal(node: object) -> Node:
    if isinstance(node, tuple):
        if len(node) == 2 and node[0] == "brace" and isinstance(node[1], tuple):
            return _normal(node[1])
        if len(node) == 2 and node[0] == "paren" and isinstance(node[1], tuple) and node[1][0] == "paren":
            return _normal(node[1])
        if len(node) == 2 and node[0] in ("add", "mul") and isinstance(node[1], list):
            return (node[0], sorted((_normal(part) for part in node[1]), key=repr))
        return tuple(_normal(part) for part in node)
    if isinstance(node, list):
        return [_normal(part) for part in node]  # type: ignore[return-value]
    return node  # type: ignore[return-value]


def _is_final(tree: Node) -> bool:
    """A form that is already an answer, so that writing it is no restatement: a lone number or name ('for $n = 5$',
    'at $x$') or a fraction in lowest terms ('is it $\\frac{1}{2}$?')."""
    if tree[0] == "neg":
        return _is_final(tree[1])
    if tree[0] == "div" and tree[1][0] == "num" and tree[2][0] == "num":
        numerator, denominator = tree[1][1], tree[2][1]
        if numerator.isdigit() and denominator.isdigit():
            return int(denominator) > 1 and math.gcd(int(numerator), int(denominator)) == 1
    return tree[0] in ("num", "sym", "const", "text")
