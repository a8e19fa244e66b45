"""双报到 and service hours: in-service party members register at their home community,
staff confirm; staff publish service posts, confirmed members sign up, check in and out
with the post's rotating QR code (or staff enter hours by hand), and every member sees this
year's times and hours against the 4-times / 20-hours bar.

- `registrations`: `TRANSITIONS` (confirm, reject), `register`, `transition`,
  `get_visible`, `list_registrations`, `mine`, `confirmed_community`, `lock_member`.
- `posts`: `create_post`, `get_post`, `list_posts`, `sign_up` (the last place taken once),
  `signed_up`, `upcoming_signups`.
- `hours`: `make_token`, `read_token`, `qr`, `check_in`, `check_out`, `close`,
  `hours_between`, `verify_log`, `add_manual`, `get_log`, `verify`, `staff_logs`,
  `close_missing` (the `party-checkouts` job).
- `progress`: `year_bounds`, `totals`, `targets`, `me`, `roster`, `remind_behind` (the
  `party-pace` job).

Callers import the submodule: `from app.services.party import hours`.
"""
