"""The App Home: a dashboard per user, kept fresh.

- `service` — gathers the facts and publishes (`views.publish`); re-publishes for recent
  viewers when something they see changes (`refresh_soon`).
- `blocks` — the Home view; `listeners` — `app_home_opened` and the Home's login button.
"""
