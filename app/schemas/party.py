"""双报到 and service-hour schemas: registrations, service posts, QR codes, logs, my year,
the employer roll-up, 党员积分 (items, my score, the quarterly public list).
Output is dumped from the models (and `progress.me()`'s dict); actions and categories come
from the transition table and the enums."""
from __future__ import annotations

from types import SimpleNamespace

from marshmallow import Schema, ValidationError, fields, validate

from app.models import RegistrationStatus, ServiceCategory
from app.models.party import MAX_LOG_HOURS, REASON_MAX, SCORE_ITEM_MAX, TITLE_MAX
from app.schemas.common import AwareDateTime, PageArgs, Text, labelled, page_of
from app.services import transitions
from app.services.party import registrations

ACTIONS = transitions.actions(registrations.TRANSITIONS)
CATEGORIES = [category.value for category in ServiceCategory]
REGISTRATION_STATUSES = [status.value for status in RegistrationStatus]


class Labelled(fields.Field):
    """A LabelledEnum member as {code, name}."""

    def _serialize(self, value, attr, obj, **kwargs):
        return labelled(value)


class Ref(fields.Field):
    """A row as {id, name|title} (or null)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return {"id": value.id, "name": getattr(value, "name", None) or value.title}


class PartyRegistrationCreateSchema(Schema):
    community_id = fields.Integer(required=True, strict=True)
    employer = Text(required=True, validate=validate.Length(min=1, max=100),
                    metadata={"description": "工作单位"})
    skills = Text(load_default=None, validate=validate.Length(max=200),
                  metadata={"description": "特长，如 法律咨询、医疗"})


class PartyRegistrationTransitionSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    note = Text(load_default=None, validate=validate.Length(max=200),
                metadata={"description": "reject 时必填：不通过的原因"})


class PartyRegistrationListArgs(PageArgs):
    community_id = fields.Integer(required=True)
    status = fields.String(load_default=None, validate=validate.OneOf(REGISTRATION_STATUSES))


class PartyRegistrationSchema(Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    member = fields.Function(lambda r: r.user.nickname)
    community = Ref()
    employer = fields.String()
    skills = fields.String(allow_none=True)
    status = Labelled()
    note = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class ServicePostCreateSchema(Schema):
    community_id = fields.Integer(required=True, strict=True)
    title = Text(required=True, validate=validate.Length(min=1, max=TITLE_MAX))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    starts_at = AwareDateTime(required=True)
    ends_at = AwareDateTime(required=True)
    place = Text(required=True, validate=validate.Length(min=1, max=100))
    headcount = fields.Integer(required=True, strict=True,
                               validate=validate.Range(min=1, max=10_000))


class ServicePostListArgs(PageArgs):
    community_id = fields.Integer(required=True)


def post_item(post, signed_up: bool) -> dict:
    """A post as `ServicePostSchema` dumps it; `signed_up` is the viewer's."""
    return {"id": post.id, "community_id": post.community_id, "title": post.title,
            "category": post.category, "starts_at": post.starts_at, "ends_at": post.ends_at,
            "place": post.place, "headcount": post.headcount,
            "signup_count": post.signup_count, "remaining": post.headcount - post.signup_count,
            "signed_up": signed_up, "created_at": post.created_at}


class ServicePostSchema(Schema):
    """A service post, dumped from `post_item()`'s dict."""

    id = fields.Integer()
    community_id = fields.Integer()
    title = fields.String()
    category = Labelled()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    place = fields.String()
    headcount = fields.Integer()
    signup_count = fields.Integer()
    remaining = fields.Integer(metadata={"description": "剩余名额"})
    signed_up = fields.Boolean(metadata={"description": "当前用户已报名"})
    created_at = fields.DateTime()


class ScanSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=500),
                          metadata={"description": "扫描岗位二维码得到的内容"})


class ServiceQRCodeSchema(Schema):
    token = fields.String()
    svg = fields.String(allow_none=True)


class ServiceQRSchema(Schema):
    post_id = fields.Integer()
    check_in = fields.Nested(ServiceQRCodeSchema)
    check_out = fields.Nested(ServiceQRCodeSchema)
    refresh_at = fields.DateTime(metadata={"description": "二维码在此时更新"})
    expires_at = fields.DateTime(metadata={"description": "本次二维码在此时失效"})


