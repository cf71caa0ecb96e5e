"""The dashboard over plain HTTP and WebSocket against a real regtest node: admin actions refused
without a session, without or with a wrong CSRF token, or for a viewer; /metrics parses and
matches RPC; bad input gets clear pages and closes only the socket that sent it; a dashboard
beyond loopback refuses to start without a password."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.parse
import urllib.request

import aiohttp
import pytest
from conftest_keys import ALICE, address_of
from dashboard_harness import (
    ADMIN,
    ADMIN_PASSWORD,
    VIEWER,
    VIEWER_PASSWORD,
    WebClient,
    add_user,
    dashboard_node,
)
from nodeproc import free_port, wait_until
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow
SUBJECT = "10.1.2.3/32"  # what the tests try to ban (listbanned shows it so)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = dashboard_node(tmp_path_factory.mktemp("dashboard-http") / "n")
    try:
        node.start()
        add_user(node, ADMIN, ADMIN_PASSWORD)
        add_user(node, VIEWER, VIEWER_PASSWORD, role="viewer")
        node.rpc("generatetoaddress", 3, address_of(ALICE))
        yield node
    finally:
        node.stop()


def banned(node) -> set[str]:
    return {ban["address"] for ban in node.rpc("listbanned")}


def test_admin_actions_refused_without_session_csrf_or_admin_role(node):
    url = node.dashboard_url
    anonymous = WebClient(url)
    status, _, body = anonymous.request("/admin/ban", {"subject": SUBJECT, "csrf_token": "x"})
    assert status == 403 and "Log in" in body
    status, headers, _ = anonymous.request("/admin")
    assert status == 302 and headers["Location"].startswith("/login")

    admin = WebClient(url)
    assert admin.login(ADMIN, "not the password") == 401
    assert admin.login(ADMIN, ADMIN_PASSWORD) == 302
    status, _, body = admin.request("/admin/ban", {"subject": SUBJECT})  # no token
    assert status == 403 and "CSRF" in body
    status, _, body = admin.request("/admin/ban", {"subject": SUBJECT, "csrf_token": "forged"})
    assert status == 403 and "CSRF" in body
    # A login form's token (from before the login) is not the session's.
    stale = WebClient(url).csrf_token("/login")
    status, _, _ = admin.request("/admin/ban", {"subject": SUBJECT, "csrf_token": stale})
    assert status == 403
    assert SUBJECT not in banned(node)

    viewer = WebClient(url)
    assert viewer.login(VIEWER, VIEWER_PASSWORD) == 302
    token = viewer.csrf_token("/network")
    status, _, body = viewer.request("/admin/ban", {"subject": SUBJECT, "csrf_token": token})
    assert status == 403 and "read-only" in body
    assert viewer.request("/admin")[0] == 403
    assert SUBJECT not in banned(node)

    # The same request with the session's token works: the refusals above were the checks.
    token = admin.csrf_token("/admin")
    status, headers, _ = admin.request("/admin/ban", {"subject": SUBJECT, "csrf_token": token})
    assert status == 302 and "done=" in headers["Location"]
    assert SUBJECT in banned(node)
    status, headers, _ = admin.request("/admin/unban", {"subject": SUBJECT, "csrf_token": token})
    assert SUBJECT not in banned(node)
    # An action the RPC refuses comes back as its error message, not a crash.
    status, headers, _ = admin.request("/admin/invalidate", {"blockhash": "zz",
                                                             "csrf_token": token})
    assert status == 302 and "error=" in headers["Location"]
    # A login without its CSRF token is refused too.
    status, _, _ = WebClient(url).request("/login", {"user": ADMIN, "password": ADMIN_PASSWORD})
    assert status == 403


def test_admin_invalidates_and_reconsiders_and_mines(node):
    admin = WebClient(node.dashboard_url)
    assert admin.login(ADMIN, ADMIN_PASSWORD) == 302
    token = admin.csrf_token("/admin")
    tip, height = node.rpc("getbestblockhash"), node.rpc("getblockcount")
    admin.request("/admin/invalidate", {"blockhash": tip, "csrf_token": token})
    assert node.rpc("getblockcount") == height - 1
    admin.request("/admin/reconsider", {"blockhash": tip, "csrf_token": token})
    assert node.rpc("getbestblockhash") == tip
    # No --miner-address on this node: start mining says why, through the RPC's own error.
    status, headers, _ = admin.request("/admin/mining", {"generate": "on", "csrf_token": token})
    assert "miner%20address" in headers["Location"] and node.rpc("getgenerate") is False
    status, headers, _ = admin.request("/admin/loglevel", {"level": "debug", "csrf_token": token})
    assert "done=" in headers["Location"]
    status, headers, _ = admin.request("/admin/loglevel", {"level": "loud", "csrf_token": token})
    assert "error=" in headers["Location"]


def test_metrics_parse_and_match_rpc(node):
    client = WebClient(node.dashboard_url)
    node.rpc("getblockcount")
    node.rpc("getblockcount")
    status, headers, text = client.request("/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("coinium_"), family.name
        for sample in family.samples:
            # No per-peer or per-address labels: only the RPC method and a proposal status.
            assert set(sample.labels) <= {"method", "le", "status"}, sample
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    assert samples[("coinium_tip_height", ())] == node.rpc("getblockcount")
    assert samples[("coinium_headers", ())] == node.rpc("getblockchaininfo")["headers"]
    assert samples[("coinium_mempool_transactions", ())] == node.rpc("getmempoolinfo")["size"]
    assert samples[("coinium_mempool_bytes", ())] == node.rpc("getmempoolinfo")["bytes"]
    assert samples[("coinium_peers", ())] == node.rpc("getconnectioncount")
    assert samples[("coinium_bans", ())] == len(node.rpc("listbanned"))
    assert samples[("coinium_network_hashrate_hashes_per_second", ())] == pytest.approx(
        node.rpc("getnetworkhashps"))  # fmt: skip
    finality = node.rpc("getfinality")
    assert samples[("coinium_finalized_height", ())] == finality["finalizedheight"]
    assert samples[("coinium_justified_height", ())] == finality["justifiedheight"]
    assert samples[("coinium_governance_proposals", (("status", "voting"),))] == len(
        node.rpc("listproposals", "voting"))  # fmt: skip
    assert samples[("coinium_blocks_connected_total", ())] >= node.rpc("getblockcount")
    assert samples[("coinium_block_connect_seconds_count", ())] >= node.rpc("getblockcount")
    assert samples[("coinium_rpc_requests_total", (("method", "getblockcount"),))] >= 2
    assert samples[("coinium_rpc_request_duration_seconds_count",
                    (("method", "getblockcount"),))] >= 2  # fmt: skip
    # The admin test's invalidateblock disconnected the tip: one block out, one reorg.
    assert samples[("coinium_blocks_disconnected_total", ())] >= 1
    assert samples[("coinium_reorgs_total", ())] >= 1


def test_search_finds_each_kind(node):
    client = WebClient(node.dashboard_url)
    tip = node.rpc("getbestblockhash")
    height = node.rpc("getblockcount")
    txid = node.rpc("getblock", tip)["tx"][0]
    alice = address_of(ALICE)
    for query, target in ((str(height), f"/block/{height}"), (tip, f"/block/{tip}"),
                          (tip.upper(), f"/block/{tip}"), (txid, f"/tx/{txid}"),
                          (f"  {alice} ", f"/address/{alice}")):  # fmt: skip
        status, headers, _ = client.request("/search?q=" + urllib.parse.quote(query))
        assert (status, headers["Location"]) == (302, target), query
        status, _, body = client.request(target)
        assert status == 200 and target.rsplit("/", 1)[1] in body


def test_bad_input_gets_clear_pages(node):
    client = WebClient(node.dashboard_url)
    cases = {
        "/no/such/page": (404, "There is no page at /no/such/page"),
        "/search?q=": (400, "Type a block height"),
        "/search?q=%3Cscript%3Ealert(1)%3C/script%3E": (400, "not a height"),
        "/search?q=" + "9" * 300: (400, "far too long"),
        "/search?q=99999": (404, "no block at height 99999"),
        "/search?q=" + "ab" * 32: (404, "No block or transaction has that hash"),
        "/block/" + "zz" * 32: (400, "Cannot show that"),
        "/block/12345678": (400, "Block height out of range"),
        "/block/xyz": (400, "neither a height nor a block hash"),
        "/tx/nothex": (400, "Cannot show that"),
        "/address/notanaddress": (400, "Cannot show that"),
        "/blocks?top=-1": (400, "must be a block height"),
    }
    for path, (want_status, want_text) in cases.items():
        status, _, body = client.request(path)
        assert status == want_status, (path, status)
        assert want_text in body, (path, body[:2000])
        assert "<script>alert" not in body  # echoed input is escaped
    status, _, _ = client.request("/login", {"x": "y" * 100_000})  # over the body limit
    assert status == 413
    # DNS rebinding: a page whose name points at 127.0.0.1 is not answered.
    rebound = urllib.request.Request(node.dashboard_url + "/metrics",
                                     headers={"Host": "evil.example:80"})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(rebound, timeout=10)
    assert refused.value.code == 421
    assert node.rpc("getblockcount") >= 3  # the node is fine


def test_garbage_and_oversized_frames_close_only_that_socket(node):
    ws_url = node.dashboard_url.replace("http", "ws") + "/ws"

    async def scenario():
        async with aiohttp.ClientSession() as session:
            good = await session.ws_connect(ws_url)
            garbage = await session.ws_connect(ws_url)
            huge = await session.ws_connect(ws_url)
            binary = await session.ws_connect(ws_url)
            await garbage.send_str("{not json")
            await huge.send_str("x" * 100_000)
            await binary.send_bytes(b"\x00\xff" * 10)
            await good.send_str(json.dumps({"type": "ping"}))  # allowed: keeps it open
            closed = {}
            for name, ws in (("garbage", garbage), ("huge", huge), ("binary", binary)):
                message = await asyncio.wait_for(ws.receive(), 10)
                assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                        aiohttp.WSMsgType.CLOSING), (name, message)
                closed[name] = ws.close_code or message.data
            loop = asyncio.get_running_loop()
            [mined] = await loop.run_in_executor(
                None, node.rpc, "generatetoaddress", 1, address_of(ALICE))
            while True:
                frame = json.loads((await asyncio.wait_for(good.receive(), 10)).data)
                if frame["type"] == "block":
                    break
            await good.close()
            return closed, frame, mined

    closed, frame, mined = asyncio.run(scenario())
    # Oversized: aiohttp answers 1009 (message too big) and drops the connection; a client still
    # sending its 100 kB may see only the drop (1006). Either way that socket, and only it, went.
    assert closed.pop("huge") in (1009, 1006)
    assert closed == {"garbage": 1003, "binary": 1003}
    assert frame["hash"] == mined


def test_refuses_a_non_loopback_address_without_a_password(tmp_path):
    # 127.0.0.2 is still this machine, but not the address the dashboard trusts by default.
    extra = ("--dashboard-bind", "127.0.0.2")
    node = dashboard_node(tmp_path / "open", extra)
    node.start(wait=False)
    try:
        code = node.wait_exit(60)
    finally:
        node.stop()
    assert code != 0
    assert "no password set" in node.output()
    assert "Traceback" not in node.output() and "chain loaded" not in node.output()  # up front

    guarded = dashboard_node(tmp_path / "guarded", extra)
    guarded.base_dir.mkdir(parents=True)
    add_user(guarded, ADMIN, ADMIN_PASSWORD)
    port = guarded.dashboard_url.rsplit(":", 1)[1]
    try:
        guarded.start()
        client = WebClient(f"http://127.0.0.2:{port}")
        status, headers, _ = client.request("/")
        assert status == 302 and headers["Location"].startswith("/login")  # every page
        assert client.request("/metrics")[0] == 401
        assert client.request("/static/coinium/dashboard.js")[0] == 200
        assert client.login(ADMIN, ADMIN_PASSWORD) == 302
        assert client.request("/")[0] == 200
    finally:
        guarded.stop()


def test_off_by_default(start_node):
    port = free_port()
    node = start_node(extra_args=("--dashboard-port", str(port)))
    assert node.rpc("getblockcount") == 0
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listens there


def test_admin_starts_and_stops_the_miner(tmp_path):
    """setgenerate through the panel: the node mines to its --miner-address, then stops."""
    node = dashboard_node(tmp_path / "miner", ("--miner-address", address_of(ALICE),
                                               "--miner-processes", "1",
                                               "--mine-interval", "0.2"))  # fmt: skip
    try:
        node.start()
        add_user(node, ADMIN, ADMIN_PASSWORD)
        admin = WebClient(node.dashboard_url)
        assert admin.login(ADMIN, ADMIN_PASSWORD) == 302
        token = admin.csrf_token("/admin")
        assert node.rpc("getgenerate") is False
        status, headers, _ = admin.request("/admin/mining", {"generate": "on",
                                                             "csrf_token": token})
        assert "mining%20started" in headers["Location"]
        assert node.rpc("getgenerate") is True
        wait_until(lambda: node.rpc("getblockcount") >= 2, 60, message="blocks mined")
        assert "mining" in admin.request("/mining")[2]
        admin.request("/admin/mining", {"generate": "off", "csrf_token": token})
        assert node.rpc("getgenerate") is False
        stopped_at = node.rpc("getblockcount")
        assert node.rpc("getaccount", address_of(ALICE))["balance_units"] > 0
        assert node.rpc("getblockcount") <= stopped_at + 1  # at most one already on its way
    finally:
        node.stop()
