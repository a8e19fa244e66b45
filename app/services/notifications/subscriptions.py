"""Subscribe-message credits: each acceptance in wx.requestSubscribeMessage is one credit
for one template (`record_subscriptions`); the dispatcher spends them. `requestable` names
the templates a client may ask for, with the WeChat template ids the request needs."""
from __future__ import annotations

import sqlalchemy as sa

from app.errors import ValidationFailed
from app.extensions import db
from app.models import SubscriptionCredit, User
from app.services.common import get_or_create
from app.services.notifications import templates


def record_subscriptions(user: User, accepted: list[str], rejected: list[str]) -> list:
    """Credits from wx.requestSubscribeMessage: one per acceptance; refusals are counted."""
    unknown = sorted(set(accepted + rejected) - set(templates.TEMPLATES))
    if unknown:
        raise ValidationFailed("未知的订阅消息模板", code="unknown_template",
                               errors={"template_keys": unknown})
    table = SubscriptionCredit
    for key, is_accepted in [(k, True) for k in accepted] + [(k, False) for k in rejected]:
        get_or_create(table, user_id=user.id, template_key=key)
        # An increment in SQL, so simultaneous grants all count.
        values = ({"remaining": table.remaining + 1, "accepted_total": table.accepted_total + 1}
                  if is_accepted else {"rejected_total": table.rejected_total + 1})
        db.session.execute(sa.update(table).where(table.user_id == user.id,
                                                  table.template_key == key).values(**values))
    db.session.commit()
    return list(db.session.scalars(sa.select(table).where(table.user_id == user.id)
                                   .order_by(table.template_key)))


def requestable() -> list[dict]:
    """Every template with a mini-program subscribe template id (config
    `WECHAT_SUBSCRIBE_TEMPLATES`), in registry order; keys without an id are left out: the
    client could not request them, and they reach the user by the inbox."""
    items = []
    for key, template in templates.TEMPLATES.items():
        template_id = templates.template_id("subscribe", key)
        if template_id:
            items.append({"template_key": key, "template_id": template_id,
                          "title": template.title})
    return items
