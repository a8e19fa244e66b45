"""Typed SQLAlchemy models, one module per feature; imported here so Alembic sees them all."""
from app.models.org import (Building, CareTag, Community, Compound, Department, Grid,  # noqa: F401
                            Household, HouseholdTag, Street)
from app.models.idempotency import IdempotencyRecord  # noqa: F401
from app.models.incidents import (OPEN_STATUSES, CloseReason, Incident,  # noqa: F401
                                  IncidentCategory, IncidentEvent, IncidentFollower,
                                  IncidentStatus, RejectReason)
from app.models.notifications import (Channel, DeliveryStatus, JobRun, Notification,  # noqa: F401
                                      SchedulerLease, SubscriptionCredit)
from app.models.points import (LedgerEntry, PointsAccount, PointsRule, Redemption,  # noqa: F401
                               RedemptionStatus, Reward)
from app.models.uploads import Upload  # noqa: F401
from app.models.users import (ROLE_SCOPE, AuthToken, PartyMember, PartyMemberKind,  # noqa: F401
                              Role, RoleGrant, ScopeKind, User)
from app.models.wechat import WeChatToken  # noqa: F401
