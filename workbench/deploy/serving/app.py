"""The ASGI app `workbench serve` runs: MLflow's scoring server behind a small router.

Each model gets the FastAPI app MLflow's own scoring server builds for it
(`mlflow.pyfunc.scoring_server.init`), so routes, input formats (`dataframe_split`,
`dataframe_records`, `instances`, `inputs`, CSV, Parquet), replies and errors are exactly MLflow's:
a client written for `mlflow models serve` works unchanged. `ServingApp` sits in front of them:

* `POST /invocations` is read once, handed to the answering model's app, and its reply is passed
  back with two headers: `X-Workbench-Model` (which model answered, `NAME/VERSION` or the folder) and
  `X-Workbench-Request-Id` (the key of the request's line in the request log);
* `mode="shadow"`: after the primary's reply has been sent, the same body is scored by the second
  model in a background task; both predictions go to the request log and the agreement counters.
  The shadow's answer is never returned, and it cannot delay or change the reply (it starts after the
  reply is sent; at most 64 shadow scorings wait at once, more are skipped and counted);
* `mode="canary"`: `percent` % of requests are answered by the second model instead. The choice is
  a seeded pseudo-random draw (reproducible for a given `seed` and request order), or, when the
  client sends `X-Workbench-Route-Key` (a user or session id), a hash of that key, so that one
  user always sees the same model;
* `mode="ab"`: an A/B test: `percent` % of requests are answered by the second model (arm B), the
  arm a hash of the route key or of the request id (ab.py); each log line carries its `arm`;
* every other path (`/ping`, `/health`, `/version`, MLflow's docs) goes to the primary's app, and
  its reply carries `X-Workbench-Model` too; `GET /version` with `Accept: application/json` answers
  what `describe()` says (which versions serve, the canary's share) instead of MLflow's version
  string, so that MLflow clients see what they expect and operators can ask which version serves;
  `add_route(path, asgi_app)` mounts more (monitoring's Prometheus `/metrics` goes here);
* the answering models can change while serving (rollout.py: an alias that moved, a canary's share):
  each request reads `primary`/`second` once, so a swap is atomic, and `ModelSlot.inflight` says
  when the replaced model has no request left and can be dropped; `observers` see every reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from workbench.deploy.serving.ab import ARM_B, ABRouter
from workbench.deploy.serving.request_log import RequestLog, ServingStats, compare_predictions, decode_reply

__all__ = ["CanaryRouter", "ModelSlot", "ServingApp", "build_app", "probe"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MODES = ("single", "shadow", "canary", "ab")
MAX_PENDING_SHADOW = 64
ROUTE_KEY_HEADER = b"x-workbench-route-key"
MODEL_HEADER = b"x-workbench-model"
REQUEST_ID_HEADER = b"x-workbench-request-id"


@dataclass
class ModelSlot:
    """One served model: how it is named in replies and logs, and MLflow's scoring app for it."""

    label: str
    app: ASGIApp
    model: Any = None  # the loaded pyfunc model, for callers that want it
    inflight: int = 0  # requests this slot is scoring now (a swapped-out slot is dropped at 0)

    @property
    def header(self) -> bytes:
        return quote(self.label, safe="/@:._-").encode("ascii")


class CanaryRouter:
    """Decides, per request, whether the canary answers: `percent` % of draws, documented above."""

    def __init__(self, percent: float, seed: int = 0) -> None:
        if not 0 <= percent <= 100:
            raise ValueError(f"canary percentage {percent} is not between 0 and 100")
        self.percent = percent
        self._random = random.Random(seed)

    def use_canary(self, route_key: str | None = None) -> bool:
        if route_key:
            digest = hashlib.sha256(route_key.encode("utf-8")).digest()
            draw = int.from_bytes(digest[:8], "big") / 2**64
        else:
            draw = self._random.random()
        return draw * 100 < self.percent


