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
