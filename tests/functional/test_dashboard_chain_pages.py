"""The staking, governance, NFT and contract pages in a real browser against a real regtest node
that real transactions built up: two validators (one with a delegation, one slashed for a double
vote), finality votes until a checkpoint is finalized, a passed and a pending proposal, an NFT
class whose tokens carry data-URI and off-chain metadata, and the example token contract
uploaded, instantiated and called. Each page is checked for its content (screenshots in
`SCREENSHOT_DIR`); bad parameters get 400 and 404 pages; /metrics has the finality and
governance gauges."""

from __future__ import annotations

import base64
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest_keys import ALICE, BOB, address_of
from dashboard_harness import WebClient, dashboard_node, make_browser, screenshot
from nodeproc import wait_until
from prometheus_client.parser import text_string_to_metric_families
from selenium.webdriver.common.by import By

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contracts"))
from contract_helpers import example, u64  # noqa: E402

from coinium.contracts import builders  # noqa: E402
from coinium.contracts.limits import min_fee  # noqa: E402
from coinium.contracts.records import code_hash, contract_id  # noqa: E402
from coinium.core.governance import table  # noqa: E402
from coinium.core.governance import transactions as gov  # noqa: E402
from coinium.core.governance.records import YES  # noqa: E402
from coinium.core.kinds import nft  # noqa: E402
from coinium.core.kinds.nft import create_class, mint  # noqa: E402
from coinium.core.params import REGTEST  # noqa: E402
from coinium.core.staking import transactions as staking  # noqa: E402
from coinium.core.staking.records import Checkpoint  # noqa: E402
from coinium.core.transaction import sign_transfer  # noqa: E402
from coinium.core.units import COIN, format_amount  # noqa: E402
from coinium.crypto.address import encode_address  # noqa: E402
from coinium.crypto.hashes import blake3_256  # noqa: E402
from coinium.crypto.keys import PrivateKey  # noqa: E402

pytestmark = pytest.mark.slow
CID = REGTEST.chain_id
N = REGTEST.staking.checkpoint_interval
FEE = 20_000
CAROL = PrivateKey((103).to_bytes(32, "big"))  # delegates, reports the double vote
VOTING_A = PrivateKey((111).to_bytes(32, "big"))  # alice's validator's voting key
VOTING_B = PrivateKey((112).to_bytes(32, "big"))  # bob's, which signs two conflicting votes
DATA_CONTENT = b'{"name":"inline"}'
DATA_URI = b"data:application/json;base64," + base64.b64encode(DATA_CONTENT)
FILE_CONTENT = b'{"name": "a picture kept elsewhere"}'


class Sender:
    """Signs and sends transactions for the test's keys, counting each account's nonce."""

    def __init__(self, node):
        self.node = node
        self.nonces: dict[bytes, int] = {}
        self.voted_epoch = -1

    def nonce(self, key) -> int:
        value = self.nonces.get(key.account, 0)
        self.nonces[key.account] = value + 1
        return value

    def send(self, tx) -> str:
        return self.node.rpc("sendrawtransaction", tx.raw.hex())

    def mine(self, blocks: int = 1) -> None:
        """Mine one block at a time; alice's validator votes for each epoch's checkpoint (its
        vote goes into the epoch's next block, never into the one that starts a new epoch)."""
        for _ in range(blocks):
            f = self.node.rpc("getfinality")
            height = self.node.rpc("getblockcount")
            if "epoch" in f and height % N and f["epoch"] != self.voted_epoch:
                self.send(staking.sign_vote(
                    VOTING_A, CID, ALICE.account,
                    Checkpoint(f["sourceepoch"], bytes.fromhex(f["source"])),
                    Checkpoint(f["epoch"], bytes.fromhex(f["target"])), FEE,
                    self.nonce(VOTING_A)))  # fmt: skip
                self.voted_epoch = f["epoch"]
            self.node.rpc("generatetoaddress", 1, address_of(ALICE))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    node = dashboard_node(tmp_path_factory.mktemp("dashboard-chain") / "n")
    try:
        node.start()
        yield node, build_chain(node)
    finally:
        node.stop()


