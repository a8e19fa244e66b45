"""The org tree: Street -> Community -> Grid and Compound (小区) -> Building (楼栋) -> Household.

A building belongs to one compound and one grid; grids can be larger, equal or smaller than
compounds. Households carry care tags (困难家庭 etc.), which are personal data.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import LabelledEnum, UTCDateTime, Versioned, str_enum, utcnow


class CareTag(LabelledEnum):
    HARDSHIP = ("hardship", "困难家庭")
    EMPTY_NEST = ("empty_nest", "空巢老人")
    LIVING_ALONE = ("living_alone", "独居老人")
    DISABLED = ("disabled", "残疾人")
    LEFT_BEHIND_CHILD = ("left_behind_child", "留守儿童")
    FLOATING = ("floating", "流动人口")
    SPECIAL = ("special", "特殊人群")
    PETITIONER = ("petitioner", "信访群众")


class Street(db.Model):
    __tablename__ = "streets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)


class Community(db.Model):
    __tablename__ = "communities"
    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(sa.ForeignKey("streets.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    street: Mapped[Street] = relationship()
    __table_args__ = (sa.UniqueConstraint("street_id", "name"),)


class Grid(Versioned, db.Model):
    __tablename__ = "grids"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    community: Mapped[Community] = relationship()
    __table_args__ = (sa.UniqueConstraint("community_id", "name"),)


class Compound(Versioned, db.Model):
    __tablename__ = "compounds"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    address: Mapped[Optional[str]] = mapped_column(sa.String(200))
    community: Mapped[Community] = relationship()
    buildings: Mapped[list["Building"]] = relationship(
        back_populates="compound", order_by="Building.id")
    __table_args__ = (sa.UniqueConstraint("community_id", "name"),)


class Building(Versioned, db.Model):
    __tablename__ = "buildings"
    id: Mapped[int] = mapped_column(primary_key=True)
    compound_id: Mapped[int] = mapped_column(sa.ForeignKey("compounds.id"), index=True)
    grid_id: Mapped[int] = mapped_column(sa.ForeignKey("grids.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(32))
    lat: Mapped[Optional[float]] = mapped_column(sa.Float)
    lng: Mapped[Optional[float]] = mapped_column(sa.Float)
    compound: Mapped[Compound] = relationship(back_populates="buildings")
    grid: Mapped[Grid] = relationship()
    __table_args__ = (sa.UniqueConstraint("compound_id", "name"),)


class Household(Versioned, db.Model):
    __tablename__ = "households"
    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(sa.ForeignKey("buildings.id"), index=True)
    unit: Mapped[str] = mapped_column(sa.String(16))
    room: Mapped[str] = mapped_column(sa.String(16))
    head_name: Mapped[Optional[str]] = mapped_column(sa.String(32))
    # The head's phone as the grid worker wrote it down (personal data: managing roles only).
    head_phone: Mapped[Optional[str]] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    building: Mapped[Building] = relationship()
    tags: Mapped[list["HouseholdTag"]] = relationship(
        cascade="all, delete-orphan", order_by="HouseholdTag.tag")
    __table_args__ = (sa.UniqueConstraint("building_id", "unit", "room"),)


class HouseholdTag(db.Model):
    """One care tag on a household; a row per tag so visits can query by tag."""

    __tablename__ = "household_tags"
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), primary_key=True)
    tag: Mapped[CareTag] = mapped_column(str_enum(CareTag, "care_tag"), primary_key=True,
                                         index=True)


class Department(db.Model):
    """A functional department (职能部门, e.g. 城管) that incidents can be escalated to."""

    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(sa.ForeignKey("streets.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    __table_args__ = (sa.UniqueConstraint("street_id", "name"),)


class NameVersion(db.Model):
    """One row: a counter that database triggers (migration 0111) bump whenever a name the
    lists show may have changed: a building's, a compound's or a department's name, an
    incident category's code or name, renamed, deleted or truncated, by whatever writes it
    (API, console, SQL). Lists read it in their own statement and keep those names in each
    process until it moves (app.services.names)."""

    __tablename__ = "name_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)
