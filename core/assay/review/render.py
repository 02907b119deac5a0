"""Turning untrusted text (prompts, references, samples, verdict details) into safe HTML, on the server.

Everything a model or a data set wrote is untrusted. Markdown is rendered with raw HTML switched off (a
`<script>` in a sample shows as text), links are limited to http(s) and mailto, code is highlighted by
Pygments (which escapes), and LaTeX is converted to MathML by latex2mathml and then rebuilt from an
allow-list of MathML elements and attributes: the converter passes `\\text{...}` through unescaped and turns
`\\href` into an attribute, so its output is never trusted as it comes.
"""

from __future__ import annotations

import ast
import functools
import html
import json
from html.parser import HTMLParser
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

#: Longest text rendered as it is; beyond this the page shows the start and says how much was cut.
MAX_RENDERED_CHARS = 200_000

_MATHML_ELEMENTS = frozenset(
    [
        "math",
        "maction",
        "annotation",
        "semantics",
        "menclose",
        "merror",
        "mfenced",
        "mfrac",
        "mi",
        "mmultiscripts",
        "mn",
        "mo",
        "mover",
        "mpadded",
        "mphantom",
        "mprescripts",
        "mroot",
        "mrow",
        "ms",
        "mspace",
        "msqrt",
        "mstyle",
        "msub",
        "msubsup",
        "msup",
        "mtable",
        "mtd",
        "mtext",
        "mtr",
        "munder",
        "munderover",
        "none",
    ]
)
_MATHML_ATTRIBUTES = frozenset(
    [
        "accent",
        "accentunder",
        "align",
        "close",
        "columnalign",
        "columnlines",
        "columnspacing",
        "denomalign",
        "depth",
        "dir",
        "display",
        "displaystyle",
        "fence",
        "form",
        "frame",
        "height",
        "largeop",
        "linethickness",
        "lspace",
        "mathsize",
        "mathvariant",
        "maxsize",
        "minsize",
        "movablelimits",
        "notation",
        "numalign",
        "open",
        "rowalign",
        "rowlines",
        "rowspacing",
        "rspace",
        "scriptlevel",
        "separator",
        "separators",
        "stretchy",
        "symmetric",
        "voffset",
        "width",
        "xmlns",
    ]
)


class _MathMLSanitizer(HTMLParser):
    """Re-emits MathML keeping allow-listed elements and attributes only; all text is escaped again, and
    every element is closed in order whatever the input's nesting."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _MATHML_ELEMENTS:
            return
        kept = "".join(
            f' {name}="{html.escape(value or "", quote=True)}"' for name, value in attrs if name in _MATHML_ATTRIBUTES
        )
        self.out.append(f"<{tag}{kept}>")
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.open:
            return
        while self.open:
            closing = self.open.pop()
            self.out.append(f"</{closing}>")
            if closing == tag:
                break

    def handle_data(self, data: str) -> None:
        self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        self.close()
        return "".join(self.out) + "".join(f"</{tag}>" for tag in reversed(self.open))


def sanitize_mathml(markup: str) -> str:
    parser = _MathMLSanitizer()
    parser.feed(markup)
    return parser.result()


@functools.lru_cache(maxsize=4096)
def latex_to_mathml(latex: str, display: bool) -> str:
    """MathML for `latex`, or the source as escaped code when it does not convert."""
    from latex2mathml.converter import convert

    try:
        converted = convert(latex, display="block" if display else "inline")
    except Exception:  # any LaTeX the converter does not know: show the source instead
        return f'<code class="tex">{html.escape(latex)}</code>'
    return sanitize_mathml(converted)


def _math_renderer(content: str, options: dict[str, Any]) -> str:
    return latex_to_mathml(content, bool(options.get("display_mode")))


_FORMATTER = HtmlFormatter(nowrap=True)


def highlight_code(code: str, language: str) -> str:
    """Highlighted HTML (escaped by Pygments), or "" when the language is unknown."""
    try:
        lexer = get_lexer_by_name(language or "text")
    except ClassNotFound:
        return ""
    return str(highlight(code, lexer, _FORMATTER))


def _fence_highlighter(code: str, language: str, _attrs: str) -> str:
    highlighted = highlight_code(code, language) if language else ""
    return f'<pre class="highlight"><code>{highlighted}</code></pre>' if highlighted else ""


def _safe_link(url: str) -> bool:
    lowered = url.strip().lower()
    return lowered.startswith(("http://", "https://", "mailto:", "#"))


@functools.cache
def _markdown() -> MarkdownIt:
    options = {"html": False, "linkify": False, "typographer": False, "highlight": _fence_highlighter}
    md = MarkdownIt("commonmark", options)
    md.enable(["table", "strikethrough"])
    md.validateLink = _safe_link  # type: ignore[method-assign]
    dollarmath_plugin(md, allow_digits=False, renderer=_math_renderer)
    return md


def _clip(text: str) -> tuple[str, str]:
    if len(text) <= MAX_RENDERED_CHARS:
        return text, ""
    cut = len(text) - MAX_RENDERED_CHARS
    return text[:MAX_RENDERED_CHARS], f'<p class="clipped">… {cut:,} more characters not shown</p>'


def markdown(text: str) -> Markup:
    """Markdown with $…$ / $$…$$ math and highlighted fenced code; raw HTML in `text` shows as text."""
    body, note = _clip(text)
    return Markup(_markdown().render(body) + note)


def code(text: str, language: str = "python") -> Markup:
    body, note = _clip(text)
    highlighted = highlight_code(body, language) or html.escape(body)
    return Markup(f'<pre class="highlight"><code>{highlighted}</code></pre>{note}')


def plain(text: str) -> Markup:
    body, note = _clip(text)
    return Markup(f'<pre class="plain">{html.escape(body)}</pre>{note}')


def looks_like_python(text: str) -> bool:
    """A Python program (HumanEval-style prompts and completions) reads best highlighted, not as Markdown.
    Prose that happens to parse (a line of comments, a bare name) does not count: there must be a statement
    that is not just an expression."""
    stripped = text.strip()
    if "\n" not in stripped or len(stripped) > MAX_RENDERED_CHARS:
        return False
    for candidate in (stripped, "def _():\n" + text):  # the second: a function body, as completions are
        try:
            tree = ast.parse(candidate)
        except (SyntaxError, ValueError):
            continue
        body = tree.body[0].body if candidate is not stripped else tree.body  # type: ignore[attr-defined]
        return any(not isinstance(node, ast.Expr) for node in body)
    return False


def sample(text: str, language: str | None = None) -> Markup:
    """The sample as the reviewer reads it best: code highlighted when it is code, else Markdown."""
    if language:
        return code(text, language)
    if looks_like_python(text):
        return code(text, "python")
    return markdown(text)


def json_block(value: Any) -> Markup:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return code(text, "json")


def reference(value: dict[str, Any]) -> Markup:
    """Each field of a task's reference: long strings as code, short ones inline, anything else as JSON."""
    parts: list[str] = []
    for key, item in value.items():
        label = f'<div class="field-name">{html.escape(str(key))}</div>'
        if isinstance(item, str) and "\n" in item:
            body = code(item, "python" if looks_like_python(item) else "text")
        elif isinstance(item, str | int | float | bool) or item is None:
            shown = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
            body = Markup(f'<code class="inline">{html.escape(shown)}</code>')
        else:
            body = json_block(item)
        parts.append(f'<div class="field">{label}{body}</div>')
    return Markup("".join(parts))


@functools.cache
def pygments_css() -> str:
    return str(_FORMATTER.get_style_defs(".highlight"))
