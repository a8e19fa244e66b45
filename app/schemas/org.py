from __future__ import annotations

from marshmallow import Schema, fields


class BuildingSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    compound_id = fields.Integer()
    grid_id = fields.Integer()


class CompoundRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class CompoundSchema(CompoundRefSchema):
    community_id = fields.Integer()
    address = fields.String(allow_none=True)
    buildings = fields.List(fields.Nested(BuildingSchema))


class DepartmentSchema(Schema):
    """A department (职能部门) to escalate an incident to; dumped from a plain row."""

    id = fields.Integer()
    name = fields.String()
    street = fields.Function(lambda r: {"id": r["street_id"], "name": r["street_name"]},
                             metadata={"description": "所属街道 {id, name}"})


class GridWorkerSchema(Schema):
    """A grid worker to reassign an incident to (`assignee_id` is `id`); a plain row."""

    id = fields.Integer(metadata={"description": "用户 id（reassign 的 assignee_id）"})
    nickname = fields.String()
    grid = fields.Function(lambda r: {"id": r["grid_id"], "name": r["grid_name"]},
                           metadata={"description": "网格 {id, name}"})
    in_compound = fields.Boolean(metadata={"description": "该网格是否包含本小区的楼栋"})