class _Reply:
    """A reply captured from an inner app instead of being sent."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers") or [])
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _call(app: ASGIApp, scope: Scope, body: bytes) -> _Reply:
    """Run an inner ASGI app on a request whose body was already read; capture its reply.

    After the body, `receive` waits until the reply is complete before reporting a disconnect:
    Starlette's middleware listens for disconnects and would otherwise abandon the request.
    """
    reply, finished, delivered = _Reply(), asyncio.Event(), False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    try:
        await app(dict(scope), receive, reply.send)
    except Exception as exc:  # noqa: BLE001 - an inner failure is a 500 reply, not a dead server
        message = {"error_code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"}
        reply.status, reply.chunks = 500, [json.dumps(message).encode()]
        reply.headers = [(b"content-type", b"application/json")]
    finally:
        finished.set()
    return reply


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class ServingApp:
    """The ASGI app: a router over MLflow scoring apps, with request logging (see the module doc)."""

    def __init__(self, primary: ModelSlot, second: ModelSlot | None = None, mode: str = "single",
                 percent: float = 0.0, seed: int = 0, log: RequestLog | None = None,
                 stats: ServingStats | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {MODES}")
        if (mode == "single") != (second is None):
            raise ValueError(f"mode {mode!r} {'takes no' if mode == 'single' else 'needs a'} second model")
        self.primary, self.second, self.mode = primary, second, mode
        self.router = CanaryRouter(percent, seed) if mode == "canary" else None
        self.ab = ABRouter(percent) if mode == "ab" else None  # arms by request id / route key hash
        self.log = log
        self.stats = stats or ServingStats()
        self.metrics = None  # serving_metrics.ServingMetrics, when /metrics is served
        self._routes: dict[str, ASGIApp] = {}
        self._shadows: set[asyncio.Task] = set()
        self.on_shutdown: list[Callable[[], Awaitable[None] | None]] = []
        self.on_startup: list[Callable[[], Awaitable[None] | None]] = []  # run in the server's loop
        # observer(role, label, status, seconds, reply_body) after each reply: must not block
        self.observers: list[Callable[[str, str, int, float, bytes], None]] = []
        self.describe: Callable[[], dict] | None = None  # the JSON of `GET /version` (see above)

    def add_route(self, path: str, app: ASGIApp) -> None:
        """Serve `path` with another ASGI app (before MLflow's routes), e.g. a Prometheus `/metrics`."""
        self._routes[path] = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path = scope.get("path", "")
        if path in self._routes:
            await self._routes[path](scope, receive, send)
        elif scope["type"] == "http" and path == "/invocations" and scope.get("method") == "POST":
            await self._invocations(scope, receive, send)
        elif scope["type"] == "http":
            await self._passthrough(scope, receive, send)
        else:
            await self.primary.app(scope, receive, send)

    async def _passthrough(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A path of the primary's app (`/ping`, `/version`...), its reply naming the model."""
        slot = self.primary
        accept = _header(scope, b"accept") or ""
        if scope.get("path") == "/version" and self.describe is not None and "application/json" in accept:
            body = json.dumps(self.describe()).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (MODEL_HEADER, slot.header)]})
            await send({"type": "http.response.body", "body": body})
            return

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*(message.get("headers") or []), (MODEL_HEADER, slot.header)]}
            await send(message)

        await slot.app(scope, receive, named)

    # ----------------------------------------------------------------------------------------------

    async def _invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        arrived = time.time()
        body = await _read_body(receive)
        request_id = uuid.uuid4().hex
        slot, role = self.primary, "primary"
        if self.router is not None and self.router.use_canary(_header(scope, ROUTE_KEY_HEADER)):
            slot, role = self.second, "canary"
        arm = self.ab.arm(request_id, _header(scope, ROUTE_KEY_HEADER)) if self.ab is not None else None
        if arm == ARM_B:
            slot, role = self.second, "ab"
        started = time.perf_counter()
        slot.inflight += 1
        try:
            reply = await _call(slot.app, scope, body)
        finally:
            slot.inflight -= 1
        seconds = time.perf_counter() - started
        headers = [*reply.headers, (MODEL_HEADER, slot.header), (REQUEST_ID_HEADER, request_id.encode())]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

        self.stats.record(role, reply.status, seconds)
        for observer in self.observers:
            observer(role, slot.label, reply.status, seconds, reply.body)
        if self.metrics is not None:
            self.metrics.observe_request(slot.label, role, reply.status, seconds)
        entry = {"ts": arrived, "id": request_id, "model": slot.label, "role": role,
                 "status": reply.status, "latency_ms": round(seconds * 1000, 3),
                 "body": body, "content_type": _header(scope, b"content-type") or "", "reply": reply.body}
        if arm is not None:
            entry["arm"] = arm
        if self.mode != "shadow":
            if self.log is not None:
                self.log.write(entry)
            return
        if len(self._shadows) >= MAX_PENDING_SHADOW:
            self.stats.record_shadow(None, None)
            entry["shadow"] = {"model": self.second.label, "skipped": True}
            if self.log is not None:
                self.log.write(entry)
            return
        task = asyncio.get_running_loop().create_task(self._shadow(scope, entry))
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)

    async def _shadow(self, scope: Scope, entry: dict) -> None:
        """Score the request with the shadow model; log both answers and compare them."""
        started = time.perf_counter()
        reply = await _call(self.second.app, scope, entry["body"])
        seconds = time.perf_counter() - started
        primary, primary_error = decode_reply(entry["reply"])
        shadow, shadow_error = decode_reply(reply.body)
        comparison = None
        if entry["status"] < 400 and reply.status < 400:
            comparison = compare_predictions(primary, shadow)
        self.stats.record_shadow(reply.status, comparison)
        entry.update(predictions=primary, error=primary_error)
        entry["shadow"] = {"model": self.second.label, "status": reply.status,
                           "latency_ms": round(seconds * 1000, 3),
                           "predictions": shadow if reply.status < 400 else None}
        if reply.status >= 400:
            entry["shadow"]["error"] = shadow_error or "error"
        if self.log is not None:
            self.log.write(entry)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for shadow scorings still running (at shutdown), at most `timeout` seconds."""
        pending = [t for t in self._shadows if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                for hook in self.on_startup:
                    result = hook()
                    if asyncio.iscoroutine(result):
                        await result
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.drain()
                for hook in self.on_shutdown:
                    result = hook()
                    if asyncio.iscoroutine(result):
                        await result
                await send({"type": "lifespan.shutdown.complete"})
                return


async def probe(slot: ModelSlot, body: bytes, content_type: str = "application/json") -> str | None:
    """Why `slot` is not ready to answer, or None: `GET /ping` and one scoring call with `body`.

    A model about to take traffic (a moved alias) must answer both before the switch, so that a
    version that loads but cannot score never answers a client.
    """
    ping = await _call(slot.app, {"type": "http", "method": "GET", "path": "/ping", "raw_path": b"/ping",
                                  "query_string": b"", "headers": [], "http_version": "1.1",
                                  "scheme": "http", "server": ("127.0.0.1", 0), "client": ("127.0.0.1", 0),
                                  "root_path": ""}, b"")
    if ping.status != 200:
        return f"/ping answered {ping.status}: {ping.body[:200].decode('utf-8', 'replace')}"
    scored = await _call(slot.app, {"type": "http", "method": "POST", "path": "/invocations",
                                    "raw_path": b"/invocations", "query_string": b"",
                                    "headers": [(b"content-type", content_type.encode())], "http_version": "1.1",
                                    "scheme": "http", "server": ("127.0.0.1", 0), "client": ("127.0.0.1", 0),
                                    "root_path": ""}, body)
    if scored.status != 200:
        text = scored.body.decode("utf-8", "replace")
        try:
            error = json.loads(text)
            text = str(error.get("message", text))
            last = [line for line in str(error.get("stack_trace") or "").splitlines() if line.strip()]
            if last:  # the model's own exception first ("RuntimeError: ..."), then MLflow's words
                text = f"{last[-1].strip()} ({text})"
        except (ValueError, AttributeError):
            pass
        if "Original exception" in text:  # MLflow's preamble first, the model's own error last
            text = text[text.index("Original exception"):]
        return f"a test scoring call answered {scored.status}: {' '.join(text.split())[:300]}"
    return None


def build_app(primary: tuple[str, Any], second: tuple[str, Any] | None = None, mode: str = "single",
              percent: float = 0.0, seed: int = 0, log: RequestLog | None = None,
              stats: ServingStats | None = None) -> ServingApp:
    """A ServingApp over loaded pyfunc models, each given as (label, model)."""
    from mlflow.pyfunc import scoring_server

    def slot(pair: tuple[str, Any]) -> ModelSlot:
        label, model = pair
        return ModelSlot(label=label, app=scoring_server.init(model), model=model)

    return ServingApp(slot(primary), slot(second) if second is not None else None, mode=mode,
                      percent=percent, seed=seed, log=log, stats=stats)