class ServiceLogSchema(Schema):
    id = fields.Integer()
    member_id = fields.Integer()
    community_id = fields.Integer()
    post = Ref()
    source = Labelled()
    check_in_at = fields.DateTime()
    check_out_at = fields.DateTime(allow_none=True)
    hours = fields.Decimal(as_string=True, allow_none=True)
    flagged = fields.Boolean(metadata={"description": "未签退，由系统在岗位结束时关闭，待社区核实"})
    verified = fields.Function(lambda log: log.verified_at is not None)
    verified_at = fields.DateTime(allow_none=True)
    note = fields.String(allow_none=True)


class ServiceLogCreateSchema(Schema):
    member_id = fields.Integer(required=True, strict=True)
    community_id = fields.Integer(load_default=None, strict=True)
    post_id = fields.Integer(load_default=None, strict=True)
    check_in_at = AwareDateTime(required=True)
    check_out_at = AwareDateTime(required=True)
    note = Text(load_default=None, validate=validate.Length(max=200))


class ServiceLogVerifySchema(Schema):
    hours = fields.Decimal(load_default=None, places=1, allow_nan=False,
                           validate=validate.Range(min=0, max=MAX_LOG_HOURS),
                           metadata={"description": "核定时长（不填则按记录）"})


class ServiceLogListArgs(PageArgs):
    community_id = fields.Integer(required=True)
    flagged = fields.Boolean(load_default=None)


class RosterArgs(PageArgs):
    community_id = fields.Integer(required=True)
    year = fields.Integer(load_default=None, validate=validate.Range(min=2000, max=2100),
                          metadata={"description": "默认今年（上海时间）"})


class RosterItemSchema(Schema):
    """One member of a community's roster with the year's progress."""

    id = fields.Integer(metadata={"description": "报到记录 id"})
    member = fields.Dict()
    employer = fields.String()
    skills = fields.String(allow_none=True)
    registered_at = fields.DateTime(allow_none=True)
    year = fields.Integer()
    times = fields.Integer()
    hours = fields.Decimal(as_string=True)
    times_met = fields.Boolean()
    hours_met = fields.Boolean()


class PartyMeArgs(PageArgs):
    """`cursor` and `limit` page the history."""


class MePartySchema(Schema):
    year = fields.Integer()
    times = fields.Integer(metadata={"description": "今年已核实的服务次数"})
    hours = fields.Decimal(as_string=True, metadata={"description": "今年已核实的服务时长（小时）"})
    target_times = fields.Integer()
    target_hours = fields.Decimal(as_string=True)
    times_met = fields.Boolean()
    hours_met = fields.Boolean()
    registrations = fields.List(fields.Nested(PartyRegistrationSchema),
                                metadata={"description": "报到记录，最新在前（含已结束的）"})
    signups = fields.List(fields.Nested(ServicePostSchema),
                          metadata={"description": "已报名且未结束的岗位"})
    history = fields.Nested(Schema.from_dict({
        "items": fields.List(fields.Nested(ServiceLogSchema)),
        "next_cursor": fields.String(allow_none=True)}, name="PartyHistoryPage"))


def me_body(body: dict) -> dict:
    """`MePartySchema`'s JSON from `progress.me()`'s rows, built directly (a hot read: no
    second pass through marshmallow; the schema documents it)."""
    history = body["history"]
    return {**body, "registrations": [_registration(r) for r in body["registrations"]],
            "signups": [{**post_item(SimpleNamespace(**p), True),
                         "category": labelled(p["category"])} for p in body["signups"]],
            "history": {"items": [_log(r) for r in history["items"]],
                        "next_cursor": history["next_cursor"]}}


def _registration(r) -> dict:
    return {"id": r["id"], "user_id": r["user_id"], "member": r["member_name"],
            "community": {"id": r["community_id"], "name": r["community_name"]},
            "employer": r["employer"], "skills": r["skills"], "status": labelled(r["status"]),
            "note": r["note"], "decided_at": r["decided_at"], "ended_at": r["ended_at"],
            "created_at": r["created_at"]}


def _log(r) -> dict:
    return {"id": r["id"], "member_id": r["member_id"], "community_id": r["community_id"],
            "post": None if r["post_id"] is None else {"id": r["post_id"],
                                                       "name": r["post_title"]},
            "source": labelled(r["source"]), "check_in_at": r["check_in_at"],
            "check_out_at": r["check_out_at"],
            "hours": None if r["hours"] is None else format(r["hours"], "f"),
            "flagged": r["flagged"], "verified": r["verified_at"] is not None,
            "verified_at": r["verified_at"], "note": r["note"]}


# --- reports: the roster and the employer roll-up ------------------------------------------

def _year_field(**kwargs):
    return fields.Integer(validate=validate.Range(min=2000, max=2100), **kwargs)


