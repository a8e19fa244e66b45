"""bot-deferred: the official-account bot's queued messages (a photo to download, a report
to file) whose thread died with its process or failed, run again
(app.wechat.bot.deferred.recover). Each message commits on its own: a dry run only counts."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import BotInbound
from app.models.base import utcnow
from app.models.bot import InboundStatus
from app.wechat.bot import deferred


def run(dry_run: bool = False) -> dict:
    if dry_run:
        due = db.session.scalar(sa.select(sa.func.count()).select_from(BotInbound).where(
            BotInbound.status == InboundStatus.QUEUED,
            BotInbound.created_at < utcnow() - deferred.RECOVER_AFTER))
        return {"due": due}
    return deferred.recover()
