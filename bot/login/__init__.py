"""Login: the Upstox token's life, the two ways back in, and the hand-over to the trading
system.

- `tokens` — the encrypted token: seeded, read, recorded dead (never posts anything).
- `gateway` — every Upstox call with the stored token; a 401 is recorded.
- `service` — signed single-use login links, the "logged out" alert, the OAuth callback
  and the Access Token Request (notifier), and the after-login flow.
- `blocks` — the login messages; `listeners` — `/staticip login [phone]`; `routes` —
  `/upstox/callback` and `/upstox/notifier`.
- `apps` — the account's Upstox apps and each app's sinks; `delivery` — the token file,
  `GET /token` (long-poll, pickup records), the signed webhook, the hand-over message and
  the pickup alert; `token_routes` — `GET /token[/<app>]`; `morning` — the weekday
  morning Access Token Request.
"""
