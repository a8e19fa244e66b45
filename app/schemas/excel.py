"""Excel import over the API (the 办事指南 catalog): the query, the file, the report."""
from __future__ import annotations

from marshmallow import Schema, fields


class ImportArgs(Schema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "只检查，不写入"})
    community_id = fields.Integer(strict=True, load_default=None,
                                  metadata={"description": "默认：我工作的社区"})


class ImportFileSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class RowErrorSchema(Schema):
    row = fields.Integer(metadata={"description": "Excel 中的行号（表头为第 1 行）"})
    column = fields.String(metadata={"description": "列名（表头），或“整行”"})
    message = fields.String()


class ImportReportSchema(Schema):
    kind = fields.String()
    dry_run = fields.Boolean()
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    errors = fields.List(fields.Nested(RowErrorSchema))
