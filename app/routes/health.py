"""`GET /healthz`: is the app up, and can it reach its database?"""
from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.routes.common import Blueprint

blp = Blueprint("health", __name__, description="健康检查")


class HealthSchema(Schema):
    status = fields.String(metadata={"description": "ok | degraded"})
    db = fields.String(metadata={"description": "ok | unreachable"})


@blp.route("/healthz", methods=["GET"])
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="数据库不可用")
def healthz():
    """Liveness and database reachability"""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return {"status": "degraded", "db": "unreachable"}, 503
    return {"status": "ok", "db": "ok"}
