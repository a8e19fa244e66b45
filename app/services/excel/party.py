"""The 双报到 roster of a community: the confirmed registrations (app.services.party.
registrations). 用户编号 (the member's user id, as the roster shows it) is the natural key;
姓名 and 报到时间 are for the reader; 工作单位 and 特长 are written.

The community's staff import (admin anywhere). A row for a member without a confirmed
registration here registers them as confirmed by the importer (what staff do on paper when a
member reports in person): they must be a party member and not confirmed at another
community (a row error otherwise); a pending registration of theirs ends."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from app.extensions import db
from app.models import PartyRegistration, RegistrationStatus, Role, User
from app.models.base import utcnow
from app.services.excel import scope
from app.services.excel.kinds import Column, Ctx, Kind
from app.services.party import registrations
from app.services.permissions import has_role

R = RegistrationStatus
BATCH = 2000


class PartyRoster(Kind):
    name, title = "party", "双报到花名册"
    COLUMNS = (
        Column("用户编号", "user_id", type="int", required=True, key=True, lo=1, hi=2**31 - 1,
               note="党员在小程序“我的”页面看到的编号"),
        Column("姓名", "nickname", readonly=True),
        Column("工作单位", "employer", required=True, max_len=100),
        Column("特长", "skills", max_len=200),
        Column("报到时间", "decided_at", readonly=True),
    )

    def context(self, user, filters: dict, writing: bool) -> Ctx:
        community = scope.community_for(user, filters.get("community_id"), (Role.STAFF,))
        return Ctx(user, community, filters, private=True)

    def current(self, ctx: Ctx):
        after = 0
        while True:
            batch = list(db.session.scalars(sa.select(PartyRegistration).where(
                PartyRegistration.community_id == ctx.community.id,
                PartyRegistration.status == R.CONFIRMED, PartyRegistration.id > after)
                .options(orm.selectinload(PartyRegistration.user))
                .order_by(PartyRegistration.id).limit(BATCH)))
            if not batch:
                return
            after = batch[-1].id
            for registration in batch:
                yield _values(registration)

    def _confirmed(self, ctx: Ctx, user_id: int) -> PartyRegistration | None:
        return db.session.scalar(sa.select(PartyRegistration).where(
            PartyRegistration.user_id == user_id, PartyRegistration.status == R.CONFIRMED,
            PartyRegistration.community_id == ctx.community.id))

    def check(self, ctx: Ctx, row: dict):
        member = db.session.get(User, row["user_id"])
        if member is None or not has_role(member, Role.PARTY_MEMBER):
            return "用户编号", "没有该编号的党员"
        elsewhere = registrations.confirmed_community(member.id)
        if elsewhere not in (None, ctx.community.id):
            return "用户编号", "该党员已在其他社区报到，请先由对方社区办理转出"
        return None

    def existing(self, ctx: Ctx, row: dict):
        registration = self._confirmed(ctx, row["user_id"])
        return None if registration is None else {"record": registration,
                                                  **_values(registration)}

    def write(self, ctx: Ctx, row: dict, old) -> None:
        if old is not None:
            registration = old["record"]
        else:
            registrations.lock_member(row["user_id"])
            now = utcnow()
            db.session.execute(sa.update(PartyRegistration).where(
                PartyRegistration.user_id == row["user_id"], PartyRegistration.status == R.PENDING)
                .values(status=R.ENDED, ended_at=now).execution_options(synchronize_session=False))
            registration = PartyRegistration(
                user_id=row["user_id"], community_id=ctx.community.id, employer=row["employer"],
                status=R.CONFIRMED, decided_by_id=ctx.user.id, decided_at=now, created_at=now)
            db.session.add(registration)
            registrations._profile(registration, now)  # as staff confirming would
        registration.employer = row["employer"]
        if "skills" in row:
            registration.skills = row["skills"]


def _values(registration: PartyRegistration) -> dict:
    return {"user_id": registration.user_id, "nickname": registration.user.nickname,
            "employer": registration.employer, "skills": registration.skills,
            "decided_at": registration.decided_at}


KIND = PartyRoster()
