"""The console's pages, one module per area, each adding its routes to `bp`
(app.console.web): auth (sign-in, sign-out), dashboard, moderation, wishes; the work
queues canteen (menus, kitchen sheet, held feedback), notices, escalations, bot; org (the
org tree and households), people (users, role grants, the 双报到 roster), catalog (办事指南,
rewards); excel (imports, exports, export jobs)."""
from app.console.views import (  # noqa: F401
    auth,
    bot,
    canteen,
    catalog,
    dashboard,
    escalations,
    excel,
    moderation,
    notices,
    org,
    people,
    wishes,
)
from app.console.web import bp  # noqa: F401  (registered by create_app)
