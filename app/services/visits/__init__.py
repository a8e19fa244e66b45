"""六必访 visits and 流动党员 一月一联 contacts: which households and members are due, logging a
visit (optionally raising a wish or an incident for the household in the same call), the
history, the households' care tags, and the overdue climb to the secretary.

- `rules`: `DEFAULT_RULES`, `ensure_defaults`, `active_rules`, `list_rules`, `update_rule`
  (admin).
- `access`: `MANAGING_ROLES`, `manages`, `visible_household`, `visitor_role`,
  `can_view_photo`.
- `due`: `Scope`, `Due`, `compute` (every subject of a scope with its due time),
  `due_list` (`GET /visits/due` by scope), `due_today` (the digest source), `is_due`,
  `overdue_days`, `is_overdue`.
- `visiting`: `log_visit`, `history`, `get_visit`.
- `care`: `care_tags`, `set_care_tags` (grid worker, secretary, staff of the household).
- `escalation`: `escalate_overdue` (the visit-escalation job), `place` ("1号楼1单元101").

Callers import the submodule: `from app.services.visits import due`.
"""
