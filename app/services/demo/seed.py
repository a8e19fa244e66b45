"""`flask seed-demo`: a small community to click through. Idempotent: every row is found
by its natural key before it is created, so running it twice changes nothing.

Each feature has its own module in this package, called here in order.
"""
from __future__ import annotations

from app.extensions import db
from app.services.demo import canteen, guides, incidents, org, party, points, visits, wishes


def seed_demo() -> dict:
    tree = org.seed_org()
    households = org.seed_households(tree["buildings"])
    users = org.seed_users(tree, households)
    incidents_added = incidents.seed_incidents(tree, users)
    points_added = points.seed_points(tree, users)
    wishes_added = wishes.seed_wishes(tree, users)
    posts_added = party.seed_party(tree, users)
    meals_added = canteen.seed_canteen(tree, users)
    visits.seed_visits(tree, users)  # 六必访 history and 虹桥小区's published 三个公开
    guides.seed_guides(tree, users)  # 办事指南 and the bound follower (mp-demo-resident)
    db.session.commit()
    return {"households": len(households), "users": len(users),
            "buildings": len(tree["buildings"]), "incidents_added": incidents_added,
            "points_entries_added": points_added, "wishes_added": wishes_added,
            "service_posts_added": posts_added, "meals_added": meals_added}
