"""Settings classes read from the environment.

`load_config()` picks the class named by `LINLI_ENV` (development, testing, production) and
instantiates it, so every value is read from the environment at app creation time. Every
setting is documented in README.md ("Settings").
"""
from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _bool(name: str, default: bool) -> bool:
    value = _env(name)
    return default if value is None else value.lower() in ("1", "true", "yes", "on")


def _json(name: str, default):
    value = _env(name)
    if value is None:
        return default
    try:
        return json.loads(value)
    except ValueError:
        raise RuntimeError(f"{name} must be JSON") from None


def database_url(raw: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the usual `postgresql://` form."""
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


class BaseConfig:
    ENV_NAME = "base"

    def __init__(self) -> None:
        self.SECRET_KEY = _env("SECRET_KEY", "dev-insecure-secret-key")
        self.SQLALCHEMY_DATABASE_URI = database_url(
            _env("DATABASE_URL", f"sqlite:///{INSTANCE / 'linli.sqlite3'}"))
        # A pooled connection idle longer than this is tested before use (app.extensions).
        self.DATABASE_PING_IDLE_SECONDS = float(_env("DATABASE_PING_IDLE_SECONDS", "10"))
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_recycle": 1800}
        self.WECHAT_APPID = _env("WECHAT_APPID", "wx-sandbox-appid")
        self.WECHAT_SECRET = _env("WECHAT_SECRET", "sandbox-secret")
        self.WECHAT_TOKEN = _env("WECHAT_TOKEN", "sandbox-token")
        self.WECHAT_AES_KEY = _env("WECHAT_AES_KEY")
        self.WECHAT_API_BASE = _env("WECHAT_API_BASE", "http://127.0.0.1:5001/")
        self.WECHAT_TIMEOUT = float(_env("WECHAT_TIMEOUT", "5"))
        # The official account (bot, template messages) is a separate WeChat app.
        self.WECHAT_MP_APPID = _env("WECHAT_MP_APPID", "wx-sandbox-mp-appid")
        self.WECHAT_MP_SECRET = _env("WECHAT_MP_SECRET", "sandbox-mp-secret")
        # The official-account bot (app.wechat.bot): a passive reply ready later than this
        # goes as a customer-service message instead; a flow idle this long is over; the
        # threads per process that run deferred messages (0: only the bot-deferred job) and
        # the tries before one is answered with an apology; messages per follower.
        self.BOT_REPLY_SECONDS = float(_env("BOT_REPLY_SECONDS", "4"))
        self.BOT_SESSION_IDLE_MINUTES = float(_env("BOT_SESSION_IDLE_MINUTES", "10"))
        self.BOT_DEFERRED_THREADS = int(_env("BOT_DEFERRED_THREADS", "2"))
        self.BOT_DEFERRED_ATTEMPTS = int(_env("BOT_DEFERRED_ATTEMPTS", "3"))
        self.BOT_RATELIMIT = _env("BOT_RATELIMIT", "30 per minute")
        # Template ids by template key (JSON objects); None: the sandbox's `sandbox-<key>`.
        self.WECHAT_SUBSCRIBE_TEMPLATES = _json("WECHAT_SUBSCRIBE_TEMPLATES", None)
        self.WECHAT_MP_TEMPLATES = _json("WECHAT_MP_TEMPLATES", None)
        self.NOTIFY_BATCH_SIZE = int(_env("NOTIFY_BATCH_SIZE", "20"))
        self.NOTIFY_LEASE_SECONDS = int(_env("NOTIFY_LEASE_SECONDS", "120"))
        self.NOTIFY_MAX_ATTEMPTS = int(_env("NOTIFY_MAX_ATTEMPTS", "6"))
        self.NOTIFY_BACKOFF_SECONDS = int(_env("NOTIFY_BACKOFF_SECONDS", "30"))
        self.NOTIFY_RETENTION_DAYS = int(_env("NOTIFY_RETENTION_DAYS", "180"))
        self.SCHEDULER_LEASE_SECONDS = int(_env("SCHEDULER_LEASE_SECONDS", "40"))
        self.SCHEDULER_RENEW_SECONDS = int(_env("SCHEDULER_RENEW_SECONDS", "10"))
        # Per-job trigger overrides, e.g. {"work-digest": {"trigger": "cron", "hour": 7}}.
        self.JOB_TRIGGERS = _json("JOB_TRIGGERS", {})
        # Points per rule, overriding the defaults in app/services/points.py (RULES), e.g.
        # {"incident_confirmed": 20}; and the days a redemption waits for pickup.
        self.POINTS_RULES = _json("POINTS_RULES", {})
        self.REDEMPTION_PICKUP_DAYS = float(_env("REDEMPTION_PICKUP_DAYS", "7"))
        # 随手拍 reports one user may file per Asia/Shanghai day (429 daily_limit_reached).
        self.INCIDENT_DAILY_LIMIT = int(_env("INCIDENT_DAILY_LIMIT", "20"))
        self.MEMBERSHIP_REQUEST_DAYS = float(_env("MEMBERSHIP_REQUEST_DAYS", "30"))
        # 微心愿 (app.services.wishes): open wishes per household, active claims per
        # claimer, how long a claim lasts and when its reminder goes, how long a published
        # wish waits for a claim, how long a fulfilled one waits for confirmation.
        self.WISH_OPEN_PER_HOUSEHOLD = int(_env("WISH_OPEN_PER_HOUSEHOLD", "3"))
        self.WISH_ACTIVE_CLAIMS = int(_env("WISH_ACTIVE_CLAIMS", "3"))
        self.WISH_CLAIM_DAYS = float(_env("WISH_CLAIM_DAYS", "7"))
        self.WISH_CLAIM_REMIND_DAYS = float(_env("WISH_CLAIM_REMIND_DAYS", "5"))
        self.WISH_EXPIRY_DAYS = float(_env("WISH_EXPIRY_DAYS", "30"))
        self.WISH_CONFIRM_DAYS = float(_env("WISH_CONFIRM_DAYS", "3"))
        # Connections the claim job shares a catch-up between on PostgreSQL (one stretch of
        # wish ids each, app.services.wishes.expiry); 1 keeps it in the job's transaction.
        self.WISH_JOB_WORKERS = int(_env("WISH_JOB_WORKERS", "2"))
        # 双报到 (app.services.party): the yearly bar an in-service member serves at the home
        # community (times and hours), and how long a post's rotating QR token stays valid.
        self.PARTY_YEARLY_TIMES = int(_env("PARTY_YEARLY_TIMES", "4"))
        self.PARTY_YEARLY_HOURS = float(_env("PARTY_YEARLY_HOURS", "20"))
        self.PARTY_QR_SECONDS = int(_env("PARTY_QR_SECONDS", "180"))
        # 党员积分 (app.services.party.scores): score per verified hour and per wish completed
        # as claimer, and the lowest score of each grade; JSON objects, keys left out keep
        # the defaults there.
        self.PARTY_SCORE_WEIGHTS = _json("PARTY_SCORE_WEIGHTS", {})
        # 社区食堂 (app.services.canteen): the meal-assistance tiers (a JSON list replacing
        # the defaults in eligibility.py: key, name, subsidy_fen, min_age?, category?) and
        # the most portions one booking may hold.
        self.CANTEEN_TIERS = _json("CANTEEN_TIERS", None)
        self.CANTEEN_MAX_QUANTITY = int(_env("CANTEEN_MAX_QUANTITY", "5"))
        # Canteen jobs (app.services.canteen.schedule, .noshows): the pickup reminder's lead,
        # the grace after the window before a booking is a no-show, and the no-show policy
        # (this many in so many days suspend self-booking for so many days).
        self.CANTEEN_REMIND_MINUTES = int(_env("CANTEEN_REMIND_MINUTES", "60"))
        self.CANTEEN_NO_SHOW_GRACE_MINUTES = int(_env("CANTEEN_NO_SHOW_GRACE_MINUTES", "30"))
        self.CANTEEN_NO_SHOW_LIMIT = int(_env("CANTEEN_NO_SHOW_LIMIT", "3"))
        self.CANTEEN_NO_SHOW_DAYS = int(_env("CANTEEN_NO_SHOW_DAYS", "30"))
        self.CANTEEN_SUSPENSION_DAYS = int(_env("CANTEEN_SUSPENSION_DAYS", "14"))
        self.PARTY_SCORE_GRADES = _json("PARTY_SCORE_GRADES", {})
        self.REDIS_URL = _env("REDIS_URL")
        self.PORT = int(_env("PORT", "5000"))
        self.TOKEN_TTL_DAYS = float(_env("TOKEN_TTL_DAYS", "7"))
        # An Idempotency-Key reserved this long without a stored response belongs to a
        # request that died (its process killed): a retry may take it over.
        self.IDEMPOTENCY_RESERVATION_SECONDS = float(_env("IDEMPOTENCY_RESERVATION_SECONDS", "120"))
        self.UPLOAD_DIR = _env("UPLOAD_DIR", str(INSTANCE / "uploads"))
        self.UPLOAD_MAX_BYTES = int(_env("UPLOAD_MAX_BYTES", str(10 * 1024 * 1024)))
        self.UPLOAD_MAX_PIXELS = int(_env("UPLOAD_MAX_PIXELS", str(40_000_000)))
        # Memory the decoded pixels may take (width x height x bands x bytes per band, read
        # from the header before decoding): a 16-bit RGBA PNG takes 8 bytes a pixel.
        self.UPLOAD_MAX_DECODE_BYTES = int(_env("UPLOAD_MAX_DECODE_BYTES", str(200 * 1024 * 1024)))
        self.UPLOAD_URL_TTL = int(_env("UPLOAD_URL_TTL", "3600"))
        # Werkzeug refuses larger bodies with 413 before they are read; the multipart
        # envelope needs a little room above the file limit itself.
        self.MAX_CONTENT_LENGTH = self.UPLOAD_MAX_BYTES + 256 * 1024
        self.RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL or "memory://"
        self.RATELIMIT_LOGIN = _env("RATELIMIT_LOGIN", "20 per minute")
        self.CONSOLE_IDLE_MINUTES = float(_env("CONSOLE_IDLE_MINUTES", "30"))
        self.RATELIMIT_UPLOAD = _env("RATELIMIT_UPLOAD", "30 per minute")
        self.RATELIMIT_HOUSEHOLD = _env("RATELIMIT_HOUSEHOLD", "10 per hour")
        self.RATELIMIT_PHONE = _env("RATELIMIT_PHONE", "5 per hour")
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted
        # (0: none). Behind one nginx: 1, so image URLs are https:// and rate limits see the
        # client's address.
        self.TRUSTED_PROXIES = int(_env("TRUSTED_PROXIES", "0"))
        self.RATELIMIT_HEADERS_ENABLED = True
        self.LOG_LEVEL = _env("LOG_LEVEL", "INFO")
        self.TIMEZONE = "Asia/Shanghai"

    # flask-smorest / OpenAPI
    API_TITLE = "Linli 邻里 API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "docs"
    # Swagger UI's files from the swagger-ui-bundle package, served by the app itself
    # (app.extensions.LinliApi); relative to the page, /api/docs -> /api/docs/static/.
    OPENAPI_SWAGGER_UI_URL = "docs/static/"
    OPENAPI_SWAGGER_UI_CONFIG = {"validatorUrl": None}  # no online validator badge
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    TESTING = False
    DEBUG = False


class DevelopmentConfig(BaseConfig):
    ENV_NAME = "development"


class TestingConfig(BaseConfig):
    ENV_NAME = "testing"
    TESTING = True


class ProductionConfig(BaseConfig):
    ENV_NAME = "production"

    def __init__(self) -> None:
        super().__init__()
        if not _env("SECRET_KEY"):
            raise RuntimeError("SECRET_KEY must be set in production")
        self.WECHAT_API_BASE = _env("WECHAT_API_BASE", "https://api.weixin.qq.com/")
        # No sandbox ids in production: a template without a configured id is inbox-only.
        self.WECHAT_SUBSCRIBE_TEMPLATES = _json("WECHAT_SUBSCRIBE_TEMPLATES", {})
        self.WECHAT_MP_TEMPLATES = _json("WECHAT_MP_TEMPLATES", {})


CONFIGS = {c.ENV_NAME: c for c in (DevelopmentConfig, TestingConfig, ProductionConfig)}


def load_config(name: str | None = None) -> BaseConfig:
    name = name or _env("LINLI_ENV", "development")
    if name not in CONFIGS:
        raise RuntimeError(f"LINLI_ENV must be one of {sorted(CONFIGS)}, not {name!r}")
    return CONFIGS[name]()
