"""The RPCs tools call that answered "Method not found" (issue 17), over real HTTP against a real
node process, checked against bitcoind's documented shapes (Core 28) and against each other."""

from __future__ import annotations

import pytest
from conftest_keys import ALICE, BOB, address_of
from nodeproc import RpcFailure

from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer

FEE_RATES = (2_000, 5_000, 9_000)  # units per 1000 bytes: three senders' transactions


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    from nodeproc import NodeProcess

    node = NodeProcess(tmp_path_factory.mktemp("ops"), "regtest").start()
    try:
        node.rpc("generatetoaddress", 3, address_of(ALICE))
        yield node
    finally:
        node.stop()


def transfer(node, nonce: int, fee_rate: int, amount: int = 10**8) -> str:
    probe = sign_transfer(ALICE, REGTEST.chain_id, BOB.account, amount, 0, nonce)
    fee = fee_rate * probe.size // 1000 + 1
    tx = sign_transfer(ALICE, REGTEST.chain_id, BOB.account, amount, fee, nonce)
    return node.rpc("sendrawtransaction", tx.raw.hex())


def test_getblockstats_shape_and_values(node):
    start = node.rpc("getaccount", address_of(ALICE))["nonce"]
    txids = [transfer(node, start + i, rate) for i, rate in enumerate(FEE_RATES)]
    block_hash = node.rpc("generatetoaddress", 1, address_of(BOB))[0]
    height = node.rpc("getblockcount")
    stats = node.rpc("getblockstats", height)
    assert stats == node.rpc("getblockstats", block_hash)
    assert set(stats) == {
        "avgfee", "avgfeerate", "avgtxsize", "blockhash", "feerate_percentiles", "height", "ins",
        "maxfee", "maxfeerate", "maxtxsize", "medianfee", "mediantime", "mediantxsize",
        "minfee", "minfeerate", "mintxsize", "outs", "subsidy", "time", "total_out",
        "total_size", "totalfee", "txs",
    }  # fmt: skip
    assert stats["blockhash"] == block_hash and stats["height"] == height
    assert stats["txs"] == 4 and stats["ins"] == 3 and stats["outs"] == 4
    assert stats["total_out"] == 3 * 10**8
    fees = sorted(node.rpc("getblock", block_hash, 2)["tx"][i]["fee"] for i in range(1, 4))
    assert stats["minfee"] == round(fees[0] * 10**8) and stats["maxfee"] == round(fees[2] * 10**8)
    assert stats["minfeerate"] == FEE_RATES[0] // 1000 and stats["maxfeerate"] >= 9
    assert stats["feerate_percentiles"] == sorted(stats["feerate_percentiles"])
    assert len(stats["feerate_percentiles"]) == 5 and stats["subsidy"] == 50 * 10**8
    assert all(txid in node.rpc("getblock", block_hash)["tx"] for txid in txids)
    assert node.rpc("getblockstats", height, ["minfee", "txs"]) == {
        "minfee": stats["minfee"], "txs": 4}  # fmt: skip
    with pytest.raises(RpcFailure) as bad:
        node.rpc("getblockstats", height, ["nonsense"])
    assert bad.value.code == -8 and "Invalid selected statistic 'nonsense'" in bad.value.message
    with pytest.raises(RpcFailure) as beyond:
        node.rpc("getblockstats", height + 1)
    assert beyond.value.code == -8 and "after current tip" in beyond.value.message
    with pytest.raises(RpcFailure) as unknown:
        node.rpc("getblockstats", "00" * 32)
    assert unknown.value.code == -5


def test_getchaintxstats(node):
    tip_height = node.rpc("getblockcount")
    stats = node.rpc("getchaintxstats")
    # every block has its coinbase, and the block of the stats test three transfers
    total = sum(node.rpc("getblockheader", node.rpc("getblockhash", h))["nTx"]
                for h in range(tip_height + 1))  # fmt: skip
    assert stats["txcount"] == total
    assert stats["window_final_block_height"] == tip_height
    assert stats["window_final_block_hash"] == node.rpc("getbestblockhash")
    assert stats["window_block_count"] == tip_height - 1
    assert {"time", "window_interval", "window_tx_count"} <= set(stats)
    two = node.rpc("getchaintxstats", 2)
    assert two["window_block_count"] == 2
    at_one = node.rpc("getchaintxstats", 0, node.rpc("getblockhash", 1))
    assert at_one["txcount"] == 2 and "window_interval" not in at_one
    with pytest.raises(RpcFailure) as bad:
        node.rpc("getchaintxstats", tip_height)
    assert bad.value.code == -8 and "Invalid block count" in bad.value.message


