"""The dashboard in a real browser against real regtest nodes: every page loads with its content
(screenshots in `SCREENSHOT_DIR`), a block mined over RPC appears without a reload, an admin logs
in and bans a peer."""

from __future__ import annotations

import pytest
from conftest_keys import ALICE, BOB, address_of
from dashboard_harness import (
    ADMIN,
    ADMIN_PASSWORD,
    add_user,
    dashboard_node,
    make_browser,
    screenshot,
)
from nodeproc import NodeProcess, node_key, peer_address, wait_connected, wait_until
from selenium.webdriver.common.by import By

from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer
from coinium.core.units import COIN

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    """Node a (dashboard, a user, a few blocks, a pending transaction) and node b, its peer."""
    base = tmp_path_factory.mktemp("dashboard")
    a = dashboard_node(base / "a")
    b = NodeProcess(base / "b")
    started = []
    try:
        a.start()
        started.append(a)
        add_user(a, ADMIN, ADMIN_PASSWORD)
        a.rpc("generatetoaddress", 5, address_of(ALICE))
        tx = sign_transfer(ALICE, REGTEST.chain_id, BOB.account, 3 * COIN, 5000, 0)
        a.rpc("sendrawtransaction", tx.raw.hex())
        b.extra_args += ["--connect", peer_address(a)]
        b.start()
        started.append(b)
        wait_connected(a, b)
        yield a, b, tx.txid.hex()
    finally:
        for node in started:
            node.stop()


@pytest.fixture(scope="module")
def browser():
    driver = make_browser()
    yield driver
    driver.quit()