def build_chain(node) -> dict:
    s = Sender(node)
    node.rpc("generatetoaddress", 3, address_of(ALICE))
    node.rpc("generatetoaddress", 2, address_of(BOB))
    for key in (CAROL, VOTING_A, VOTING_B):
        s.send(sign_transfer(ALICE, CID, key.account, 5 * COIN, FEE, s.nonce(ALICE)))
    # Staking: alice's validator (bonded 20, carol delegates 3), bob's (bonded 2).
    s.send(staking.register_validator(ALICE, CID, VOTING_A.public_key, 500, 20 * COIN, FEE,
                                      s.nonce(ALICE)))  # fmt: skip
    s.send(staking.register_validator(BOB, CID, VOTING_B.public_key, 1000, 2 * COIN, FEE,
                                      s.nonce(BOB)))  # fmt: skip
    s.mine()
    s.send(staking.delegate(CAROL, CID, ALICE.account, 3 * COIN, FEE, s.nonce(CAROL)))
    # NFTs: a class, a token with its metadata inline (data URI), one whose metadata is off the
    # chain, one whose inline metadata does not hash to its committed hash.
    s.send(nft.signed_tx(create_class.NUMBER, BOB, CID, s.nonce(BOB), FEE, create_class.Body(
        b"art", b"Art", b"ART", b"", bytes(32), 500, BOB.account, 0, 0, 1)))
    s.mine()
    for token, uri, digest in ((b"1", DATA_URI, blake3_256(DATA_CONTENT)),
                               (b"2", b"ipfs://bafy-kept-elsewhere", blake3_256(FILE_CONTENT)),
                               (b"3", DATA_URI, blake3_256(b"something else"))):
        s.send(nft.signed_tx(mint.NUMBER, BOB, CID, s.nonce(BOB), FEE,
                             mint.Body(b"art", token, CAROL.account, uri, digest)))  # fmt: skip
    # Contracts: the example token, uploaded, instantiated with 1000, one transfer to bob.
    code = example("token")
    s.send(builders.upload(ALICE, CID, code, gas=1_000_000_000,
                           fee=min_fee(1_000_000_000) + FEE, nonce=s.nonce(ALICE)))  # fmt: skip
    s.mine()
    nonce = s.nonce(ALICE)
    s.send(builders.instantiate(ALICE, CID, code_hash(code), u64(1000), gas=50_000_000,
                                fee=min_fee(50_000_000) + FEE, nonce=nonce,
                                admin=ALICE.account))  # fmt: skip
    contract = contract_id(ALICE.account, nonce)
    s.mine()
    s.send(builders.execute(ALICE, CID, contract, b"\x01" + BOB.account + u64(25),
                            gas=50_000_000, fee=min_fee(50_000_000) + FEE,
                            nonce=s.nonce(ALICE)))  # fmt: skip
    s.mine()
    # Finality: alice's validator votes until a checkpoint is finalized (two justified in a
    # row: a few epochs; the bound only stops a broken chain).
    for _ in range(10 * N):
        if node.rpc("getfinality")["finalizedheight"] > 0:
            break
        s.mine()
    # Bob's voting key signs two different targets for one epoch; carol reports it.
    f = node.rpc("getfinality")
    source = Checkpoint(f["sourceepoch"], bytes.fromhex(f["source"]))
    first, second = (staking.sign_vote(VOTING_B, CID, BOB.account, source,
                                       Checkpoint(f["epoch"], target), FEE, 0)
                     for target in (bytes.fromhex(f["target"]), b"\x07" * 32))  # fmt: skip
    slash_txid = s.send(staking.slash_evidence(CAROL, CID, first, second, FEE, s.nonce(CAROL)))
    s.mine()
    assert node.rpc("getvalidator", address_of(BOB))["status"] == "slashed"
    # Governance: proposal 1 goes to a vote and passes; proposal 2 waits for deposits.
    s.send(gov.submit(ALICE, CID, [(table.BY_NAME["unbonding_period"].number, 12)],
                      b"longer unbonding", bytes(32), COIN, FEE, s.nonce(ALICE)))  # fmt: skip
    s.mine(2)
    assert node.rpc("getproposal", 1)["status"] == "voting"
    s.send(gov.vote(ALICE, CID, ALICE.account, 1, YES, FEE, s.nonce(ALICE)))
    s.mine()
    assert node.rpc("getproposal", 1)["tally"]["yes_units"] > 0
    s.mine(max(0, node.rpc("getproposal", 1)["votingend"] - node.rpc("getblockcount")))
    s.send(gov.submit(BOB, CID, [(table.BY_NAME["inactivity_epochs"].number, 5)],
                      b"patience", bytes(32), COIN // 2, FEE, s.nonce(BOB)))  # fmt: skip
    s.mine()
    assert [p["status"] for p in node.rpc("listproposals")] == ["passed", "deposit"]
    assert node.rpc("getrawmempool") == []
    return {"contract": encode_address(REGTEST.address_prefix, contract), "slash": slash_txid,
            "code_hash": code_hash(code).hex()}


@pytest.fixture(scope="module")
def browser():
    driver = make_browser()
    yield driver
    driver.quit()


def text_of(driver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def test_chain_state_pages_load_with_their_content(chain, browser):
    node, built = chain
    url = node.dashboard_url
    finality = node.rpc("getfinality")
    alice, bob, carol = address_of(ALICE), address_of(BOB), address_of(CAROL)
    contract = built["contract"]
    yes = node.rpc("getproposal", 1)["tally"]["yes_units"]
    pages = {
        "staking": ("/staking", {"#finalized-height": str(finality["finalizedheight"]),
                                 "#justified-height": str(finality["justifiedheight"]),
                                 "#validators-table": "slashed",
                                 "#slashings-table": built["slash"][:8]}),
        "validator": (f"/validator/{alice}", {"#validator-status": "active",
                                              "#validator-commission": "5.00 %",
                                              "#delegations-table": carol}),
        "validator-slashed": (f"/validator/{bob}", {"#validator-status": "slashed"}),
        "stakes": (f"/staking/address/{carol}", {"#stakes-table": alice}),
        "governance": ("/governance", {"#proposals-table": "longer unbonding",
                                       "tr[data-proposal='2']": "deposit",
                                       "tr[data-param='unbonding_period'] .param-pending":
                                           "→ 12 at"}),
        "governance-voting-filter": ("/governance?status=deposit", {"#proposals-table":
                                                                    "patience"}),
        "proposal": ("/proposal/1", {"#proposal-status": "passed", "#votes-table": "yes",
                                     "#proposal-tally": "yes " + format_amount(yes)}),
        "nft-classes": ("/nfts", {"#classes-table": "Art"}),
        "nft-class": ("/nft/art", {"#class-supply": "3", "#tokens-table": "art/3"}),
        "nft-owner": (f"/nfts/owner/{carol}", {"#tokens-table": "art/2"}),
        "nft-token-inline": ("/nft/art/1", {"#inline-verdict": "Matches",
                                            "#token-owner": carol}),
        "nft-token-mismatch": ("/nft/art/3", {"#inline-verdict": "Does not match"}),
        "contracts": ("/contracts", {"#contracts-table": contract}),
        "codes": ("/codes", {"#codes-table": built["code_hash"]}),
        "contract": (f"/contract/{contract}", {"#contract-admin": alice,
                                               "#events-table": "transfer",
                                               "#storage-table": BOB.account.hex()}),
        "overview-finality": ("/", {"#finalized-height": str(finality["finalizedheight"])}),
    }
    for name, (path, checks) in pages.items():
        browser.get(url + path)
        for css, expected in checks.items():
            assert expected in text_of(browser, css), (name, css, text_of(browser, css))
        screenshot(browser, name)
    assert finality["finalizedheight"] > 0
    # The navigation bar links every new page.
    links = {a.get_attribute("pathname") for a in browser.find_elements(By.CSS_SELECTOR,
                                                                         "#nav .nav-link")}
    assert {"/staking", "/governance", "/nfts", "/contracts"} <= links


def test_the_off_chain_token_checks_an_uploaded_file(chain, browser, tmp_path):
    node, _ = chain
    browser.get(node.dashboard_url + "/nft/art/2")
    assert "off the chain" in text_of(browser, "#offchain-note")
    good, bad = tmp_path / "metadata.json", tmp_path / "tampered.json"
    good.write_bytes(FILE_CONTENT)
    bad.write_bytes(FILE_CONTENT + b" ")
    for path, verdict in ((good, "Matches"), (bad, "Does not match")):
        browser.find_element(By.ID, "check-file").send_keys(str(path))
        browser.find_element(By.ID, "check-button").click()
        wait_until(lambda: browser.find_elements(By.ID, "upload-verdict"), 30,
                   message="the check's verdict")  # fmt: skip
        assert verdict in text_of(browser, "#upload-verdict")
        assert path.name in text_of(browser, "#upload-verdict")
        screenshot(browser, f"nft-check-{path.stem}")
        browser.get(node.dashboard_url + "/nft/art/2")


def test_search_finds_contracts_and_nfts(chain, browser):
    node, built = chain
    url = node.dashboard_url
    for query, landing in ((built["contract"], f"/contract/{built['contract']}"),
                           ("art", "/nft/art"), ("art/2", "/nft/art/2"),
                           (address_of(CAROL), f"/address/{address_of(CAROL)}")):
        browser.get(url + "/")
        box = browser.find_element(By.ID, "search-box")
        box.send_keys(query)
        box.submit()
        wait_until(lambda landing=landing: browser.current_url.endswith(landing), 30,
                   message=f"the search for {query}")  # fmt: skip
    # A contract's address page links its contract page.
    browser.get(url + f"/address/{built['contract']}")
    assert browser.find_element(By.ID, "contract-link").get_attribute("pathname") == \
        f"/contract/{built['contract']}"


def test_bad_parameters_get_clear_400_and_404_pages(chain):
    node, built = chain
    client = WebClient(node.dashboard_url)
    contract = built["contract"]
    cases = {
        "/validator/not-an-address": (400, "not an address"),
        f"/validator/{address_of(CAROL)}": (404, "Not a validator"),
        "/staking/address/xyz": (400, "not an address"),
        "/governance?status=maybe": (400, "status"),
        "/proposal/0": (400, "proposal id"),
        "/proposal/abc": (400, "proposal id"),
        "/proposal/99": (404, "no proposal 99"),
        "/nft/NOT_AN_ID": (400, "class id"),
        "/nft/nosuch": (404, "not found"),
        "/nft/art/999": (404, "not found"),
        "/nft/art?after=art/9": (404, "no tokens"),
        "/nfts?after=zzz": (404, "no NFT classes"),
        "/nfts/owner/bogus": (400, "not an address"),
        "/contracts?after=zz": (400, "hex"),
        "/contracts?after=00": (400, "exactly 20 bytes"),
        "/contracts?after=" + "ff" * 20: (404, "no contracts"),
        "/codes?after=" + "g" * 64: (400, "hex"),
        f"/contract/{address_of(CAROL)}": (404, "No such contract"),
        f"/contract/{contract}?storage_after=xyz": (400, "hex"),
        f"/contract/{contract}?storage_after=" + "ff" * 30: (404, "no storage entries"),
        f"/contract/{contract}?events_before=12": (400, "exactly 32 bytes"),
        "/nft/art/1/check": (405, "not allowed"),
    }
    for path, (status, text) in cases.items():
        got, _, body = client.request(path)
        assert got == status, (path, got)
        assert text.lower() in body.lower(), (path, body[-600:])
        assert 'id="error-message"' in body
    # The check form without its CSRF token, or without a file: refused, nothing hashed.
    status, _, body = client.request("/nft/art/2/check", {"file": "x"})
    assert status == 403 and "CSRF" in body


def test_metrics_export_finality_and_proposal_gauges(chain):
    node, _ = chain
    _, _, body = WebClient(node.dashboard_url).request("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(body)}
    finality = node.rpc("getfinality")
    assert families["coinium_finalized_height"].samples[0].value == finality["finalizedheight"]
    assert families["coinium_justified_height"].samples[0].value == finality["justifiedheight"]
    by_status = {s.labels["status"]: s.value for s in families["coinium_governance_proposals"]
                 .samples}  # fmt: skip
    assert by_status["passed"] == 1 and by_status["deposit"] == 1 and by_status["voting"] == 0
    assert set(by_status) == {"deposit", "voting", "passed", "executed", "rejected", "vetoed",
                              "expired"}  # fmt: skip


def test_the_check_form_hashes_an_upload_larger_than_any_other_form(chain):
    """Forms are capped at 64 KiB; the file check streams its upload instead, so a metadata file
    of 300 KB is hashed (and found not to match), not refused or buffered whole."""
    node, _ = chain
    client = WebClient(node.dashboard_url)
    token = client.csrf_token("/nft/art/2")
    content = FILE_CONTENT * 8_500
    boundary = "coinium-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}"
            f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.json\"\r\nContent-Type: application/json\r\n\r\n").encode() \
        + content + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(node.dashboard_url + "/nft/art/2/check", data=body,
                                      headers={"Content-Type": "multipart/form-data; "
                                               f"boundary={boundary}"})  # fmt: skip
    with client.opener.open(request, timeout=60) as response:
        status, page = response.status, response.read().decode()
    assert status == 200 and "Does not match" in page
    assert f"({len(content)} bytes)" in page and blake3_256(content).hex() in page


def test_finality_moves_on_the_page_without_reload(chain, browser):
    """Runs last: it mines on. A newly finalized checkpoint shows on the overview and the
    staking page from the block frames alone."""
    node, _ = chain
    s = Sender(node)
    # A fresh sender: its first vote may repeat the epoch's (valid, it pays its fee, not counted).
    s.nonces[VOTING_A.account] = node.rpc("getaccount", address_of(VOTING_A))["pending_nonce"]
    for path in ("/", "/staking"):
        browser.get(node.dashboard_url + path)
        wait_until(lambda: "live" in text_of(browser, "#live-status"), 15, message="live socket")
        browser.execute_script("window.notReloaded = true")
        before = node.rpc("getfinality")["finalizedheight"]
        assert text_of(browser, "#finalized-height") == str(before)
        for _ in range(4 * N):  # a few epochs; the bound only stops a broken chain
            s.mine()
            if node.rpc("getfinality")["finalizedheight"] > before:
                break
        now = node.rpc("getfinality")
        assert now["finalizedheight"] > before
        wait_until(lambda now=now: text_of(browser, "#finalized-height")
                   == str(now["finalizedheight"]), 15, message="the new finalized height")
        assert text_of(browser, "#justified-height") == str(now["justifiedheight"])
        assert browser.execute_script("return window.notReloaded") is True
        screenshot(browser, f"live-finality{path.replace('/', '-')}")
