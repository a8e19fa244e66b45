"""Typed SQLAlchemy models, one module per feature; imported here so Alembic sees them all."""
from app.models.bot import BotInbound, BotSession, BotTicket, GuideEntry, GuideGap  # noqa: F401
from app.models.canteen import (  # noqa: F401
                            Booking,
                            BookingState,
                            Canteen,
                            CanteenFeedback,
                            CanteenSuspension,
                            DinerCategory,
                            DinerFlag,
                            DinerProfile,
                            FeedbackStatus,
                            Meal,
                            MealKind,
                            MealState,
                            PayWith,
)
from app.models.console import ConsoleAudit, ConsoleNonce, ConsoleSession  # noqa: F401
from app.models.excel import ExportJob, ExportStatus  # noqa: F401
from app.models.idempotency import IdempotencyRecord  # noqa: F401
from app.models.incidents import (  # noqa: F401
                            OPEN_STATUSES,
                            CloseReason,
                            Incident,
                            IncidentCategory,
                            IncidentEvent,
                            IncidentFollower,
                            IncidentSlaClock,
                            IncidentStatus,
                            RejectReason,
)
from app.models.membership import (  # noqa: F401
                            OPEN_MEMBERSHIP,
                            HouseholdInvite,
                            HouseholdMembership,
                            MembershipStatus,
                            VerifiedBy,
)
from app.models.notices import Notice, NoticeSettings, NoticeStatus  # noqa: F401
from app.models.notifications import (  # noqa: F401
                            Channel,
                            DeliveryStatus,
                            JobRun,
                            Notification,
                            SchedulerLease,
                            SubscriptionCredit,
)
from app.models.org import (  # noqa: F401
                            Building,
                            CareTag,
                            Community,
                            Compound,
                            Department,
                            Grid,
                            Household,
                            HouseholdTag,
                            NameVersion,
                            Street,
)
from app.models.party import (  # noqa: F401
                            LogSource,
                            PartyRegistration,
                            PartyScoreItem,
                            RegistrationStatus,
                            ServiceCategory,
                            ServiceLog,
                            ServicePost,
                            ServiceSignup,
)
from app.models.points import (  # noqa: F401
                            LedgerEntry,
                            PointsAccount,
                            PointsRule,
                            Redemption,
                            RedemptionStatus,
                            Reward,
)
from app.models.uploads import Upload  # noqa: F401
from app.models.users import (  # noqa: F401
                            ROLE_SCOPE,
                            AuthToken,
                            PartyMember,
                            PartyMemberKind,
                            Role,
                            RoleGrant,
                            ScopeKind,
                            User,
)
from app.models.visits import (  # noqa: F401
                            Visit,
                            VisitEscalation,
                            VisitKind,
                            VisitRule,
                            VisitSubject,
)
from app.models.wechat import WeChatToken  # noqa: F401
from app.models.wishes import (  # noqa: F401
                            OPEN_WISH_STATUSES,
                            WALL_STATUSES,
                            CheckMethod,
                            Wish,
                            WishCategory,
                            WishEvent,
                            WishKeys,
                            WishStatus,
)
