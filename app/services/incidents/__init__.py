"""随手拍 incidents: the five-step loop 群众点单 → 组织派单 → 党员接单 → 部门买单 → 群众评单.

- `filing`: `create_incident` (content check, location, routing), `dispatch`, `locate`,
  `pick_grid_worker`, `distance_m`.
- `categories`: `get_category`, `list_categories`, `save_category`, `deadlines`.
- `timeline`: `record` (one timeline event), `title`, `place`, `tell` (a notification about
  an incident).
- `flow`: `TRANSITIONS` (the state machine), `transition`, `auto_close`.
- `access`: `can_view`, `can_view_public`, `get_visible`, `is_party_row`, `holders`, `holds`,
  `can_view_photo`.
- `queries`: `list_incidents`, `nearby`, `detail`, `open_by_assignee`.
- `sla`: `phase_of`, `steps`, `next_step_at`, `sweep` (the incident-sla job).
- `stats`: `incident_stats`, `summarize`.

Callers import the submodule: `from app.services.incidents import flow`.
"""
