"""Thin flask-smorest blueprints: parse -> one service call -> dump."""
from __future__ import annotations

from app.routes import (
    auth,
    canteen,
    canteen_feedback,
    console,
    guides,
    health,
    households,
    incidents,
    notices,
    notifications,
    org,
    party,
    points,
    rewards,
    uploads,
    visits,
    wishes,
)

BLUEPRINTS = [health.blp, auth.blp, org.blp, households.blp, uploads.blp, notifications.blp, incidents.blp,
              points.blp, rewards.blp, wishes.blp, party.blp,
              canteen.blp, canteen_feedback.blp,
              visits.blp, notices.blp, notices.print_blp,
              guides.blp, console.blp]
