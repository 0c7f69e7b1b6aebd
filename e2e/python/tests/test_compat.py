"""Wire compatibility of chorus with the official centrifuge-python SDK.

Every test runs twice: over JSON and over Protobuf (the `codec` fixture).
"""

import asyncio

import pytest
from centrifuge import ClientState, ReplyError, StreamPosition

from conftest import api_async, conn_token, connected, subscribed, unique_channel


async def test_connect_with_token(factory, codec):
    client, rec, ctx = await connected(factory, conn_token("alice"))
    assert isinstance(ctx.client, str) and ctx.client, f"connected ctx: {ctx!r}"
    assert client.state == ClientState.CONNECTED
    assert client.client_id == ctx.client


async def test_subscribe_and_receive_api_publication(factory, codec):
    channel = unique_channel("api-pub", codec.name)
    client, _, _ = await connected(factory, conn_token("bob"))
    sub, rec, sctx = await subscribed(client, channel)
    assert sctx.recoverable and sctx.positioned, f"subscribed ctx: {sctx!r}"
    assert sctx.stream_position is not None and sctx.stream_position.epoch

    data = {"text": "hello from the API", "n": 7, "nested": {"ok": True}}
    status, body, text = await api_async("publish", {"channel": channel, "data": data})
    assert status == 200, text
    assert body is not None and list(body.keys()) == ["result"], text
    assert body["result"]["offset"] == 1, text
    assert body["result"]["epoch"] == sctx.stream_position.epoch, text

    pctx = await rec.wait("publication")
    assert codec.dec(pctx.pub.data) == data
    assert pctx.pub.offset == 1
    assert pctx.pub.info is None


async def test_publish_from_client(factory, codec):
    channel = unique_channel("client-pub", codec.name)
    alice, _, actx = await connected(factory, conn_token("alice"))
    bob, _, _ = await connected(factory, conn_token("bob"))
    sub_a, _, _ = await subscribed(alice, channel)
    _, rec_b, _ = await subscribed(bob, channel)

    data = {"from": "alice", "text": "hi bob"}
    await asyncio.wait_for(sub_a.publish(codec.enc(data)), 5)

    pctx = await rec_b.wait("publication")
    assert codec.dec(pctx.pub.data) == data
    assert pctx.pub.info is not None, "client publications carry publisher info"
    assert pctx.pub.info.user == "alice"
    assert pctx.pub.info.client == actx.client


async def test_presence_stats(factory, codec):
    channel = unique_channel("presence", codec.name)
    alice, _, actx = await connected(factory, conn_token("alice"))
    bob, _, bctx = await connected(factory, conn_token("bob"))
    sub_a, rec_a, _ = await subscribed(alice, channel)
    sub_b, _, _ = await subscribed(bob, channel)

    stats = await asyncio.wait_for(sub_a.presence_stats(), 5)
    assert (stats.num_clients, stats.num_users) == (2, 2), f"{stats!r}"

    presence = await asyncio.wait_for(sub_b.presence(), 5)
    assert sorted(presence.clients) == sorted([actx.client, bctx.client]), f"{presence!r}"
    assert presence.clients[actx.client].user == "alice"

    join = await rec_a.wait("join", pred=lambda c: c.info.user == "bob")
    assert join.info.client == bctx.client


async def test_history(factory, codec):
    channel = unique_channel("history", codec.name)
    client, _, _ = await connected(factory, conn_token("carol"))
    sub, _, _ = await subscribed(client, channel)
    epoch = ""
    for i in range(1, 6):
        status, body, text = await api_async("publish", {"channel": channel, "data": {"seq": i}})
        assert status == 200 and body and "result" in body, text
        assert body["result"]["offset"] == i, text
        epoch = body["result"]["epoch"]

    res = await asyncio.wait_for(sub.history(limit=3), 5)
    assert [p.offset for p in res.publications] == [1, 2, 3]
    assert [codec.dec(p.data) for p in res.publications] == [{"seq": 1}, {"seq": 2}, {"seq": 3}]
    assert res.offset == 5
    assert res.epoch == epoch

    rev = await asyncio.wait_for(sub.history(limit=2, reverse=True), 5)
    assert [p.offset for p in rev.publications] == [5, 4]

    since = await asyncio.wait_for(
        sub.history(limit=10, since=StreamPosition(offset=3, epoch=epoch)), 5
    )
    assert [p.offset for p in since.publications] == [4, 5]


