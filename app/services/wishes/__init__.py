"""微心愿 micro-wishes: residents (or a grid worker or secretary for a household with no
smartphone) post small wishes, the compound's secretary checks them, party members and
volunteers claim and fulfil them with proof, the requester confirms and the claimer earns
points, once.

- `posting`: `post_wish` (who posts for which household, content security, the household's
  limit of open wishes).
- `flow`: `TRANSITIONS` (the state machine), `LABELS`, `transition`, `available`, `may_confirm`,
  `check`, `claim_window`, `released`, `release`, `stamp`.
- `access`: `communities_of`, `wall_of`, `is_volunteer`, `on_requesting_side`, `is_requester`,
  `is_party`, `holds`, `sees_contact`, `row_viewer` (both for the rows of a page),
  `can_view`, `can_view_public`, `get_visible`, `mask`, `requester_name`, `masked_requester`,
  `can_view_photo`.
- `queries`: `list_wishes` (wall, mine, claimed, compound, queue), `views`, `detail`,
  `WishView`, `LIST_COLUMNS`.
- `timeline`: `record`, `among`, `record_many`, `place`, `requester_side`, `to_requester`,
  `to_claimer`, `reminder`, `secretaries`, `to_secretaries`, `tell_requester`, `tell_claimer`,
  `remind_claimer`, `tell_secretaries`.
- `expiry`: `sweep_claims` (reminder, then release), `expire_published`,
  `flag_unconfirmed` (the wish jobs).

Callers import the submodule: `from app.services.wishes import flow`.
"""
