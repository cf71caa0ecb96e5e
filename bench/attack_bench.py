"""Issue 10's attacks against a real node process on 127.0.0.1, and what they get now.

    PYTHONPATH=. python bench/attack_bench.py slowreader  # node RSS under a peer reading nothing
    PYTHONPATH=. python bench/attack_bench.py squatters   # honest newcomers under 40 squatters
    PYTHONPATH=. python bench/attack_bench.py rpc         # guesses/s, honest waits, log bytes
    PYTHONPATH=. python bench/attack_bench.py all         # all three: bench/out/attack.json

slowreader: a block of ``--transfers`` transfers with full memos (9,000: about 3.8 MB), then a
peer that sends ``getdata`` for 128 copies of it every 0.2 s and takes nothing off its link (the
issue's attack: it grew the node from 125 MB to 3.1 GB in 11 s). Prints the node's RSS before,
at its peak, and 5 s after; the seconds until the peer was dropped; and the peak growth against
the bytes the peer asked for (a ratio).

squatters: 40 connections that send VERSION and never VERACK, redialling with a fresh key every
9 s; 8 honest newcomers handshake one after another. Prints how many got in.

rpc: each RPC attack for ``--seconds`` (8) while an honest client, from another loopback address
(127.0.0.2) on a fresh connection per call as ``coinium rpc`` makes them, calls ``getblockcount``
in a loop: its median and worst wait, against its wait with no attack (a ratio). The attacks:
``getblockhash 1e1000000`` (authenticated, 8 connections), a non-ASCII ``Authorization`` header
(8 connections), a batch holding lone surrogates (8), password guessing over 1,000 keep-alive
connections (guesses checked per second: 401 answers; 429s are refused unchecked), and 1,100 idle
connections. For the flooding ones, the bytes ``debug.log`` grew per bad request (the honest
client's own debug lines left out).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "functional"))
sys.path.insert(0, str(REPO / "tests"))

from conftest_keys import ALICE, BOB, address_of  # noqa: E402
from nodeproc import NodeProcess, peer_address  # noqa: E402
from p2ppeer import RawPeer  # noqa: E402

from coinium.core.params import REGTEST  # noqa: E402
from coinium.core.transaction import sign_transfer  # noqa: E402
from coinium.p2p.messages import PROTOCOL_VERSION, GetData, InvKind, Tip, Version  # noqa: E402

HONEST_ADDRESS = "127.0.0.2"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start(base: Path, name: str, *args: str) -> NodeProcess:
    return NodeProcess(base / name, extra_args=args).start()


# --- slow reader ------------------------------------------------------------------------------
def slowreader(base: Path, transfers: int) -> dict:
    node = start(base, "slowreader")
    try:
        node.rpc("generatetoaddress", 2, address_of(ALICE))
        memo = bytes(range(256))
        for first in range(0, transfers, 1000):
            batch = [{"jsonrpc": "2.0", "id": i, "method": "sendrawtransaction",
                      "params": [sign_transfer(ALICE, REGTEST.chain_id, BOB.account, 1000,
                                               10_000, i, memo).raw.hex()]}
                     for i in range(first, min(transfers, first + 1000))]  # fmt: skip
            node.http(json.dumps(batch).encode(), {"Authorization": node.auth_header()})
        (block_hash,) = node.rpc("generatetoaddress", 1, address_of(ALICE))
        size = node.rpc("getblock", block_hash, 1)["size"]
        pid = node.proc.pid
        baseline = rss_mb(pid)
        peak = baseline
        attacker = RawPeer(peer_address(node), slow_reader=True)
        attacker.handshake()
        request = GetData(InvKind.BLOCK, (bytes.fromhex(block_hash),) * 128)
        started = time.monotonic()
        asked = 0
        dropped_after = None
        while time.monotonic() - started < 30:
            attacker.send(request)
            asked += 128 * size
            peak = max(peak, rss_mb(pid))
            if attacker.key_hex not in {p["key"] for p in node.rpc("getpeerinfo")}:
                dropped_after = time.monotonic() - started
                break
            time.sleep(0.2)
        attacker.close()
        time.sleep(5)
        after = rss_mb(pid)
        result = {"block_bytes": size, "rss_before_mb": round(baseline), "rss_peak_mb": round(peak),
                  "rss_after_mb": round(after), "dropped_after_s": dropped_after,
                  "asked_mb": round(asked / 2**20),
                  "growth_per_asked": round((peak - baseline) / (asked / 2**20), 4)}  # fmt: skip
        print(f"slow reader: block {size} bytes; node RSS {baseline:.0f} MB before, peak "
              f"{peak:.0f} MB, {after:.0f} MB 5 s after; dropped after {dropped_after} s; it asked "
              f"for {asked / 2**20:.0f} MB: peak growth / asked = {result['growth_per_asked']}")
        return result
    finally:
        node.stop()


# --- squatters --------------------------------------------------------------------------------
def _squat(node: NodeProcess) -> RawPeer:
    squatter = RawPeer(peer_address(node))
    squatter.send(Version(PROTOCOL_VERSION, REGTEST.chain_id, REGTEST.genesis_hash, 1,
                          int(time.time()), 7, Tip(0, REGTEST.genesis_hash, 0), 0, 0, "",
                          "/squatter/"))  # fmt: skip
    return squatter


def squatters(base: Path) -> dict:
    node = start(base, "squatters")
    squat = [_squat(node) for _ in range(40)]
    honest: list[RawPeer] = []
    admitted = 0
    try:
        time.sleep(1.0)
        redial = time.monotonic() + 9.0
        for _ in range(8):
            if time.monotonic() > redial:
                for i, old in enumerate(squat):
                    old.close()
                    squat[i] = _squat(node)
                redial = time.monotonic() + 9.0
            newcomer = RawPeer(peer_address(node))
            honest.append(newcomer)
            try:
                newcomer.handshake(timeout=5.0)
            except TimeoutError:
                pass
            time.sleep(1.0)
        active = {p["key"] for p in node.rpc("getpeerinfo")}
        admitted = sum(1 for p in honest if p.key_hex in active)
        print(f"squatters: {admitted} of 8 honest newcomers admitted under 40 squatters")
        return {"admitted": admitted, "of": 8}
    finally:
        for peer in (*squat, *honest):
            peer.close()
        node.stop()


# --- RPC --------------------------------------------------------------------------------------
async def _http(port: int, body: bytes, auth: str, *, local: str | None = None,
                conn: tuple | None = None) -> tuple[int, tuple | None]:  # fmt: skip
    """One POST; (status, the open connection for keep-alive) — status 0 if it was closed."""
    if conn is None:
        conn = await asyncio.open_connection("127.0.0.1", port,
                                             local_addr=(local, 0) if local else None)
    reader, writer = conn
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: "
            f"application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    try:
        writer.write(head + body)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            writer.close()
            return 0, None
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        return int(status_line.split()[1]), conn
    except (OSError, asyncio.IncompleteReadError, ValueError):
        writer.close()
        return 0, None


async def _honest_waits(port: int, auth: str, seconds: float) -> list[float]:
    body = json.dumps({"jsonrpc": "1.0", "id": 1, "method": "getblockcount"}).encode()
    waits = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.monotonic()
        status, conn = await _http(port, body, auth, local=HONEST_ADDRESS)
        waits.append(time.monotonic() - began if status == 200 else float("inf"))
        if conn is not None:
            conn[1].close()
        await asyncio.sleep(0.05)
    return waits


async def _flood(port: int, body: bytes, auth: str, connections: int, stop: asyncio.Event,
                 counts: dict) -> None:  # fmt: skip
    async def one() -> None:
        conn = None
        while not stop.is_set():
            status, conn = await _http(port, body, auth, conn=conn)
            counts[status] = counts.get(status, 0) + 1
            if conn is None:
                await asyncio.sleep(0.01)

    await asyncio.gather(*(one() for _ in range(connections)), return_exceptions=True)


async def _idle(port: int, connections: int, stop: asyncio.Event, counts: dict) -> None:
    held = []
    for _ in range(connections):
        try:
            held.append(await asyncio.open_connection("127.0.0.1", port))
        except OSError:
            counts["refused"] = counts.get("refused", 0) + 1
    counts["opened"] = len(held)
    await stop.wait()
    for _, writer in held:
        writer.close()


async def _rpc_attacks(node: NodeProcess, seconds: float) -> dict:
    port = node.rpc_port
    cookie = node.cookie_path.read_text().strip()
    auth = "Basic " + base64.b64encode(cookie.encode()).decode()
    wrong = "Basic " + base64.b64encode(b"__cookie__:" + b"0" * 64).decode()
    log_path = node.datadir / "debug.log"
    calm = await _honest_waits(port, auth, 2.0)
    calm_median = statistics.median(calm)
    results: dict = {"honest_median_ms_without_attack": round(calm_median * 1000, 1)}
    attacks = {
        "getblockhash 1e1000000": (b'{"method":"getblockhash","params":[1e1000000],"id":1}', auth,
                                   8),
        "non-ASCII Authorization": (b'{"method":"getblockcount","id":1}',
                                    "Basic \u00e9\u00e9\u00e9\u00e9", 8),
        "lone surrogates in a batch": (b'[{"method":"getblockcount","id":"\\udc80"},'
                                       b'{"method":"get\\ud800","id":2}]', auth, 8),
        "password guessing, 1000 connections": (b'{"method":"getblockcount","id":1}', wrong,
                                                1000),
    }  # fmt: skip
    for name, (body, header, connections) in [*attacks.items(), ("1,100 idle connections",
                                                                 (b"", "", 1100))]:  # fmt: skip
        await asyncio.sleep(1.5)  # the brake forgets nothing in that time, but the queue drains
        stop = asyncio.Event()
        counts: dict = {}
        log_before = log_path.stat().st_size
        if name.startswith("1,100"):
            attack = asyncio.create_task(_idle(port, connections, stop, counts))
        else:
            attack = asyncio.create_task(_flood(port, body, header, connections, stop, counts))
        await asyncio.sleep(1.0)
        started = time.monotonic()
        waits = await _honest_waits(port, auth, seconds)
        elapsed = time.monotonic() - started + 1.0
        stop.set()
        await attack
        with open(log_path, "rb") as log_file:  # what the attack logged: not the honest calls
            log_file.seek(log_before)
            logged = sum(len(line) for line in log_file if b"called getblockcount" not in line)
        finite = [w for w in waits if w != float("inf")]
        median = statistics.median(finite) if finite else float("inf")
        entry = {"honest_calls": len(waits), "honest_failed": len(waits) - len(finite),
                 "honest_median_ms": round(median * 1000, 1),
                 "honest_max_ms": round(max(finite) * 1000, 1) if finite else None,
                 "median_vs_calm": round(median / calm_median, 2), "answers": counts}  # fmt: skip
        bad = sum(v for k, v in counts.items() if isinstance(k, int) and k != 0)
        if bad:
            entry["log_bytes_per_bad_request"] = round(logged / bad, 1)
        if name.startswith("password"):
            entry["guesses_per_s"] = round(counts.get(401, 0) / elapsed, 1)
        results[name] = entry
        print(f"{name}: honest getblockcount median {entry['honest_median_ms']} ms (x"
              f"{entry['median_vs_calm']} of {results['honest_median_ms_without_attack']} ms "
              f"calm), worst {entry['honest_max_ms']} ms, {entry['honest_failed']} failed; "
              f"answers {counts}"
              + (f"; {entry['log_bytes_per_bad_request']} log bytes per bad request"
                 if "log_bytes_per_bad_request" in entry else "")
              + (f"; {entry['guesses_per_s']} password guesses/s" if "guesses_per_s" in entry
                 else ""))  # fmt: skip
    return results


def rpc(base: Path, seconds: float) -> dict:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    node = start(base, "rpc")
    try:
        return asyncio.run(_rpc_attacks(node, seconds))
    finally:
        node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("slowreader", "squatters", "rpc", "all"))
    parser.add_argument("--transfers", type=int, default=9000)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="attack-bench-") as tmp:
        base = Path(tmp)
        if args.what in ("slowreader", "all"):
            out["slowreader"] = slowreader(base, args.transfers)
        if args.what in ("squatters", "all"):
            out["squatters"] = squatters(base)
        if args.what in ("rpc", "all"):
            out["rpc"] = rpc(base, args.seconds)
    if args.what == "all":
        path = REPO / "bench" / "out" / "attack.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(out, indent=2) + "\n")
        print(f"written to {path}")


if __name__ == "__main__":
    main()
