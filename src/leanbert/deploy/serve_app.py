"""The HTTP side of `leanbert serve` (FastAPI): endpoints, body limits, request ids, an optional API key.

Handlers are async and never wait on the model in a thread: /health answers at once whatever the load, and
/classify awaits its batch (batcher.py) while holding no thread. The body is counted as it streams (chunked
bodies have no length to check up front) and reading stops at the limit. Error bodies are one short line.
"""

import asyncio
import contextlib
import hmac
import json
import logging
import os
import re
import time
import uuid

from .batcher import Batcher
from .serve import Classifier, RequestError

API_KEY_ENV = "LEANBERT_API_KEY"
log = logging.getLogger("leanbert.deploy.serve")


async def read_body(request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(f"request body larger than {limit} bytes", 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:  # stop reading: the rest is never buffered
            raise RequestError(f"request body larger than {limit} bytes", 413)
    return bytes(body)


def _short(error) -> str:
    """A pydantic error as one line naming the field, without echoing the (possibly huge) input."""
    first = error.errors(include_input=False)[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return f"invalid field '{where}': {first.get('msg', 'invalid')}"[:300]


def _request_id(request) -> str:
    given = request.headers.get("x-request-id", "")
    return given if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", given) else uuid.uuid4().hex[:16]


def create_app(classifier: Classifier, batcher: Batcher | None = None, api_key: str | None = None):
    from fastapi import FastAPI, Request
    from pydantic import ValidationError

    request_model = _request_model()
    batcher = batcher or Batcher(classifier)
    api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await asyncio.to_thread(batcher.close)  # uvicorn has let in-flight requests finish; the queue drains

    app = FastAPI(title="leanbert", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.batcher = batcher
    _add_access_control_and_errors(app, api_key)

    @app.get("/health")
    async def health() -> dict:
        return {**classifier.info(), "queued": batcher.queued(), "worker": os.getpid()}

    @app.post("/classify")
    async def classify(request: Request) -> dict:
        body = await read_body(request, classifier.limits.max_body_bytes)
        try:  # the json module, not pydantic's parser: a lone surrogate then reaches check() and gets a 400 naming it
            req = request_model.model_validate(json.loads(body))
        except json.JSONDecodeError as e:
            raise RequestError(f"invalid JSON body: {e.msg} at line {e.lineno} column {e.colno}", 422) from None
        except ValidationError as e:
            raise RequestError(_short(e), 422) from None
        job = await asyncio.to_thread(batcher.prepare, req.texts, req.text_pairs, req.speedup)  # tokenising off the loop
        return await asyncio.wrap_future(batcher.submit(job))

    return app


def _request_model():
    from pydantic import BaseModel, ConfigDict

    class ClassifyRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        texts: list[str]
        text_pairs: list[str] | None = None
        speedup: float | None = None

    return ClassifyRequest


def _add_access_control_and_errors(app, api_key: str | None) -> None:
    """The API key check (every path but /health), the access log with a request id, and RequestError as JSON."""
    from fastapi import Request
    from fastapi.responses import JSONResponse

    @app.middleware("http")
    async def access_log(request: Request, call_next):
        rid, start = _request_id(request), time.perf_counter()
        if api_key and request.url.path != "/health" and not hmac.compare_digest(
                request.headers.get("x-api-key", "").encode(), api_key.encode()):
            response = JSONResponse({"detail": "missing or wrong x-api-key header"}, 401)
        else:
            response = await call_next(request)
        response.headers["x-request-id"] = rid
        response.headers["x-leanbert-worker"] = str(os.getpid())  # which process answered (serve --workers)
        log.info("%s %s %s %d %.1fms", rid, request.method, request.url.path, response.status_code,
                 1000 * (time.perf_counter() - start))
        return response

    @app.exception_handler(RequestError)
    async def bad_request(request: Request, exc: RequestError):
        headers = {"retry-after": "1"} if exc.status == 503 else None
        return JSONResponse({"detail": str(exc)}, exc.status, headers=headers)
