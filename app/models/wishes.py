"""微心愿 micro-wishes: a small wish of a household, checked by the compound's secretary,
claimed and fulfilled by a party member or volunteer, confirmed by the requester.

A wish belongs to one household (the requester's, or the one a grid worker or secretary
posts for, with the household's recorded consent), and its org columns (building, grid,
compound, community) are copied from that household's building when it is posted, so lists
and permission checks read one column (lists search the grid, the community, the household
and the poster in their copy, `WishKeys`, whose indexes no change of state writes).
`due_at` is the next moment a job must look at the wish, read through one index with its
status: a published wish's 30-day expiry, a claim's reminder and then its release, a
fulfilled wish's confirmation deadline.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import LabelledEnum, UTCDateTime, str_enum, utcnow
from app.models.org import Building, Household
from app.models.users import ScopeKind, User

TITLE_MAX = 20  # it goes into a subscribe message's `thing` field (20 characters)
DESCRIPTION_MAX = 300
PHOTOS_MAX = 3


class WishStatus(LabelledEnum):
    PENDING_REVIEW = ("pending_review", "待审核")
    PUBLISHED = ("published", "待认领")
    CLAIMED = ("claimed", "已认领")
    FULFILLED = ("fulfilled", "待确认")
    COMPLETED = ("completed", "已完成")
    REJECTED = ("rejected", "未通过")
    CANCELLED = ("cancelled", "已取消")
    EXPIRED = ("expired", "已过期")


# Open wishes count toward a household's limit; the wall shows the publicly visible ones.
OPEN_WISH_STATUSES = (WishStatus.PENDING_REVIEW, WishStatus.PUBLISHED, WishStatus.CLAIMED,
                      WishStatus.FULFILLED)
WALL_STATUSES = (WishStatus.PUBLISHED, WishStatus.CLAIMED, WishStatus.FULFILLED,
                 WishStatus.COMPLETED)


class WishCategory(LabelledEnum):
    SUPPLIES = ("supplies", "生活物资")
    COMPANIONSHIP = ("companionship", "陪伴探访")
    REPAIR = ("repair", "维修帮忙")
    ERRAND = ("errand", "代办跑腿")
    TUTORING = ("tutoring", "学习辅导")
    OTHER = ("other", "其他")


class CheckMethod(LabelledEnum):
    """How the secretary checked a wish before approving it."""

    PHONE = ("phone", "电话核实")
    VISIT = ("visit", "上门核实")


def _has(column: str) -> dict:
    """A partial index's predicate: only the rows where `column` has a value."""
    where = sa.text(f"{column} IS NOT NULL")
    return {"postgresql_where": where, "sqlite_where": where}


class Wish(db.Model):
    __tablename__ = "wishes"
    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"))
    building_id: Mapped[int] = mapped_column(sa.ForeignKey("buildings.id"))
    grid_id: Mapped[int] = mapped_column(sa.ForeignKey("grids.id"))
    compound_id: Mapped[int] = mapped_column(sa.ForeignKey("compounds.id"))
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    # The resident who wants it, who then posted it too; None when posted on behalf of a
    # household (no smartphone).
    requester_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    poster_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))  # who typed it in
    on_behalf: Mapped[bool] = mapped_column(default=False)
    consent_recorded: Mapped[bool] = mapped_column(default=False)  # the household agreed
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    description: Mapped[str] = mapped_column(sa.String(DESCRIPTION_MAX))
    category: Mapped[WishCategory] = mapped_column(str_enum(WishCategory, "wish_category"))
    campaign: Mapped[Optional[str]] = mapped_column(sa.String(20))  # e.g. 重阳节, 睦邻日
    photo_ids: Mapped[list] = mapped_column(sa.JSON, default=list)  # the wish's own, 0-3
    points: Mapped[int] = mapped_column()  # for the claimer at completion
    status: Mapped[WishStatus] = mapped_column(str_enum(WishStatus, "wish_status"))
    flagged: Mapped[bool] = mapped_column(default=False)  # WeChat asked for a human review
    check_method: Mapped[Optional[CheckMethod]] = mapped_column(
        str_enum(CheckMethod, "wish_check_method"))
    reviewed_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    claimer_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    claim_count: Mapped[int] = mapped_column(default=0)  # claims so far (names events)
    claimed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    claim_expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    published_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    fulfilled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    unconfirmed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)  # sent to the queue
    completed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    closed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    close_note: Mapped[Optional[str]] = mapped_column(sa.String(200))  # reject/cancel reason
    due_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    household: Mapped[Household] = relationship()
    building: Mapped[Building] = relationship()
    requester: Mapped[Optional[User]] = relationship(foreign_keys=[requester_id])
    poster: Mapped[User] = relationship(foreign_keys=[poster_id])
    claimer: Mapped[Optional[User]] = relationship(foreign_keys=[claimer_id])

    __table_args__ = (
        # The wall (four statuses, newest first): id order, the status checked in the entry
        # (migration 0105).
        sa.Index("ix_wishes_compound", "compound_id", "id", "status"),
        # The household, grid, community, poster and posting time are searched through
        # `wish_keys` (below, migration 0113): their indexes are not written again by
        # every change of state.
        # Partial (migration 0090): a released or never claimed wish has no entry, so the
        # claim job's UPDATE writes fewer indexes; every reader compares the column.
        sa.Index("ix_wishes_claimer", "claimer_id", "status", "id", **_has("claimer_id")),
        sa.Index("ix_wishes_due", "status", "due_at", "id"),
        # The weekly notice: wishes claimed and completed in a week (posted: `wish_keys`).
        sa.Index("ix_wishes_claimed", "claimed_at", **_has("claimed_at")),
        sa.Index("ix_wishes_completed", "completed_at", **_has("completed_at")),
        sa.CheckConstraint("points >= 0", name="points_not_negative"),
        sa.CheckConstraint("on_behalf = false OR consent_recorded = true",
                           name="on_behalf_needs_consent"),
        sa.CheckConstraint("status NOT IN ('claimed', 'fulfilled') OR claimer_id IS NOT NULL",
                           name="claimed_has_claimer"),
        sa.CheckConstraint("requester_id IS NULL OR requester_id = poster_id",
                           name="requester_is_poster"),
    )

    def scope_keys(self) -> set:
        return {(ScopeKind.GRID, self.grid_id), (ScopeKind.COMPOUND, self.compound_id),
                (ScopeKind.COMMUNITY, self.community_id)}


