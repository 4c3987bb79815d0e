"""Change requests: ask, decide (approve/reject), apply exactly once, reconcile, cancel,
expire, history.

- `service` — the rules: validation, who may request/approve, the atomic decision,
  cancel, expiry, history (`ChangeRequestService`).
- `ip_rules` — what counts as a valid IP to register, and the proposal check.
- `apply` — the single PUT, the read-back when its outcome is unknown, and the flow after
  a change (tokens dead → login alert → card → reply in its thread), top to bottom.
- `schedule` — a change approved for later ("after close" or `--at`): applied at its
  time exactly once across replicas, or handed back when missed and no longer safe.
- `cards` — posting and updating the approval card; `blocks` — its Block Kit, the
  history page and the forms.
- `listeners` — `/staticip set|cancel|history`, Approve/Approve for after close/Reject
  (with its reason modal), the form.
"""
