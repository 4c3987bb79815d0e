"""Change requests: ask, decide (approve/reject), apply exactly once, reconcile, cancel,
expire, history.

- `service` — the rules: validation, who may request/approve, the atomic decision,
  cancel, expiry, history (`ChangeRequestService`).
- `ip_rules` — what counts as a valid IP to register, and the proposal check.
- `apply` — the single PUT, the read-back when its outcome is unknown, and the flow after
  a change (tokens dead → login alert → card → announcement), top to bottom.
- `cards` — posting and updating the approval card; `blocks` — its Block Kit, the
  history page and the form.
- `listeners` — `/staticip set|cancel|history`, Approve/Reject, the form.
"""
