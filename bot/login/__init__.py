"""Login: the Upstox token's life and the two ways back in.

- `tokens` — the encrypted token: seeded, read, recorded dead (never posts anything).
- `gateway` — every Upstox call with the stored token; a 401 is recorded.
- `service` — signed single-use login links, the "logged out" alert, the OAuth callback
  and the Access Token Request (notifier), and the after-login flow.
- `blocks` — the login messages; `listeners` — `/staticip login [phone]`; `routes` —
  `/upstox/callback` and `/upstox/notifier`.
"""
