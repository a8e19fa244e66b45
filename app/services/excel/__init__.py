"""Excel import and export that round-trip (console and the catalog API).

- `reading`: `open_rows` (a safe .xlsx read: size, zip and XML bombs via defusedxml,
  formulas refused), cell parsers `text`, `to_int`, `to_decimal`, `to_date`, `to_time`.
- `kinds`: `Column`, `Ctx`, `Kind`, `run` (dry run / all-or-nothing commit, a `Report`),
  `export_rows`.
- `workbooks`: `template_bytes` (data validation), `error_bytes` (the 错误 column).
- `scope`: `community_for`, look-ups by name inside a community, `mask_phone`.
- `households`, `party`, `buildings`, `guides`, `menus`: the importable kinds.
- `lists`: export-only kinds (incidents, wishes, users, bookings).
- `registry`: `KINDS`, `get`, `parse_filters`.
- `exports`: `export`, `queue`, `run_pending` (the console-exports job), `download`,
  `recent`.
"""
