"""The names lists show (app.services.names): kept in the process, and never older than the
page they are shown on, whoever renamed what (the API, or SQL from another process)."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from tests.helpers import counting_queries, in_app


def version(app) -> int:
    return in_app(app, lambda: db.session.scalar(sa.text(
        "SELECT version FROM name_versions WHERE id = 1")))


def listed(client, people, who="demo-grid-worker") -> dict:
    items = client.get("/api/v1/incidents?scope=assigned&limit=100",
                       headers=people[who]).get_json()["items"]
    assert items
    return items[0]


def elsewhere(app, sql: str, **params) -> None:
    """A write through a connection of its own, as another process or psql makes it."""
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(sa.text(sql), params)


def test_a_rename_by_sql_shows_on_the_next_page(app, client, people, report):
    filed = report()
    item = listed(client, people)
    assert item["building"]["name"] == "1号楼" and item["compound"]["name"] == "虹桥小区"
    assert item["category"] == {"code": "environment", "name": "环境卫生"}
    with counting_queries(app) as warm:
        assert listed(client, people) == item
    assert len(warm) == 2 and not any(" IN (" in statement for statement in warm)  # cached
    before = version(app)
    elsewhere(app, "UPDATE buildings SET name = :name WHERE id = :id",
              name="一号楼", id=filed["building"]["id"])
    elsewhere(app, "UPDATE compounds SET name = :name WHERE id = :id",
              name="虹桥新村", id=filed["compound"]["id"])
    assert version(app) == before + 2  # the triggers
    renamed = listed(client, people)
    assert renamed["building"]["name"] == "一号楼" and renamed["compound"]["name"] == "虹桥新村"
    detail = client.get(f"/api/v1/incidents/{filed['id']}",
                        headers=people["demo-grid-worker"]).get_json()
    assert detail["building"]["name"] == "一号楼"  # the detail reads them the same way


def test_a_category_renamed_through_the_api_shows_at_once(client, people, report):
    report()
    assert listed(client, people)["category"]["name"] == "环境卫生"
    changed = client.put("/api/v1/incident-categories/environment",
                         headers=people["demo-admin"], json={"name": "环境整治"})
    assert changed.status_code == 200, changed.get_json()
    assert listed(client, people)["category"] == {"code": "environment", "name": "环境整治"}
    mine = client.get("/api/v1/incidents?scope=mine", headers=people["demo-resident"])
    assert mine.get_json()["items"][0]["category"]["name"] == "环境整治"


def test_a_building_added_later_is_read_once_as_a_miss(app, client, world, people, report):
    report()
    listed(client, people)  # the cache now has this compound's names
    before = version(app)
    compound = world["compounds"]["虹桥小区"]
    elsewhere(app, "INSERT INTO buildings (compound_id, grid_id, name, version) "
                   "SELECT compound_id, grid_id, '9号楼', 1 FROM buildings WHERE id = :id",
              id=world["buildings"][("虹桥小区", "1号楼")])
    assert version(app) == before  # an insert changes no name anyone has seen
    new = in_app(app, lambda: db.session.scalar(sa.text(
        "SELECT id FROM buildings WHERE name = '9号楼' AND compound_id = :c"), {"c": compound}))
    with counting_queries(app) as queries:  # the report's answer shows it first
        report(building_id=new)
        item = listed(client, people)
    assert item["building"] == {"id": new, "name": "9号楼"}
    reads = [s for s in queries if "buildings.id IN (" in s]
    assert len(reads) == 1 and reads[0].count(",") == 1  # once, that building only
    assert reads[0].startswith("SELECT buildings.id, buildings.name \nFROM buildings")
    with counting_queries(app) as again:
        assert listed(client, people) == item
    assert len(again) == 2  # the token, the page


def test_deleting_a_named_row_moves_the_version(app, world):
    before = version(app)
    elsewhere(app, "INSERT INTO departments (street_id, name) "
                   "SELECT street_id, '临时部门' FROM departments LIMIT 1")
    elsewhere(app, "DELETE FROM departments WHERE name = '临时部门'")
    assert version(app) == before + 1  # the delete, not the insert


def test_the_suites_clean_up_moves_the_version_as_it_empties_the_named_tables(app, categories):
    """What every later test relies on: ids restart after the clean-up, so the names kept
    for them must be dropped. PostgreSQL's clean-up is a TRUNCATE, SQLite's a DELETE."""
    before = version(app)
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
    elsewhere(app, "TRUNCATE incident_categories CASCADE" if postgres
              else "DELETE FROM incident_categories")
    assert version(app) > before
