"""Telling people things: the outbox, its templates, the dispatcher, the inbox and credits.

- `outbox`: `notify(user, template_key, payload, dedupe_key)` (flushes in the caller's
  transaction).
- `templates`: `TEMPLATES`, `get`, `check_payload`, `fit`, `wechat_data`, `inbox_text`, `page`,
  `template_id`.
- `dispatch`: `claim`, `deliver`, `run`, `drain`, `release`, `release_expired_leases`,
  `send_margin`.
- `inbox`: `inbox`, `mark_read`, `mark_all_read`, `unread_count`.
- `subscriptions`: `record_subscriptions`, `requestable`.

Callers import the submodule: `from app.services.notifications import outbox`.
"""
