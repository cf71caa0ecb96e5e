"""The web dashboard, admin panel and Prometheus metrics, served by the node itself (aiohttp, in
the node's process): `server` (app factory, lifecycle, middlewares), `pages` (one module per
page), `live` (WebSocket fan-out fed by the chain and mempool listeners), `auth` and `users`
(logins, sessions, CSRF, Argon2id users), `metrics` (/metrics), `charts` (SVG), `assets`
(Bootstrap and Font Awesome from installed packages), `rpc_bridge` (pages and actions call the RPC
methods themselves)."""
