"""Fixtures of the centrifuge-python suite: environment, tokens, clients, events."""

import asyncio
import json
import os
import secrets
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, List, Optional, Tuple

import logging

import jwt
import pytest
from centrifuge import Client, ClientEventHandler, SubscriptionEventHandler


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the suites through e2e/run")
    return value


# Only the SDK's own debug lines (commands, replies, close codes) are of use.
for _noisy in ("websockets", "asyncio"):
    logging.getLogger(_noisy).setLevel(logging.INFO)

WS_URL = _required("CHORUS_WS_URL")
HTTP_URL = _required("CHORUS_HTTP_URL")
HMAC_SECRET = _required("CHORUS_HMAC_SECRET")
API_KEY = _required("CHORUS_API_KEY")


def conn_token(user: str, expires_in: int = 3600, secret: str = HMAC_SECRET, info: Any = None) -> str:
    now = int(time.time())
    claims: Dict[str, Any] = {"sub": user, "exp": now + expires_in, "iat": now}
    if info is not None:
        claims["info"] = info
    return jwt.encode(claims, secret, algorithm="HS256")


def unique_channel(prefix: str, proto: str) -> str:
    return f"{prefix}-py-{proto}-{secrets.token_hex(6)}"


def api(method: str, body: Dict[str, Any], key: Optional[str] = API_KEY) -> Tuple[int, Any, str]:
    """POST /api/<method>; returns (status, parsed JSON or None, raw text)."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["X-API-Key"] = key
    req = urllib.request.Request(
        f"{HTTP_URL}/api/{method}",
        data=json.dumps(body).encode(),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as res:
            status, text = res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode(errors="replace")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return status, parsed, text


async def api_async(method: str, body: Dict[str, Any], key: Optional[str] = API_KEY):
    return await asyncio.to_thread(api, method, body, key)


class Recorder:
    """Collects (event name, ctx) pairs and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: List[Tuple[str, Any]] = []
        self._changed = asyncio.Event()

    def record(self, name: str, ctx: Any) -> None:
        self.events.append((name, ctx))
        self._changed.set()

    def all(self, name: str) -> List[Any]:
        return [ctx for n, ctx in self.events if n == name]

    async def wait(self, name: str, pred: Callable[[Any], bool] = lambda _: True, timeout: float = 5.0) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for n, ctx in self.events:
                if n == name and pred(ctx):
                    return ctx
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {name!r}; events: {self.events!r}"
                )
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass


class ClientEvents(ClientEventHandler):
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def on_connecting(self, ctx):
        self.rec.record("connecting", ctx)

    async def on_connected(self, ctx):
        self.rec.record("connected", ctx)

    async def on_disconnected(self, ctx):
        self.rec.record("disconnected", ctx)

    async def on_error(self, ctx):
        self.rec.record("error", ctx)


class SubEvents(SubscriptionEventHandler):
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def on_subscribing(self, ctx):
        self.rec.record("subscribing", ctx)

    async def on_subscribed(self, ctx):
        self.rec.record("subscribed", ctx)

    async def on_unsubscribed(self, ctx):
        self.rec.record("unsubscribed", ctx)

    async def on_publication(self, ctx):
        self.rec.record("publication", ctx)

    async def on_join(self, ctx):
        self.rec.record("join", ctx)

    async def on_leave(self, ctx):
        self.rec.record("leave", ctx)

    async def on_error(self, ctx):
        self.rec.record("error", ctx)


class Codec:
    """Application payloads for one protocol: dicts over JSON, JSON bytes over Protobuf."""

    def __init__(self, proto: str) -> None:
        self.name = proto
        self.protobuf = proto == "protobuf"

    def enc(self, value: Any) -> Any:
        return json.dumps(value).encode() if self.protobuf else value

    def dec(self, data: Any) -> Any:
        if self.protobuf and isinstance(data, (bytes, bytearray)):
            return json.loads(data)
        return data


@pytest.fixture(params=["json", "protobuf"])
def codec(request) -> Codec:
    return Codec(request.param)


@pytest.fixture
async def factory(codec):
    """Creates clients (and their recorders); disconnects them all at the end."""
    clients: List[Client] = []

    def make(token: str = "", **kwargs) -> Tuple[Client, Recorder]:
        rec = Recorder()
        client = Client(
            WS_URL,
            events=ClientEvents(rec),
            token=token,
            use_protobuf=codec.protobuf,
            timeout=4.0,
            min_reconnect_delay=0.2,
            max_reconnect_delay=1.0,
            proxy=None,
            **kwargs,
        )
        clients.append(client)
        return client, rec

    yield make

    for client in clients:
        try:
            await asyncio.wait_for(client.disconnect(), 5)
        except Exception:  # noqa: BLE001 - cleanup only
            pass


async def connected(make, token: str, **kwargs) -> Tuple[Client, Recorder, Any]:
    client, rec = make(token, **kwargs)
    await asyncio.wait_for(client.connect(), 5)
    try:
        await client.ready(timeout=5)
    except Exception as e:
        raise AssertionError(f"client did not connect: {e!r}; events: {rec.events!r}") from e
    ctx = await rec.wait("connected")
    return client, rec, ctx


async def subscribed(client: Client, channel: str, **kwargs) -> Tuple[Any, Recorder, Any]:
    rec = Recorder()
    sub = client.new_subscription(channel, events=SubEvents(rec), **kwargs)
    await sub.subscribe()
    try:
        await sub.ready(timeout=5)
    except Exception as e:
        raise AssertionError(f"subscription to {channel} failed: {e!r}; events: {rec.events!r}") from e
    ctx = await rec.wait("subscribed")
    return sub, rec, ctx
