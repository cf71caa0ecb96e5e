// Coinium dashboard: live updates over the node's WebSocket (/ws). The node sends JSON frames
// {type: "block" | "mempool" | "peers", ...}; this page updates what it shows without a reload.
"use strict";

(function () {
  const page = document.body.dataset.page;
  const status = document.getElementById("live-status");
  let retry = 1000;
  let wasLive = false;  // after a lost connection (node restart, or shed as too slow) reload

  function setStatus(text, colour) {
    if (!status) return;
    status.querySelector("i").className = "fa-solid fa-circle text-" + colour;
    status.querySelector("span").textContent = text;
  }

  function setText(id, text) {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  function size(bytes) {
    if (bytes < 1000) return bytes + " B";
    const units = [[1e9, "G"], [1e6, "M"], [1e3, "k"]];
    for (const [f, s] of units) if (bytes >= f) return (bytes / f).toPrecision(3) + s + "B";
  }

  function link(href, text) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  function cell(row, content, cls) {
    const td = row.insertCell();
    if (cls) td.className = cls;
    if (typeof content === "string") td.textContent = content; else td.appendChild(content);
  }

  function onBlock(ev) {
    document.body.dataset.liveBlocks = String(Number(document.body.dataset.liveBlocks || 0) + 1);
    document.body.dataset.liveTip = String(ev.height);
    setText("tip-height", String(ev.height));
    const tipHash = document.getElementById("tip-hash");
    if (tipHash) { tipHash.textContent = ev.hash; tipHash.href = "/block/" + ev.hash; }
    if (ev.mempool) onMempool(ev.mempool);
    if (ev.finality) {  // the overview's finality card and the staking page's checkpoints
      for (const kind of ["finalized", "justified"]) {
        const a = document.getElementById(kind + "-height");
        if (a) { a.textContent = String(ev.finality[kind + "height"]); a.href = "/block/" + ev.finality[kind + "hash"]; }
      }
    }
    if (page === "overview") {
      fetch("/fragments/overview-charts").then(r => r.ok ? r.text() : null).then(html => {
        if (html === null) return;
        const holder = document.getElementById("charts-holder");
        holder.innerHTML = html;
        const row = holder.querySelector("#recent-blocks tbody tr");
        if (row) row.classList.add("live-new");
      });
    } else if (page === "blocks" && !location.search.includes("top=")) {
      const body = document.querySelector("#blocks-table tbody");
      if (body && !body.querySelector('tr[data-height="' + ev.height + '"]')) {
        const row = body.insertRow(0);
        row.dataset.height = String(ev.height);
        row.className = "live-new";
        cell(row, link("/block/" + ev.hash, String(ev.height)));
        cell(row, ev.hash, "font-monospace");
        cell(row, "just now");
        cell(row, String(ev.txs));
        cell(row, size(ev.size));
        cell(row, "");
      }
    }
  }

  function onMempool(ev) {
    setText("mempool-size", page === "overview" ? ev.size + " txs" : String(ev.size));
    setText("mempool-bytes", size(ev.bytes));
    setText("mempool-size-sub", size(ev.bytes));
  }

  function onPeers(ev) {
    setText("peer-count", String(ev.peers));
    setText("ban-count", String(ev.banned));
  }

  const handlers = { block: onBlock, mempool: onMempool, peers: onPeers };

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws");
    ws.onopen = () => {
      if (wasLive) { location.reload(); return; }  // what was missed while away
      wasLive = true;
      retry = 1000;
      setStatus("live", "success");
    };
    ws.onmessage = (msg) => {
      let ev;
      try { ev = JSON.parse(msg.data); } catch (e) { return; }
      const handle = handlers[ev.type];
      if (handle) handle(ev);
    };
    ws.onclose = () => {
      setStatus("reconnecting", "warning");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }

  if ("WebSocket" in window) connect();
})();