def test_getstateinfo_sums_the_accounts(node):
    info = node.rpc("getstateinfo")
    assert info["height"] == node.rpc("getblockcount")
    assert info["bestblock"] == node.rpc("getbestblockhash")
    balances = [node.rpc("getaccount", address_of(k))["balance_units"] for k in (ALICE, BOB)]
    # genesis pays its own recipient; every other unit belongs to Alice or Bob
    assert info["total_units"] >= sum(balances) and info["accounts"] >= 2
    assert info["total_units"] == round(info["total_amount"] * 10**8)
    assert len(info["hash_serialized"]) == 64
    assert info["records"] >= info["accounts"]  # every namespace; accounts are 0x01
    # the committed root: what a proof is checked against and the tip's child carries
    assert info["stateroot"] == node.rpc("getaccountproof", address_of(ALICE))["stateroot"]
    assert info["stateroot"] == node.rpc("getblocktemplate")["stateroot"]
    again = node.rpc("getstateinfo")
    assert (again["hash_serialized"], again["stateroot"]) == (info["hash_serialized"],
                                                             info["stateroot"])  # fmt: skip


def test_estimatesmartfee_from_the_mempool_and_blocks(node):
    estimate = node.rpc("estimatesmartfee", 2)
    assert set(estimate) == {"feerate", "blocks"} and estimate["blocks"] == 2
    floor = node.rpc("getmempoolinfo")["mempoolminfee"]
    assert estimate["feerate"] >= floor
    conservative = node.rpc("estimatesmartfee", 2, "CONSERVATIVE")
    assert conservative["feerate"] >= estimate["feerate"]
    for bad in (0, 1009):
        with pytest.raises(RpcFailure) as out_of_range:
            node.rpc("estimatesmartfee", bad)
        assert out_of_range.value.code == -8
    with pytest.raises(RpcFailure) as mode:
        node.rpc("estimatesmartfee", 2, "cheap")
    assert mode.value.code == -8 and "estimate_mode" in mode.value.message


def test_estimatesmartfee_without_data_is_bitcoinds_error_shape(start_node):
    fresh = start_node("fresh")
    assert fresh.rpc("estimatesmartfee", 6) == {
        "errors": ["Insufficient data or no feerate found"], "blocks": 6}  # fmt: skip


def test_validateaddress(node):
    good = node.rpc("validateaddress", address_of(ALICE))
    assert good == {"isvalid": True, "address": address_of(ALICE),
                    "accountid": ALICE.account.hex(), "isscript": False, "iswitness": False}
    for text in ("rcn1nonsense", "", address_of(ALICE)[:-1] + "q", "cn1" + address_of(ALICE)[4:]):
        bad = node.rpc("validateaddress", text)
        assert bad["isvalid"] is False and bad["error"] and bad["error_locations"] == []


def test_network_and_control_info(node):
    totals = node.rpc("getnettotals")
    assert {"totalbytesrecv", "totalbytessent", "timemillis", "uploadtarget"} <= set(totals)
    assert totals["uploadtarget"]["target"] == 0 and totals["timemillis"] > 1_600_000_000_000
    assert node.rpc("getaddednodeinfo") == []
    with pytest.raises(RpcFailure) as missing:
        node.rpc("getaddednodeinfo", "00" * 32)
    assert missing.value.code == -24
    memory = node.rpc("getmemoryinfo")
    assert set(memory["locked"]) == {"used", "free", "total", "locked", "chunks_used",
                                     "chunks_free"}  # fmt: skip
    assert memory["locked"]["used"] > 1_000_000
    with pytest.raises(RpcFailure):
        node.rpc("getmemoryinfo", "mallocinfo")
    info = node.rpc("getrpcinfo")
    assert info["logpath"] == str(node.datadir / "debug.log")
    assert [c["method"] for c in info["active_commands"]] == ["getrpcinfo"]
    assert info["active_commands"][0]["duration"] >= 0
    assert isinstance(node.rpc("uptime"), int)


def test_savemempool_writes_the_file(node):
    nonce = node.rpc("getaccount", address_of(ALICE))["nonce"]
    transfer(node, nonce, 3_000)
    saved = node.rpc("savemempool")
    assert saved == {"filename": str(node.datadir / "mempool.dat")}
    assert (node.datadir / "mempool.dat").stat().st_size > 0
