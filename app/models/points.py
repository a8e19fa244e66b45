"""Points (积分): accounts, the append-only ledger, the reward shop and redemptions.

The ledger is the truth: an account's balance is the sum of its entries. `PointsAccount.balance`
is a cache written only in the transaction that appends the entry, under the account's row
lock, and `flask points verify` proves it equals the sum. Entries are never updated or
deleted (the ORM refuses, see the listeners below); a mistake is corrected by another entry.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import LabelledEnum, UTCDateTime, Versioned, str_enum, utcnow
from app.models.org import Community
from app.models.uploads import Upload
from app.models.users import ScopeKind, User


class PointsRule(LabelledEnum):
    """Why an entry exists. Amounts and ref kinds live in `app.services.points.ledger.RULES`."""

    INCIDENT_CONFIRMED = ("incident_confirmed", "随手拍问题经确认")
    WISH_FULFILLED = ("wish_fulfilled", "完成微心愿")
    VOLUNTEER_HOUR = ("volunteer_hour", "志愿服务")
    CANTEEN_BOOKING = ("canteen_booking", "食堂订餐（积分支付）")
    CANTEEN_REFUND = ("canteen_refund", "食堂订餐退回积分")
    REDEMPTION = ("redemption", "积分超市兑换")
    REDEMPTION_REFUND = ("redemption_refund", "积分超市兑换退回")
    ADJUSTMENT = ("adjustment", "工作人员调整")


class PointsAccount(db.Model):
    """One per user, created on first use. The row everyone locks before touching points."""

    __tablename__ = "points_accounts"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True,
                                         autoincrement=False)
    balance: Mapped[int] = mapped_column(default=0)
    # Bumped with every entry: a cheap "did anything change" for clients and a check that
    # the cache moved exactly once per entry.
    version: Mapped[int] = mapped_column(default=0)
    # 每月一星 shows names; a resident may opt out and appear masked ("张**").
    ranking_public: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user: Mapped[User] = relationship()
    __table_args__ = (sa.CheckConstraint("balance >= 0", name="balance_not_negative"),)


class LedgerEntry(db.Model):
    """One signed movement of points. Append-only."""

    __tablename__ = "ledger_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("points_accounts.user_id"))
    amount: Mapped[int] = mapped_column()
    # The balance right after this entry: the ledger can be audited entry by entry.
    balance_after: Mapped[int] = mapped_column()
    rule: Mapped[PointsRule] = mapped_column(str_enum(PointsRule, "points_rule"))
    ref: Mapped[Optional[str]] = mapped_column(sa.String(64))  # e.g. "incident:123"
    # The same award can never be counted twice: callers name it, e.g. "incident_confirmed:123".
    idempotency_key: Mapped[str] = mapped_column(sa.String(160), unique=True)
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    note: Mapped[Optional[str]] = mapped_column(sa.String(200))  # reason, reward name ...
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (
        sa.CheckConstraint("amount <> 0", name="amount_not_zero"),
        sa.CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        # A user's ledger, newest first (keyset on id).
        sa.Index("ix_ledger_entries_account", "account_id", "id"),
        # Monthly rankings scan one month of entries.
        sa.Index("ix_ledger_entries_created", "created_at"),
    )


@sa.event.listens_for(LedgerEntry, "before_update")
@sa.event.listens_for(LedgerEntry, "before_delete")
def _append_only(_mapper, _connection, entry: LedgerEntry) -> None:
    raise RuntimeError(f"ledger entry {entry.id} is append-only; post a correcting entry")


class Reward(Versioned, db.Model):
    """Something in a community's 爱心积分超市."""

    __tablename__ = "rewards"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    name: Mapped[str] = mapped_column(sa.String(64))
    description: Mapped[Optional[str]] = mapped_column(sa.String(500))
    picture_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("uploads.id"))
    cost: Mapped[int] = mapped_column()  # points per item
    stock: Mapped[int] = mapped_column()
    per_user_limit: Mapped[Optional[int]] = mapped_column()  # items per user; None: no limit
    starts_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    ends_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    pickup_place: Mapped[str] = mapped_column(sa.String(100))
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    community: Mapped[Community] = relationship()
    picture: Mapped[Optional[Upload]] = relationship()
    __table_args__ = (
        sa.CheckConstraint("stock >= 0", name="stock_not_negative"),
        sa.CheckConstraint("cost > 0", name="cost_positive"),
        sa.Index("ix_rewards_community", "community_id", "id"),
    )

    def scope_keys(self):
        return {(ScopeKind.COMMUNITY, self.community_id)}


class RedemptionStatus(LabelledEnum):
    PENDING = ("pending", "待领取")
    FULFILLED = ("fulfilled", "已领取")
    CANCELLED = ("cancelled", "已取消")
    EXPIRED = ("expired", "已过期")


class Redemption(db.Model):
    """Points exchanged for a reward, waiting for (or past) pickup with a 6-digit code."""

    __tablename__ = "redemptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    reward_id: Mapped[int] = mapped_column(sa.ForeignKey("rewards.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    quantity: Mapped[int] = mapped_column()
    points: Mapped[int] = mapped_column()  # what was taken (cost at the time x quantity)
    status: Mapped[RedemptionStatus] = mapped_column(
        str_enum(RedemptionStatus, "redemption_status"), default=RedemptionStatus.PENDING)
    pickup_code: Mapped[str] = mapped_column(sa.String(6))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fulfilled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    fulfilled_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    closed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)  # cancelled / expired
    reward: Mapped[Reward] = relationship()
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        # A code identifies one redemption while it can still be collected; closed ones
        # free their code for reuse (10^6 codes would run out otherwise).
        sa.Index("uq_redemptions_open_code", "pickup_code", unique=True,
                 postgresql_where=sa.text("status = 'pending'"),
                 sqlite_where=sa.text("status = 'pending'")),
        sa.Index("ix_redemptions_user", "user_id", "id"),
        sa.Index("ix_redemptions_reward_user", "reward_id", "user_id"),
        sa.Index("ix_redemptions_due", "status", "expires_at"),
    )

    @property
    def qr_payload(self) -> str:
        return f"linli:redemption:{self.pickup_code}"
