"""The review page: a FastAPI app, server-rendered HTML (Jinja2, autoescaped) and one small script.

Safety, since every sample is untrusted text:
- Every piece of model or data-set text reaches the page escaped (Jinja2's autoescape, Markdown without raw
  HTML, Pygments, MathML rebuilt from an allow-list); a Content-Security-Policy allows only this server's
  own script and styles, so even a missed escape could not run code.
- Who is reviewing is a signed cookie (HMAC with the label database's secret; HttpOnly, SameSite=Strict).
  On loopback a reviewer types a name; beyond loopback each reviewer signs in with a personal token.
- Every POST needs the page's CSRF token (an HMAC of the cookie) in a header or form field, and is refused
  when the browser says it comes from another site (Origin, Sec-Fetch-Site).
- On loopback, requests whose Host is not a loopback name are refused (a DNS-rebinding page cannot reach it).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import urllib.parse
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field

from assay.models import STATUSES
from assay.review import labels as label_db
from assay.review import render
from assay.review.index import Filters, SampleView
from assay.review.session import Review

COOKIE = "assay_review"
REVIEWER_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
STRATUM_TEXT = {
    "verifiers_disagree": "verifiers disagree",
    "disagrees_with_majority": "verdict against the majority answer",
    "near_boundary": "score near the boundary",
    "selected_answer": "majority vote's pick",
    "uniform": "uniform random sample",
}
#: Verdict details up to this many characters of JSON are shown unfolded.
DETAILS_SHOWN_OPEN = 400
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with its own form posts.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class ReviewSettings:
    """`tokens`: reviewers sign in with a personal token (required when listening beyond loopback)."""

    tokens: bool = False
    loopback: bool = True


class LabelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position: int = Field(ge=0)
    label: label_db.Label
    note: str = Field(default="", max_length=20_000)
    query: str = Field(default="", max_length=4096)


class UndoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(default="", max_length=4096)


def _sign(secret: bytes, purpose: str, value: str) -> str:
    return hmac.new(secret, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def _environment() -> Environment:
    templates = resources.files("assay.review") / "templates"
    return Environment(
        loader=FileSystemLoader(str(templates)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class View:
    """The reviewer's filters and mode, as they travel in the URL's query string."""

    filters: Filters
    todo: bool

    @classmethod
    def parse(cls, query: str | dict[str, str]) -> View:
        params = dict(urllib.parse.parse_qsl(query)) if isinstance(query, str) else query
        return cls(
            Filters(
                task=params.get("task") or None,
                verifier=params.get("verifier") or None,
                status=params.get("status") or None,
                disagree=params.get("disagree") in ("1", "on", "true"),
            ),
            todo=params.get("view", "todo") != "all",
        )

    def query(self, **extra: Any) -> str:
        params: dict[str, Any] = {}
        if self.filters.task:
            params["task"] = self.filters.task
        if self.filters.verifier:
            params["verifier"] = self.filters.verifier
        if self.filters.status:
            params["status"] = self.filters.status
        if self.filters.disagree:
            params["disagree"] = "1"
        if not self.todo:
            params["view"] = "all"
        params.update(extra)
        return urllib.parse.urlencode(params)

    def url(self, position: int | None) -> str | None:
        return None if position is None else "/?" + self.query(at=position)


def create_review_app(review: Review, settings: ReviewSettings | None = None) -> FastAPI:
    settings = settings or ReviewSettings()
    app = FastAPI(title="assay review", docs_url=None, redoc_url=None, openapi_url=None)
    env = _environment()
    static_dir = resources.files("assay.review") / "static"
    static_files = {name: (static_dir / name).read_bytes() for name in ("review.css", "review.js")}
    static_files["pygments.css"] = render.pygments_css().encode()
    static_version = hashlib.sha256(b"".join(static_files.values())).hexdigest()[:10]
    static_prefix = f"/static/{static_version}"
    secret = review.secret

    def reviewer_of(request: Request) -> str | None:
        cookie = request.cookies.get(COOKIE, "")
        name, _, signature = cookie.rpartition(".")
        if not name or not hmac.compare_digest(signature, _sign(secret, "reviewer", name)):
            return None
        return name

    def csrf_for(request: Request) -> str:
        return _sign(secret, "csrf", request.cookies.get(COOKIE, ""))

    def check_same_origin(request: Request) -> None:
        """Refuse a POST the browser says comes from another site (a form or script on another page)."""
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise HTTPException(403, "cross-site request refused")
        origin = request.headers.get("origin")
        if origin is not None:
            expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
            if origin != expected:
                raise HTTPException(403, "cross-origin request refused")

    def check_post(request: Request, supplied: str | None) -> str:
        """The reviewer making a POST, after the same-origin and CSRF checks."""
        check_same_origin(request)
        reviewer = reviewer_of(request)
        if reviewer is None:
            raise HTTPException(401, "sign in first")
        if not supplied or not hmac.compare_digest(supplied, csrf_for(request)):
            raise HTTPException(403, "missing or wrong CSRF token; reload the page")
        return reviewer

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        if settings.loopback:
            host = request.headers.get("host", "")
            hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
            if hostname.lower() not in LOOPBACK_HOSTS:
                return JSONResponse({"detail": "this page answers on loopback names only"}, status_code=421)
        response: Response = await call_next(request)
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        return response

    def html(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(template).render(static=static_prefix, **context), status_code)

    def signed_in(name: str, to: str = "/") -> RedirectResponse:
        response = RedirectResponse(to, status_code=303)
        response.set_cookie(
            COOKIE,
            f"{name}.{_sign(secret, 'reviewer', name)}",
            httponly=True,
            samesite="strict",
            max_age=30 * 24 * 3600,
        )
        return response

    @app.get("/static/{version}/{name}")
    def static(version: str, name: str) -> Response:
        body = static_files.get(name)
        if body is None:
            raise HTTPException(404)
        media = "text/css" if name.endswith(".css") else "text/javascript"
        return Response(body, media_type=media, headers={"Cache-Control": "public, max-age=31536000, immutable"})

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "samples": review.index.total, "design": review.design}

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, token: str | None = None) -> Response:
        if token is not None:
            with review.lock:
                name = label_db.reviewer_for_token(review.db, token)
            if name is None:
                return html("login.html", 403, tokens=True, error="That token is not valid for this review.")
            return signed_in(name)
        with review.lock:
            known = [row[0] for row in review.db.execute("SELECT name FROM reviewers ORDER BY name")]
        return html("login.html", tokens=settings.tokens, reviewers=known)

    @app.post("/login")
    async def login(request: Request) -> Response:
        if settings.tokens:
            raise HTTPException(403, "sign in with your personal link")
        check_same_origin(request)
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        name = (form.get("name") or [""])[0].strip()
        if not REVIEWER_NAME.match(name):
            return html(
                "login.html",
                400,
                tokens=False,
                name=name,
                error="Use 1 to 40 letters, digits, dots, dashes or underscores.",
            )
        with review.lock:
            label_db.ensure_reviewers(review.db, [name], tokens=False)
        return signed_in(name)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        check_post(request, (form.get("csrf") or [""])[0])
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request) -> Response:
        reviewer = reviewer_of(request)
        if reviewer is None:
            return RedirectResponse("/login", status_code=303)
        params = dict(request.query_params)
        view = View.parse(params)
        position: int | None
        if "at" in params:
            try:
                position = int(params["at"])
            except ValueError:
                raise HTTPException(400, "`at` must be a sample position (an integer)") from None
        else:
            position = review.next_position(reviewer, -1, view.filters, todo=view.todo)
        sample = review.sample(position) if position is not None else None
        context: dict[str, Any] = {
            "reviewer": reviewer,
            "csrf": csrf_for(request),
            "progress": review.progress(reviewer),
            "filters": view.filters,
            "view": "todo" if view.todo else "all",
            "verifiers": review.index.verifiers,
            "statuses": STATUSES,
            "query": view.query(),
        }
        if sample is None:
            last = review.previous_position(review.index.total, view.filters)
            context.update(
                sample=None,
                prev_url=view.url(last),
                empty_title="Nothing left to label here" if view.todo else "No sample matches",
                empty_text=(
                    "Every sample that matches these filters has the labels it needs."
                    if view.todo
                    else "No sample matches these filters."
                ),
            )
            return html("page.html", **context)
        context.update(sample_context(review, reviewer, sample, view))
        return html("page.html", **context)

    @app.post("/api/label")
    def save_label(request: Request, body: LabelRequest) -> dict[str, Any]:
        reviewer = check_post(request, request.headers.get("x-csrf-token"))
        view = View.parse(body.query)
        try:
            row = review.save(reviewer, body.position, body.label, body.note, browsed=not view.filters.empty)
        except KeyError:
            raise HTTPException(404, f"no sample at position {body.position}") from None
        following = review.next_position(reviewer, body.position, view.filters, todo=view.todo)
        return {
            "id": row.id,
            "label": row.label,
            "sampling": row.sampling,
            "next": view.url(following) or "/?" + view.query(),
            "progress": review.progress(reviewer).__dict__,
        }

    @app.post("/api/undo")
    def undo(request: Request, body: UndoRequest) -> dict[str, Any]:
        reviewer = check_post(request, request.headers.get("x-csrf-token"))
        view = View.parse(body.query)
        result = review.undo(reviewer)
        if result is None:
            return {"url": None, "message": "nothing to undo"}
        position, row = result
        return {"url": view.url(position), "label": row.label, "undid": row.undoes}

    return app


def sample_context(review: Review, reviewer: str, sample: SampleView, view: View) -> dict[str, Any]:
    mine = review.my_row(reviewer, sample.position)
    others = [name for name in review.labels_at(sample.position) if name != reviewer]
    language = sample.task_metadata.get("language") if isinstance(sample.task_metadata.get("language"), str) else None
    return {
        "sample": sample,
        "problem_html": _problem(sample.prompt),
        "reference_html": render.reference(sample.reference) if sample.reference else None,
        "sample_html": render.sample(sample.text, language),
        "raw_text": sample.text[: render.MAX_RENDERED_CHARS],
        "raw_clipped": max(0, len(sample.text) - render.MAX_RENDERED_CHARS),
        "stratum_text": STRATUM_TEXT.get(sample.stratum, sample.stratum),
        "mine": mine,
        "others": len(others),
        "verdicts": [
            {
                "verifier": v.verifier,
                "status": v.status,
                "score": v.score,
                "answer": v.answer,
                "reason": v.reason,
                "details_html": render.json_block(v.details) if v.details else None,
                "details_open": len(json.dumps(v.details, default=str)) <= DETAILS_SHOWN_OPEN,
            }
            for v in sample.verdicts
        ],
        "next_url": view.url(review.next_position(reviewer, sample.position, view.filters, todo=view.todo)),
        "prev_url": view.url(review.previous_position(sample.position, view.filters)),
    }


@functools.lru_cache(maxsize=512)
def _problem(prompt: str) -> Markup:
    if not prompt.strip():
        return Markup('<p class="empty">(no prompt)</p>')
    return render.sample(prompt)
