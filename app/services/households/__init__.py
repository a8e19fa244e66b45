"""Household membership (who really lives where): a user is a resident only through a
verified membership.

- `membership`: `request_membership` (bind an address: a pending request, or verified at
  once with an invite code), `transition` (approve / refuse / withdraw / leave, one table),
  `TRANSITIONS`, `may_decide`, `verify`.
- `invites`: `create_invite` (a grid worker's one-time code for a household), `redeem`.
- `queries`: `queue` (requests an approver may decide, with the household's members),
  `my_requests`.

Callers import the submodule: `from app.services.households import membership`.
"""