async def test_history_of_an_empty_channel(factory, codec):
    # Centrifugo writes `"publications":[]` for an empty history; the SDK
    # iterates the list, so `null` there broke history() on every new channel.
    channel = unique_channel("history-empty", codec.name)
    client, _, _ = await connected(factory, conn_token("carol"))
    sub, _, _ = await subscribed(client, channel)
    res = await asyncio.wait_for(sub.history(limit=10), 5)
    assert res.publications == []
    assert res.offset == 0


async def test_rpc_without_handler_is_not_available(factory, codec):
    # No RPC proxy and no `rpc.ping` in the test config: 108, as Centrifugo.
    client, _, _ = await connected(factory, conn_token("dave"))
    with pytest.raises(ReplyError) as excinfo:
        await asyncio.wait_for(client.rpc("no.such.method", codec.enc({"x": 1})), 5)
    assert excinfo.value.code == 108, f"{excinfo.value!r}"
    assert client.state == ClientState.CONNECTED


async def test_bad_token_disconnects_3500(factory, codec):
    client, rec = factory(conn_token("mallory", secret="not-the-server-secret-but-long-enough-for-hs256"))
    await asyncio.wait_for(client.connect(), 5)
    ctx = await rec.wait("disconnected", timeout=5)
    assert ctx.code == 3500, f"disconnected ctx: {ctx!r}; events: {rec.events!r}"
    assert client.state == ClientState.DISCONNECTED
    await asyncio.sleep(1.0)
    assert rec.all("connected") == []
    assert client.state == ClientState.DISCONNECTED, "no reconnect after 3500"


async def test_permission_denied_103(factory, codec):
    client, _, _ = await connected(factory, conn_token("gina"))
    from conftest import Recorder, SubEvents

    rec = Recorder()
    sub = client.new_subscription(f"secure:{unique_channel('x', codec.name)}", events=SubEvents(rec))
    await sub.subscribe()
    ctx = await rec.wait("unsubscribed", timeout=5)
    assert ctx.code == 103, f"unsubscribed ctx: {ctx!r}; events: {rec.events!r}"
    assert rec.all("subscribed") == []
    assert client.state == ClientState.CONNECTED


async def test_expired_token_without_get_token(factory, codec):
    # centrifuge-python: connect error 109 is temporary (error event), the next attempt
    # needs a new token and, without get_token, ends disconnected "unauthorized" (code 1).
    client, rec = factory(conn_token("frank", expires_in=-60))
    await asyncio.wait_for(client.connect(), 5)
    err = await rec.wait(
        "error", pred=lambda c: isinstance(c.error, ReplyError), timeout=5
    )
    assert err.error.code == 109, f"error ctx: {err!r}"
    ctx = await rec.wait("disconnected", timeout=5)
    assert ctx.code == 1, f"disconnected ctx: {ctx!r}; events: {rec.events!r}"
    assert rec.all("connected") == []


async def test_join_leave(factory, codec):
    channel = unique_channel("joinleave", codec.name)
    alice, _, _ = await connected(factory, conn_token("alice"))
    _, rec_a, _ = await subscribed(alice, channel)
    bob, _, bctx = await connected(factory, conn_token("bob"))
    await subscribed(bob, channel)
    join = await rec_a.wait("join", pred=lambda c: c.info.user == "bob")
    assert join.info.client == bctx.client
    await asyncio.wait_for(bob.disconnect(), 5)
    leave = await rec_a.wait("leave", pred=lambda c: c.info.user == "bob")
    assert leave.info.client == bctx.client
