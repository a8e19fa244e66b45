"""The console's pages, one module per area, each adding its routes to `bp`
(app.console.web): auth (sign-in, sign-out), dashboard, moderation, wishes."""
from app.console.views import auth, dashboard, moderation, wishes  # noqa: F401
from app.console.web import bp  # noqa: F401  (registered by create_app)
