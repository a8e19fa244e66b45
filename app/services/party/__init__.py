"""双报到 and service hours: in-service party members register at their home community,
staff confirm; staff publish service posts, confirmed members sign up, check in and out
with the post's rotating QR code (or staff enter hours by hand), and every member sees this
year's times and hours against the 4-times / 20-hours bar; staff export the roster and the
employer roll-up, and 党员积分 scores and grades every member's year, disclosed quarterly.

- `registrations`: `TRANSITIONS` (confirm, reject), `register`, `transition`,
  `get_visible`, `list_registrations`, `confirmed_community`, `lock_member`,
  `staff_community`.
- `posts`: `create_post`, `get_post`, `list_posts`, `sign_up` (the last place taken once),
  `cancel_signup`, `signed_up`, `upcoming_signups`.
- `hours`: `make_token`, `read_token`, `qr`, `check_in`, `check_out`, `close`,
  `hours_between`, `verify_log`, `add_manual`, `get_log`, `verify`, `staff_logs`,
  `close_missing` (the `party-checkouts` job, telling the staff once a run).
- `progress`: `year_bounds`, `totals`, `targets`, `me`, `roster`, `remind_behind` (the
  `party-pace` job).
- `exports`: `roster_rows`, `roster_workbook`, `employer_rollup`, `employer_workbook`.
- `scores`: `weights`, `thresholds`, `grade`, `score_of`, `Parts`, `parts`, `summary`,
  `quarter_bounds`, `mine`, `add_item`, `list_items`, `members_during`, `public_list`.

Callers import the submodule: `from app.services.party import hours`.
"""