KEY_COLUMNS = ("household_id", "grid_id", "compound_id", "community_id", "poster_id", "created_at")


class WishKeys(db.Model):
    """A copy of the columns of a wish that never change once it is posted (`KEY_COLUMNS`),
    with the indexes that lists and counts search them by: a household's open wishes, a
    grid's or a community's wishes, a poster's (`mine`), the wishes posted in a week.

    Kept apart from `wishes` for the claim job (migration 0113): an UPDATE that changes an
    indexed column writes a new entry into every index of the table, and a change of state
    (a claim, a release; 50,000 at once when the job catches up) always does. Here, five
    of those indexes are never written again after the posting. The row is written in the
    flush that inserts its wish (`_write_keys`) and never updated; like the timelines, it
    has no FOREIGN KEY to the wish (migration 0110: wishes are never deleted)."""

    __tablename__ = "wish_keys"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # the wish's id
    household_id: Mapped[int] = mapped_column()
    grid_id: Mapped[int] = mapped_column()
    compound_id: Mapped[int] = mapped_column()  # no index: read with another key
    community_id: Mapped[int] = mapped_column()
    poster_id: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        sa.Index("ix_wish_keys_household", "household_id"),
        sa.Index("ix_wish_keys_grid", "grid_id", "id"),
        sa.Index("ix_wish_keys_community", "community_id", "id"),
        # `mine`: the poster is the requester when there is one (CHECK on wishes, 0112).
        sa.Index("ix_wish_keys_poster", "poster_id", "id"),
        sa.Index("ix_wish_keys_created", "created_at"),
    )

    @classmethod
    def match(cls, *conditions: sa.ColumnElement) -> sa.ColumnElement:
        """The wishes whose keys meet `conditions` (on this table's columns):
        `wishes.id IN (SELECT id FROM wish_keys WHERE …)`, through this table's indexes."""
        return Wish.id.in_(sa.select(cls.id).where(*conditions))


@sa.event.listens_for(Wish, "after_insert")
def _write_keys(mapper, connection, wish: Wish) -> None:
    """Every wish the ORM inserts gets its keys in the same flush (the bench generators,
    which insert with SQL, copy them with INSERT … SELECT)."""
    connection.execute(sa.insert(WishKeys.__table__).values(
        id=wish.id, **{name: getattr(wish, name) for name in KEY_COLUMNS}))


@sa.event.listens_for(Wish, "before_update")
def _keys_kept(mapper, connection, wish: Wish) -> None:
    state = sa.inspect(wish)
    changed = [name for name in KEY_COLUMNS if state.attrs[name].history.has_changes()]
    if changed:
        raise RuntimeError(f"wish {wish.id}: {', '.join(changed)} never change once posted "
                           "(copied in wish_keys)")


@sa.event.listens_for(WishKeys, "before_update")
def _never_updated(mapper, connection, keys: WishKeys) -> None:
    raise RuntimeError(f"wish {keys.id}: its keys are written once, with the wish")


class WishEvent(db.Model):
    """One line of a wish's timeline: who did what, when, with what note and photos."""

    __tablename__ = "wish_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    # No FOREIGN KEY (migration 0110), as incident_events: written with the wish it records.
    wish_id: Mapped[int] = mapped_column()
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))  # None: system
    action: Mapped[str] = mapped_column(sa.String(32))
    from_status: Mapped[Optional[str]] = mapped_column(sa.String(32))
    to_status: Mapped[Optional[str]] = mapped_column(sa.String(32))
    note: Mapped[Optional[str]] = mapped_column(sa.String(300))
    photo_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[Optional[User]] = relationship()
    __table_args__ = (sa.Index("ix_wish_events_wish", "wish_id", "id"),)
