"""Column builders: the live schema (:mod:`monitor.store.schema`) and the migrations
(``monitor/store/migrations/versions``) describe their tables with these.

Most columns of the store are NOT NULL text or integers, many tables in a row, so a
table lists them by type: ``*required(Text, "source", "rule_id")``. A builder makes
new :class:`~sqlalchemy.Column` objects at each call (a column belongs to one table).

The migrations are history: what a builder here produces must never change, or an
applied migration would describe a schema no database has. A new need is a new builder.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Integer
from sqlalchemy.types import TypeEngine

#: Row ids: 64-bit on PostgreSQL, SQLite's INTEGER PRIMARY KEY (the rowid) on SQLite.
RowId = BigInteger().with_variant(Integer(), "sqlite")

#: A column type, as a class (``Text``) or an instance (:data:`RowId`).
ColumnType = type[TypeEngine[Any]] | TypeEngine[Any]


def row_id() -> Column[Any]:
    """``id``, the primary key numbered in insertion order (with the table's
    ``sqlite_autoincrement=True``, never reused on SQLite either)."""
    return Column("id", RowId, primary_key=True, autoincrement=True)


def keys(type_: ColumnType, *names: str) -> list[Column[Any]]:
    """Primary-key columns of one type, in order (several make a composite key)."""
    return [Column(name, type_, primary_key=True) for name in names]


def required(type_: ColumnType, *names: str) -> list[Column[Any]]:
    """NOT NULL columns of one type, in order."""
    return [Column(name, type_, nullable=False) for name in names]


def optional(type_: ColumnType, *names: str) -> list[Column[Any]]:
    """Nullable columns of one type, in order."""
    return [Column(name, type_) for name in names]
