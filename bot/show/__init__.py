"""The query capability: `/staticip show` and `/staticip status` (reads only, never posts).

- `service` — gathers what is registered, the change window, this host's IP, the token.
- `blocks` — the answers; `listeners` — the two subcommands.
"""
