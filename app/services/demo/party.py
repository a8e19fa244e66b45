"""Demo 双报到 and service hours: 刘党员's confirmed registration at 示范社区, three past
党员先锋岗 posts with his verified check-in logs (4.5 + 4 + 4 = the 12.5 hours his
`PartyMember.service_hours` and the points history already count, so no ledger entries are
added), an upcoming post he signed up for, and two 党员积分 items 郑社工 entered for his
year (+8 for leading a building meeting, -2 for a missed branch meeting).

Added once: nothing is written when the community has service posts already.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from app import timeutil
from app.extensions import db
from app.models import (
    LogSource,
    PartyRegistration,
    PartyScoreItem,
    RegistrationStatus,
    ServiceCategory,
    ServiceLog,
    ServicePost,
    ServiceSignup,
    User,
)
from app.models.base import utcnow

# points, reason, days ago
SCORE_ITEMS = [
    (8, "牵头组织1号楼楼栋议事会", 20),
    (-2, "无故缺席一次支部组织生活", 10),
]
# title, category, place, days from now (negative: past), hours, headcount
POSTS = [
    ("党员先锋岗值守", ServiceCategory.SAFETY, "虹桥小区东门", -30, Decimal("4.5"), 6),
    ("文明楼道清洁", ServiceCategory.GOVERNANCE, "虹桥小区1号楼", -24, Decimal("4.0"), 8),
    ("老年人防诈骗宣传", ServiceCategory.SAFETY, "社区党群服务中心", -18, Decimal("4.0"), 5),
    ("周末政策宣讲", ServiceCategory.LEGAL, "社区党群服务中心", 3, None, 10),
]


def seed_party(org: dict, users: dict[str, User]) -> int:
    community = org["community"]
    if db.session.scalar(sa.select(sa.func.count()).select_from(ServicePost).where(
            ServicePost.community_id == community.id)):
        return 0
    member, staff = users["demo-party-member"], users["demo-staff"]
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    db.session.add(PartyRegistration(
        user_id=member.id, community_id=community.id, employer="县人力资源和社会保障局",
        skills="政策咨询", status=RegistrationStatus.CONFIRMED, decided_by_id=staff.id,
        decided_at=now - timedelta(days=60), created_at=now - timedelta(days=61)))
    for title, category, place, days, hours, headcount in POSTS:
        starts = now + timedelta(days=days)
        length = timedelta(hours=float(hours)) if hours else timedelta(hours=3)
        post = ServicePost(community_id=community.id, title=title, category=category,
                           starts_at=starts, ends_at=starts + length, place=place,
                           headcount=headcount, signup_count=1, created_by_id=staff.id,
                           created_at=starts - timedelta(days=7))
        db.session.add(post)
        db.session.flush()
        db.session.add(ServiceSignup(post_id=post.id, member_id=member.id,
                                     created_at=starts - timedelta(days=5)))
        if hours:
            db.session.add(ServiceLog(
                member_id=member.id, community_id=community.id, post_id=post.id,
                source=LogSource.CHECKIN, check_in_at=starts, check_out_at=starts + length,
                hours=hours, flagged=False, verified_at=starts + length,
                created_by_id=member.id, created_at=starts))
    for points, reason, days in SCORE_ITEMS:
        db.session.add(PartyScoreItem(
            member_id=member.id, community_id=community.id, year=timeutil.today().year,
            points=points, reason=reason, entered_by_id=staff.id,
            created_at=now - timedelta(days=days)))
    db.session.flush()
    return len(POSTS)
