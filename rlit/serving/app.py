"""The HTTP app of ``rlit serve``: the composite reward behind FastAPI.

Endpoints: ``POST /score`` (rlit rows), ``POST /get_reward`` (OpenRLHF's remote reward protocol),
``GET /health``, ``GET /sources``. Every scoring request goes through one path: read the body
(bounded), validate it (typed models), map it to ``Rows``, queue it on the one scorer thread
(``MicroBatcher``), reply. Every refusal goes through one error path: a ``RequestError`` with an
HTTP status, one line and the field at fault. A source that fails under ``on_error = "fail"`` is
a 500 naming the source; the server stays up.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from rlit.errors import RlitError, SourceError
from rlit.rewards.batch import RewardBatch, optional
from rlit.rewards.composite import CompositeReward
from rlit.serving.batcher import MicroBatcher
from rlit.serving.protocol import (
    GetRewardRequest, RequestError, Rows, ScoreRequest, ServeSettings, completion_from_query,
    label_columns, parse_body, rows_from_dicts,
)

log = logging.getLogger("rlit.serving")


def build_app(reward: CompositeReward, settings: ServeSettings | None = None) -> FastAPI:
    """A FastAPI app serving ``reward``; its scorer thread starts and stops with the app."""
    settings = settings or ServeSettings()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state["batcher"] = MicroBatcher(reward, settings.max_batch_rows, settings.max_wait_ms / 1000, settings.wait_fraction)
        try:
            yield
        finally:  # uvicorn has finished the in-flight requests by now (graceful shutdown)
            await asyncio.to_thread(state["batcher"].close)

    app = FastAPI(title="rlit reward server", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(RequestError)
    async def _refused(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        b = state.get("batcher")
        return {"status": "ok", "batches": b.batches if b else 0, "rows": b.rows if b else 0}

    @app.get("/sources")
    async def sources(request: Request) -> dict[str, Any]:
        _authorize(request, settings.token)
        return {"sources": source_listing(reward)}

    @app.post("/score")
    async def score(request: Request) -> JSONResponse:
        body = await _read(request, settings)
        req: ScoreRequest = parse_body(ScoreRequest, body)
        _check_rows(len(req.rows), "rows", settings)
        dicts = [r.model_dump() for r in req.rows]
        _check_columns(dicts, reward.required_columns)
        scored = await _scored(state["batcher"], rows_from_dicts(dicts))
        return JSONResponse({"rows": [scored.row(i) for i in range(len(dicts))]})  # the keys `rlit score` writes

    @app.post("/get_reward")
    async def get_reward(request: Request) -> JSONResponse:
        body = await _read(request, settings)
        req: GetRewardRequest = parse_body(GetRewardRequest, body)
        _check_rows(len(req.query), "query", settings)
        rows = openrlhf_rows(req, settings, reward.required_columns)
        scored = await _scored(state["batcher"], rows)
        return JSONResponse(openrlhf_reply(scored, settings.unscored_reward))

    return app


async def _read(request: Request, settings: ServeSettings) -> bytes:
    """The body, refused (413) past ``max_request_bytes`` before it is all read; the token first."""
    _authorize(request, settings.token)
    limit = settings.max_request_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"body is {declared} bytes; the limit is {limit} (--max-request-bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"body is over {limit} bytes (--max-request-bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _authorize(request: Request, token: str | None) -> None:
    if token is None:
        return
    given = request.headers.get("authorization", "")
    # Constant-time comparison: the token is a secret.
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise RequestError(401, "missing or wrong bearer token (header 'Authorization: Bearer <token>')", "Authorization")


def _check_rows(n: int, name: str, settings: ServeSettings) -> None:
    if n > settings.max_request_rows:
        raise RequestError(413, f"{name}: {n} rows; the limit is {settings.max_request_rows} per request (--max-request-rows)", name)


def _check_columns(rows: list[dict[str, Any]], required: dict[str, str], field: str = "rows") -> None:
    """A column a source needs, missing from a row, is the caller's fault (422), caught before
    the row can join (and fail) a batch with other callers' rows."""
    for i, row in enumerate(rows):
        for col, source in required.items():
            if col not in row:
                raise RequestError(422, f"{field}[{i}]: missing column {col!r} (needed by reward source {source!r})", f"{field}[{i}].{col}")


async def _scored(batcher: MicroBatcher, rows: Rows) -> RewardBatch:
    try:
        return await asyncio.wrap_future(batcher.submit(rows))
    except SourceError as exc:
        raise RequestError(500, str(exc), f"source:{exc.source}") from None
    except RlitError as exc:  # the rows themselves (e.g. a column of the wrong shape)
        raise RequestError(422, str(exc).splitlines()[0]) from None
    except RuntimeError as exc:
        if "shut down" in str(exc):
            raise RequestError(503, "the server is shutting down") from None
        raise _bug(exc) from None
    except Exception as exc:  # noqa: BLE001 - a bug in a source or in rlit: 500, the server stays up
        raise _bug(exc) from None


def _bug(exc: BaseException) -> RequestError:
    log.exception("internal error while scoring", exc_info=exc)
    return RequestError(500, f"internal error (a bug, please report it): {type(exc).__name__}: {exc}".splitlines()[0])


def openrlhf_rows(req: GetRewardRequest, settings: ServeSettings, required: dict[str, str] | None = None) -> Rows:
    """OpenRLHF's query / prompts / labels as rlit rows (prompt prefix and EOS tokens stripped)."""
    n = len(req.query)
    for name in ("prompts", "labels"):
        got = getattr(req, name)
        if got is not None and len(got) != n:
            raise RequestError(422, f"{name}: {len(got)} entries for {n} queries", name)
    prompts = req.prompts or [""] * n
    completions = []
    for i, (q, p) in enumerate(zip(req.query, prompts)):
        try:
            completions.append(completion_from_query(q, p, settings.strip_suffixes))
        except ValueError as exc:
            raise RequestError(422, f"query[{i}]: {exc}", f"query[{i}]") from None
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    if req.labels is not None:
        rows = [label_columns(label, settings.label_column) for label in req.labels]
    _check_columns(rows, required or {}, "labels")
    names = sorted({k for r in rows for k in r})
    return Rows(list(prompts), completions, {k: [r.get(k) for r in rows] for k in names})


def openrlhf_reply(s: RewardBatch, unscored: float | None) -> dict[str, Any]:
    """``rewards`` / ``scores`` (the total) and ``extra_logs`` (each source's raw score), as
    OpenRLHF reads them. Unscored values are null, or ``unscored`` when the server was given one
    (OpenRLHF turns every value into a tensor, which a null breaks)."""

    def values(xs: list[float]) -> list[float | None]:
        return [unscored if v is None else v for v in optional(xs)]

    totals = values(s.total)
    logs = {name: values(xs) for name, xs in s.per_source.items()}
    return {"rewards": totals, "scores": totals, "extra_logs": logs}


def source_listing(reward: CompositeReward) -> list[dict[str, Any]]:
    """What ``GET /sources`` shows: each configured source's key, class name, weight and policy."""
    out = []
    for e in reward.entries:
        veto = e.config.veto.model_dump() if e.config.veto else None
        out.append({
            "name": e.name, "source": getattr(e.config, "name", None) or e.name, "description": type(e.source).description,
            "higher_is_better": type(e.source).higher_is_better, "weight": e.weight,
            "normalize": e.config.normalize or reward.config.normalize, "veto": veto,
            "on_error": e.config.on_error, "columns": list(e.source.columns),  # the instance's: a function source's come from its config
        })
    return out
