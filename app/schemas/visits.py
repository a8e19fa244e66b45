"""六必访 schemas: logging a visit (with an optional wish or incident for the household),
the due list, a household's history, care tags and the rules. Care tags, rooms and visit
notes appear only here, in answers to the roles that manage the household."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.models import CareTag, VisitKind, VisitSubject
from app.models.visits import NOTE_MAX, PHOTOS_MAX
from app.schemas.common import AwareDateTime, PageArgs, Text, labelled
from app.schemas.incidents import IncidentCreateSchema
from app.schemas.uploads import signed_url
from app.schemas.wishes import WishCreateSchema
from app.services.visits import due

KINDS = [kind.value for kind in VisitKind]
TAGS = [tag.value for tag in CareTag]
SCOPES = ["mine", "grid", "compound"]


class VisitWishSchema(WishCreateSchema):
    """The wish a visit posts for the household (with its consent, recorded by the visit)."""

    class Meta:
        exclude = ("photo_ids", "household_id", "consent")


class VisitIncidentSchema(IncidentCreateSchema):
    """The 随手拍 a visit reports, at the household's building."""

    class Meta:
        exclude = ("photo_ids", "lat", "lng", "building_id", "anonymous")


class VisitCreateSchema(Schema):
    household_id = fields.Integer(strict=True, load_default=None)
    member_id = fields.Integer(strict=True, load_default=None,
                               metadata={"description": "流动党员一月一联：党员的用户 id"})
    kind = fields.String(required=True, validate=validate.OneOf(KINDS),
                         metadata={"description": "home 上门 / phone 电话 / video 视频"})
    situation = Text(required=True, multiline=True, validate=validate.Length(max=NOTE_MAX))
    needs = Text(load_default=None, multiline=True, validate=validate.Length(max=NOTE_MAX))
    problems = Text(load_default=None, multiline=True, validate=validate.Length(max=NOTE_MAX))
    photo_ids = fields.List(fields.Integer(strict=True), load_default=list,
                            validate=validate.Length(max=PHOTOS_MAX))
    visited_at = AwareDateTime(load_default=None, metadata={"description": "默认现在"})
    wish = fields.Nested(VisitWishSchema, load_default=None,
                         metadata={"description": "代该户发布的微心愿（已征得同意）"})
    incident = fields.Nested(VisitIncidentSchema, load_default=None,
                             metadata={"description": "代该户上报的随手拍（该户所在楼栋）"})


class DueArgs(PageArgs):
    scope = fields.String(load_default="mine", validate=validate.OneOf(SCOPES))
    grid_id = fields.Integer(load_default=None)
    compound_id = fields.Integer(load_default=None)


class HistoryArgs(PageArgs):
    household_id = fields.Integer(load_default=None)
    member_id = fields.Integer(load_default=None)


class CareTagsSchema(Schema):
    tags = fields.List(fields.String(validate=validate.OneOf(TAGS)), required=True,
                       validate=validate.Length(max=len(TAGS)))


class RuleUpdateSchema(Schema):
    every_days = fields.Integer(strict=True, load_default=None,
                                validate=validate.Range(min=1, max=366))
    active = fields.Boolean(load_default=None)


def _ref(row) -> dict | None:
    return None if row is None else {"id": row.id, "name": row.name}


def household_ref(household) -> dict | None:
    if household is None:
        return None
    building = household.building
    return {"id": household.id, "compound": _ref(building.compound), "building": _ref(building),
            "unit": household.unit, "room": household.room, "head_name": household.head_name}


def member_ref(member) -> dict | None:
    return None if member is None else {"id": member.id, "name": member.nickname}


def visit_item(visit) -> dict:
    return {"id": visit.id, "subject": labelled(visit.subject),
            "household": household_ref(visit.household),
            "member_id": visit.member_id, "kind": labelled(visit.kind),
            "situation": visit.situation, "needs": visit.needs, "problems": visit.problems,
            "photos": [{"id": i, "url": signed_url(i)} for i in visit.photo_ids or []],
            "visitor": {"id": visit.visitor.id, "name": visit.visitor.nickname},
            "visitor_role": labelled(visit.visitor_role), "wish_id": visit.wish_id,
            "incident_id": visit.incident_id, "visited_at": visit.visited_at,
            "created_at": visit.created_at}


def due_item(d, now) -> dict:
    """A `due.Due` as the list shows it (it carries its household's place and last visit)."""
    household = member = None
    if d.subject is VisitSubject.HOUSEHOLD:
        household = {"id": d.subject_id, **d.place}
    else:
        member = d.place
    last = d.last
    overdue_days = due.overdue_days(d, now)
    return {"key": d.key, "subject": labelled(d.subject), "household": household,
            "member": member, "care_tags": [labelled(t) for t in sorted(d.tags)],
            "every_days": d.every_days, "owed_by": labelled(d.owed_by), "due_at": d.due_at,
            "overdue": overdue_days > 0, "overdue_days": overdue_days,  # due.is_overdue
            "last_visit": None if last is None else {
                "id": last["id"], "visited_at": last["visited_at"],
                "kind": labelled(last["kind"]),
                "visitor": {"id": last["visitor_id"], "name": last["visitor"]}}}


class Labelled(Schema):
    code = fields.String()
    name = fields.String()


class VisitSchema(Schema):
    id = fields.Integer()
    subject = fields.Nested(Labelled)
    household = fields.Dict(allow_none=True)
    member_id = fields.Integer(allow_none=True)
    kind = fields.Nested(Labelled)
    situation = fields.String()
    needs = fields.String(allow_none=True)
    problems = fields.String(allow_none=True)
    photos = fields.List(fields.Dict())
    visitor = fields.Dict()
    visitor_role = fields.Nested(Labelled)
    wish_id = fields.Integer(allow_none=True)
    incident_id = fields.Integer(allow_none=True)
    visited_at = fields.DateTime()
    created_at = fields.DateTime()


class DueSchema(Schema):
    key = fields.String()
    subject = fields.Nested(Labelled)
    household = fields.Dict(allow_none=True)
    member = fields.Dict(allow_none=True)
    care_tags = fields.List(fields.Nested(Labelled))
    every_days = fields.Integer()
    owed_by = fields.Nested(Labelled)
    due_at = fields.DateTime()
    overdue = fields.Boolean()
    overdue_days = fields.Integer()
    last_visit = fields.Dict(allow_none=True)


class DuePageSchema(Schema):
    items = fields.List(fields.Nested(DueSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class CareTagsOutSchema(Schema):
    household_id = fields.Integer()
    tags = fields.List(fields.Nested(Labelled))


class RuleSchema(Schema):
    id = fields.Integer()
    subject = fields.Function(lambda r: labelled(r.subject))
    care_tag = fields.Function(lambda r: labelled(r.care_tag))
    every_days = fields.Integer()
    owed_by = fields.Function(lambda r: labelled(r.owed_by))
    active = fields.Boolean()
