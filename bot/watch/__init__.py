"""Watching: the periodic checks and the alerts they post (once per condition).

- `rules` — pure rules: is this host drifting, is a window-reopened or morning note due.
- `service` — the checks the scheduler runs: the token check (the only place besides
  the apply flow that posts the "logged out" alert), the IP watch, the morning reminder.
- `blocks` — the alert messages.
"""