def text_of(driver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def test_every_page_loads_with_its_content(nodes, browser):
    a, _, txid = nodes
    url = a.dashboard_url
    tip = a.rpc("getbestblockhash")
    alice = address_of(ALICE)
    pages = {
        "overview": ("/", "#tip-height", "5"),
        "blocks": ("/blocks", "#blocks-table", tip),
        "block": (f"/block/{tip}", "#block-height", "5"),
        "block-by-height": ("/block/0", "#block-height", "0"),
        "transaction": (f"/tx/{txid}", "#tx-status", "in the mempool"),
        "account": (f"/address/{alice}", "#address", alice),
        "mempool": ("/mempool", "#mempool-table", txid[:8]),
        "network": ("/network", "#peers-table", "127.0.0.1"),
        "mining": ("/mining", "#miner-state", "off"),
        "login": ("/login", "#login-form", "Log in"),
        "search-malformed": ("/search?q=not-a-thing", "#search-message", "not a height"),
        "not-found": ("/no/such/page", "#error-message", "no page at /no/such/page"),
    }
    for name, (path, css, expected) in pages.items():
        browser.get(url + path)
        assert expected in text_of(browser, css), (name, text_of(browser, css))
        # Dark Bootstrap 5 theme, assets served by the node itself.
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("data-bs-theme") == "dark"
        background = browser.execute_script(
            "return getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(33, 37, 41)", (name, background)  # Bootstrap's dark body
        screenshot(browser, name)
    # The overview's charts are SVG drawn by the node; the mempool's histogram has a bar.
    browser.get(url + "/")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#overview-charts svg.chart")) == 3
    browser.get(url + "/mempool")
    assert browser.find_elements(By.CSS_SELECTOR, "#fee-histogram svg rect.bar")


def test_a_new_block_appears_without_reload(nodes, browser):
    a, _, _ = nodes
    browser.get(a.dashboard_url + "/")
    wait_until(lambda: "live" in text_of(browser, "#live-status"), 15, message="live socket")
    browser.execute_script("window.notReloaded = true")
    height = a.rpc("getblockcount")
    [new_hash] = a.rpc("generatetoaddress", 1, address_of(BOB))
    wait_until(lambda: text_of(browser, "#tip-height") == str(height + 1), 15,
               message="the new height on the page")  # fmt: skip
    wait_until(lambda: new_hash[:10] in text_of(browser, "#recent-blocks tbody tr"), 15,
               message="the new block in the recent blocks table")  # fmt: skip
    assert browser.execute_script("return window.notReloaded") is True
    # The mined block took the pending transaction: the mempool count follows without reload.
    wait_until(lambda: text_of(browser, "#mempool-size").startswith("0"), 15,
               message="the emptied mempool on the page")  # fmt: skip
    screenshot(browser, "overview-after-live-block")

    browser.get(a.dashboard_url + "/blocks")
    wait_until(lambda: "live" in text_of(browser, "#live-status"), 15, message="live socket")
    browser.execute_script("window.notReloaded = true")
    [newer] = a.rpc("generatetoaddress", 1, address_of(BOB))
    wait_until(lambda: newer in text_of(browser, "#blocks-table tbody tr"), 15,
               message="the new block at the top of the blocks list")  # fmt: skip
    assert browser.execute_script("return window.notReloaded") is True


def test_admin_logs_in_and_bans_a_peer(nodes, browser):
    a, b, _ = nodes
    key_b = node_key(b)
    browser.get(a.dashboard_url + "/network")
    assert not browser.find_elements(By.CSS_SELECTOR, ".ban-peer")  # viewers get no buttons
    browser.get(a.dashboard_url + "/admin")
    assert "/login" in browser.current_url  # the panel needs a login
    browser.find_element(By.ID, "user").send_keys(ADMIN)
    browser.find_element(By.ID, "password").send_keys("wrong password")
    browser.find_element(By.ID, "login-button").click()
    # The refusal comes after the Argon2 check and a deliberate delay: wait for the new page.
    wait_until(lambda: browser.find_elements(By.ID, "login-failed"), 15,
               message="the failed-login page")  # fmt: skip
    assert "Wrong user name or password" in text_of(browser, "#login-failed")
    browser.find_element(By.ID, "user").send_keys(ADMIN)
    browser.find_element(By.ID, "password").send_keys(ADMIN_PASSWORD)
    browser.find_element(By.ID, "login-button").click()
    wait_until(lambda: browser.current_url.endswith("/admin"), 15, message="the admin panel")
    assert "debug.log" in browser.page_source and "JSON-RPC listening" in text_of(
        browser, "#log-tail")  # fmt: skip
    screenshot(browser, "admin")
    # Session cookie: HttpOnly and SameSite=Strict (Secure needs HTTPS: see auth.came_over_https).
    cookie = browser.get_cookie("coinium_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False

    browser.get(a.dashboard_url + "/network")
    row = browser.find_element(By.CSS_SELECTOR, "#peers-table tbody tr[data-peer-id]")
    row.find_element(By.CSS_SELECTOR, ".ban-peer").click()
    wait_until(lambda: any(ban["address"] == key_b for ban in a.rpc("listbanned")), 15,
               message="node b banned")  # fmt: skip
    wait_until(lambda: a.rpc("getconnectioncount") == 0, 15, message="node b disconnected")
    wait_until(lambda: browser.find_elements(By.ID, "admin-done"), 15, message="the result")
    assert f"banned {key_b}" in text_of(browser, "#admin-done")
    assert key_b in text_of(browser, "#bans-table")
    screenshot(browser, "network-after-ban")
    # And unban, from the same page; node b (--connect a) comes back, and the peer count on
    # the page follows without a reload.
    browser.find_element(By.CSS_SELECTOR, "#bans-table button").click()
    wait_until(lambda: not a.rpc("listbanned"), 15, message="the ban lifted")
    wait_until(lambda: "unbanned" in browser.page_source, 15, message="the page after unban")
    wait_until(lambda: "live" in text_of(browser, "#live-status"), 15, message="live socket")
    browser.execute_script("window.notReloaded = true")
    # Node b may already be back (it redials at once), so the live change is driven from here:
    # banned over RPC, its link goes and the count drops; unbanned, it comes back and the count
    # follows, with no reload in between.
    wait_until(lambda: a.rpc("getconnectioncount") == 1, 60, message="node b back")
    a.rpc("setban", key_b, "add")
    wait_until(lambda: text_of(browser, "#peer-count") == "0", 30,
               message="the count dropping on the page")  # fmt: skip
    a.rpc("setban", key_b, "remove")
    wait_until(lambda: text_of(browser, "#peer-count") == "1", 60,
               message="node b back on the page")  # fmt: skip
    assert browser.execute_script("return window.notReloaded") is True