class ReportArgs(Schema):
    community_id = fields.Integer(required=True)
    year = _year_field(load_default=None, metadata={"description": "默认今年（上海时间）"})


class QuarterAmountSchema(Schema):
    quarter = fields.Integer()
    times = fields.Integer()
    hours = fields.Decimal(as_string=True)


class EmployerItemSchema(Schema):
    employer = fields.String(metadata={"description": "工作单位"})
    members = fields.Integer(metadata={"description": "计入的报到党员人数"})
    quarters = fields.List(fields.Nested(QuarterAmountSchema))
    times = fields.Integer()
    hours = fields.Decimal(as_string=True)


class EmployerRollupSchema(Schema):
    community = fields.Dict()
    year = fields.Integer()
    items = fields.List(fields.Nested(EmployerItemSchema),
                        metadata={"description": "按全年时长从多到少"})
    total = fields.Nested(EmployerItemSchema, metadata={"description": "合计"})


# --- 党员积分 -------------------------------------------------------------------------------

def _nonzero(value: int) -> None:
    if value == 0:
        raise ValidationError("不能为 0")


class ScoreItemCreateSchema(Schema):
    member_id = fields.Integer(required=True, strict=True)
    community_id = fields.Integer(required=True, strict=True)
    year = _year_field(load_default=None, strict=True,
                       metadata={"description": "积分年度，默认今年；只能是今年或去年"})
    points = fields.Integer(required=True, strict=True, validate=[
        validate.Range(min=-SCORE_ITEM_MAX, max=SCORE_ITEM_MAX), _nonzero],
        metadata={"description": "加分为正，减分为负"})
    reason = Text(required=True, validate=validate.Length(min=1, max=REASON_MAX))


class ScoreItemListArgs(PageArgs):
    community_id = fields.Integer(required=True)
    year = _year_field(load_default=None)
    member_id = fields.Integer(load_default=None)


class ScoreItemSchema(Schema):
    id = fields.Integer()
    member_id = fields.Integer()
    community_id = fields.Integer()
    year = fields.Integer()
    points = fields.Integer()
    reason = fields.String()
    entered_by = fields.Function(lambda item: {"id": item.entered_by_id,
                                               "name": item.entered_by.nickname})
    created_at = fields.DateTime()


class StaffScoreItemSchema(ScoreItemSchema):
    member = fields.Function(lambda item: {"id": item.member_id, "name": item.member.nickname})


class GradeSchema(Schema):
    code = fields.String(metadata={"description": "excellent | qualified | basic | unqualified"})
    name = fields.String(metadata={"description": "优秀 / 合格 / 基本合格 / 不合格"})


class MyScoreArgs(PageArgs):
    """`cursor` and `limit` page the items."""

    year = _year_field(load_default=None, metadata={"description": "默认今年（上海时间）"})


class MyScoreSchema(Schema):
    year = fields.Integer()
    hours = fields.Decimal(as_string=True, metadata={"description": "已核实的服务时长"})
    times = fields.Integer()
    wishes = fields.Integer(metadata={"description": "作为认领人完成的微心愿"})
    items_points = fields.Integer(metadata={"description": "社区录入的加减分合计"})
    score = fields.Decimal(as_string=True)
    grade = fields.Nested(GradeSchema)
    weights = fields.Dict(keys=fields.String(), values=fields.Decimal(as_string=True),
                          metadata={"description": "hour：每小时得分，wish：每个微心愿得分"})
    thresholds = fields.Dict(keys=fields.String(), values=fields.Decimal(as_string=True),
                             metadata={"description": "各等级的最低分"})
    items = fields.Nested(page_of(ScoreItemSchema))


class PublicScoresArgs(PageArgs):
    community_id = fields.Integer(required=True)
    year = _year_field(load_default=None, metadata={"description": "默认今年"})
    quarter = fields.Integer(load_default=None, validate=validate.Range(min=1, max=4),
                             metadata={"description": "1–4，默认本季度"})


class PublicScoreItemSchema(Schema):
    rank = fields.Integer()
    name = fields.String()
    score = fields.Decimal(as_string=True)
    grade = fields.Nested(GradeSchema)


class PublicScoresSchema(Schema):
    community = fields.Dict()
    year = fields.Integer()
    quarter = fields.Integer()
    as_of = fields.DateTime(metadata={"description": "统计截至"})
    complete = fields.Boolean(metadata={"description": "该季度已结束"})
    members = fields.Integer(metadata={"description": "公示的党员人数"})
    items = fields.List(fields.Nested(PublicScoreItemSchema))
    next_cursor = fields.String(allow_none=True)
