"""The names a list shows beside its rows (a building's, a compound's, a department's, an
incident category's code and name), kept in each process instead of looked up per row.

A list's statement reads `VERSION` (the one-row counter of `name_versions`, which database
triggers bump on every rename, delete or truncate of those tables: migration 0111) in the
same snapshot as its rows. `fill` then writes the names into the rows from the process's
cache when the cache has that version, and otherwise starts a new one. Ids the cache has
not seen (a building added since) are read in one query, and only those. So a page shows
names at least as new as its rows, whichever process serves it; the cost of a page is a
dictionary lookup per name instead of an index probe per name in PostgreSQL (about 0.1 ms
of a 20-row incident page's 0.35 ms).
"""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from app.extensions import db
from app.models import Building, Compound, Department, IncidentCategory, NameVersion

VERSION = (sa.select(NameVersion.__table__.c.version).where(NameVersion.__table__.c.id == 1)
           .scalar_subquery().label("names_version"))
# What a row's id names: (table, column).
BUILDING = (Building.__table__, "name")
COMPOUND = (Compound.__table__, "name")
DEPARTMENT = (Department.__table__, "name")
CATEGORY_CODE = (IncidentCategory.__table__, "code")
CATEGORY_NAME = (IncidentCategory.__table__, "name")


class _Cache:
    def __init__(self, version):
        self.version = version
        # (table, column) -> {id: value}; None names nothing (a row without a department).
        self.values: defaultdict[tuple, dict] = defaultdict(lambda: {None: None})


_cache = _Cache(None)


def looked_up(column: sa.ColumnElement, key: sa.ColumnElement, ref: sa.ColumnElement,
              label: str) -> sa.Label:
    """A name as a correlated scalar subquery: a name `fill` does not keep (a user's
    nickname, a household's head), or one a job reads. PostgreSQL plans a list query in
    0.1 ms this way, against 2 ms to search the join orders of five joins."""
    return sa.select(column).where(key == ref).scalar_subquery().label(label)


def looked_up_unless(condition: sa.ColumnElement, column: sa.ColumnElement,
                     key: sa.ColumnElement, ref: sa.ColumnElement, label: str) -> sa.Label:
    """`looked_up`, only where `condition` is false (NULL where it is true): inside a CASE,
    PostgreSQL runs the subquery only for the rows that need it."""
    return sa.case((condition, sa.null()),
                   else_=sa.select(column).where(key == ref).scalar_subquery()).label(label)


def fill(rows: list, fields: tuple[tuple[str, tuple, str], ...]) -> list[dict]:
    """`rows` (dicts, or mappings turned into dicts) with, for each (id key, source, label)
    of `fields`, `row[label]` = the source's value for `row[key]`. Every row carries
    `names_version` (`VERSION` in its select)."""
    global _cache
    if not rows:
        return []
    rows = [row if type(row) is dict else dict(row) for row in rows]
    cache = _cache
    if cache.version != rows[0]["names_version"]:
        cache = _cache = _Cache(rows[0]["names_version"])
    maps = [(key, cache.values[source], label) for key, source, label in fields]
    try:
        for row in rows:
            for key, values, label in maps:
                row[label] = values[row[key]]
    except KeyError:  # ids this process has not seen yet (or not since the version moved)
        _read_missing(cache, rows, fields)
        for row in rows:
            for key, values, label in maps:
                row[label] = values.get(row[key])  # None: gone since (it cannot be shown)
    return rows


def _read_missing(cache: _Cache, rows: list[dict], fields) -> None:
    """Read the ids of `rows` that `cache` lacks: one query per table."""
    wanted: dict[sa.Table, tuple[set, set]] = {}
    for key, (table, column), _ in fields:
        values = cache.values[(table, column)]
        ids, columns = wanted.setdefault(table, (set(), set()))
        columns.add(column)
        ids.update(row[key] for row in rows if row[key] not in values)
    for table, (ids, columns) in wanted.items():
        if not ids:
            continue
        names = sorted(columns)
        for found in db.session.execute(
                sa.select(table.c.id, *(table.c[name] for name in names))
                .where(table.c.id.in_(sorted(ids)))):
            for index, name in enumerate(names, 1):
                cache.values[(table, name)][found[0]] = found[index]
