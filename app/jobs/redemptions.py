"""redemption-expiry: redemptions not collected within REDEMPTION_PICKUP_DAYS are closed,
their points and stock given back, and the owner told (see app.services.points.rewards)."""
from __future__ import annotations

from app.services.points import rewards


def run(dry_run: bool = False) -> dict:
    # The runner commits (or, for a dry run, rolls back) the whole batch as one transaction.
    return rewards.expire_due()
