"""三个公开 weekly notices: drafted from the week's live data, edited, published with the
numbers frozen, corrected by a new version, withdrawn by staff, printed for the board.

- `sources`: `SOURCES` (one source per section, listed in one place), `Week`, `gather`,
  `present` (counts under 3 as 少于3), `few`, and the section sources themselves.
- `canteen`: `figures` (the canteen section: meals served, rating).
- `weeks`: `parse` ("2026-W53", 422 `invalid_week`), `weeks_in`, `name`, `last_week`,
  `bounds`, `title`.
- `drafting`: `draft` (on demand, the same draft back), `draft_all` (the Monday job),
  `of_week`, `next_version`, `insert_draft`.
- `flow`: `TRANSITIONS`, `edit`, `publish` (freeze, supersede, broadcast), `correct`,
  `withdraw`, `get_visible`, `can_view`, `available`, `residents`, `PUBLIC`.
- `queries`: `list_notices`, `overview` (which compounds published, for staff).
- `view`: `display`, `title`, `plain_text` (one builder for every format).
- `printing`: `printable`, `html`, `text`, `pdf`, `qr_svg`, `cjk_font`.
- `settings`: `get`, `update` (station address and hours, the secretary's public contact).
- `reminders`: `remind_unpublished` (the Thursday job).

Callers import the submodule: `from app.services.notices import flow`.
"""
