"""Points (积分): money-like, so one append-only ledger, never below zero, counted once.

- `ledger`: `award` (tells the person), `spend`, `refund`, `lock_account`, `post` (building
  blocks that flush in the caller's transaction); `adjust`, `set_ranking_public`
  (transactions); `ledger`, `describe`, `ref_details`, `member_communities`, `verify`,
  `RULES`, `rule_points`, `amount_for`.
- `rankings`: `rankings` (每月一星), `month_bounds`, `mask_name`.
- `rewards`: the 爱心积分超市 shop: `list_rewards`, `create_reward`, `update_reward`, `redeem`,
  `my_redemptions`, `find_by_code`, `look_up`, `fulfil`, `cancel`, `expire_due`,
  `last_pickup_moment`.

Callers import the submodule: `from app.services.points import ledger`.
"""
