"""What every notice of a compound repeats (三个公开): the 党群服务站's address and hours,
and the contact the secretary chooses to publish (opt-in: none unless they enter one).
Read by everyone who may read the compound's notices; written by its secretary."""
from __future__ import annotations

from app.errors import NotFound
from app.extensions import db
from app.models import Compound, NoticeSettings, Role, User
from app.services.permissions import authorize

FIELDS = ("station_address", "station_hours", "public_contact")


def get(compound_id: int) -> NoticeSettings:
    if db.session.get(Compound, compound_id) is None:
        raise NotFound("小区不存在", code="compound_not_found")
    return db.session.get(NoticeSettings, compound_id) or NoticeSettings(compound_id=compound_id)


def update(user: User, compound_id: int, **values) -> NoticeSettings:
    """Set the given fields (null clears one). One transaction."""
    compound = db.session.get(Compound, compound_id)
    if compound is None:
        raise NotFound("小区不存在", code="compound_not_found")
    authorize(user, Role.SECRETARY, compound)
    row = db.session.get(NoticeSettings, compound_id)
    if row is None:
        row = NoticeSettings(compound_id=compound_id)
        db.session.add(row)
    for key in FIELDS:
        if key in values:
            setattr(row, key, values[key])
    row.updated_by_id = user.id
    db.session.commit()
    return row
