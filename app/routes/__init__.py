"""Thin flask-smorest blueprints: parse -> one service call -> dump."""
from __future__ import annotations

from app.routes import (
    auth,
    health,
    households,
    incidents,
    notifications,
    org,
    party,
    points,
    rewards,
    uploads,
    wishes,
)

BLUEPRINTS = [health.blp, auth.blp, org.blp, households.blp, uploads.blp, notifications.blp, incidents.blp,
              points.blp, rewards.blp, wishes.blp, party.blp]
