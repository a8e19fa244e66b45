"""随手拍 incidents: the five-step loop 群众点单 → 组织派单 → 党员接单 → 部门买单 → 群众评单.

- `filing`: `create_incident` (who may report where, the daily limit, content check,
  location, routing), `dispatch`, `locate`, `pick_grid_worker`, `is_resident`,
  `may_report`, `check_place`, `check_daily_limit`, `distance_m`.
- `categories`: `get_category`, `list_categories`, `save_category`, `deadlines`.
- `timeline`: `record` (one timeline event), `title`, `place`, `tell` (a notification about
  an incident, keyed by the timeline event it reports).
- `flow`: `TRANSITIONS` (the state machine), `LABELS` (the timeline's Chinese labels),
  `transition`, `auto_close`.
- `access`: `can_view`, `can_view_public`, `get_visible`, `is_party_row`, `holders`, `holds`,
  `can_view_photo`.
- `queries`: `list_incidents`, `nearby`, `detail`, `allowed_actions`, `open_by_assignee`.
- `sla`: `phase_of`, `steps`, `next_step_at`, `late_by` (how late, in Chinese), `sweep` (the
  incident-sla job: the most senior step due per incident).
- `stats`: `incident_stats`, `summarize`, `date_range` (the statistics range rule);
  `dashboard` (the console's figures), `range_counts`, `overdue_list`,
  `open_by_building`.

Callers import the submodule: `from app.services.incidents import flow`.
"""
