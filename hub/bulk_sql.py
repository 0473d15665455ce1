"""Many rows per SQL statement, for the ingest writer's batches.

SQLite's ``executemany`` runs one step per row, and Python's sqlite3 lets go of the GIL
around every step. While the MQTT network thread was busy taking in a backlog, getting the
GIL back after each step was what a batch waited for: updating 667 devices took 477 ms, of
which 65 ms was work. One statement carrying many rows is one step.

SQLAlchemy compiles a statement with many-row VALUES anew on every execution (~18 ms for
256 rows), so each shape is compiled here once and run through the driver, with the
column types' own bind processing. A batch's last chunk is padded to one of five sizes by
repeating its last row (an UPDATE joins the same row twice with the same values; an insert
that skips duplicates skips it), so a few shapes serve every batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Table,
    bindparam,
    cast,
    column,
    insert,
    text,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite

MAX_ROWS = 256  # rows per statement: well under SQLite's 32,766 bound parameters
IN_CHUNK = 500  # ids per ``IN (...)`` of a read, for the same limit
# Statement sizes a chunk is padded to. Few, because compiling a new shape costs 5-40 ms
# (it showed in the broadcast worker's profile); padding costs SQLite next to nothing.
_SIZES = (1, 4, 16, 64, MAX_ROWS)


class EncodedJSON(str):
    """A JSON column's value serialised already (pydantic's ``model_dump_json`` is far
    quicker than the column type's ``json.dumps``); bound as it is."""


@dataclass(frozen=True, slots=True)
class _Prepared:
    sql: str
    names: tuple[str, ...]  # bound parameters, in the order a positional driver wants them
    positional: bool
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]

    def run(self, conn: Connection, params: dict[str, Any]) -> None:
        for name, process in self.processors:
            value = params[name]
            if type(value) is not EncodedJSON:
                params[name] = process(value)
        conn.exec_driver_sql(self.sql, tuple(params[n] for n in self.names) if self.positional else params)


def update_rows(
    conn: Connection,
    table: Table,
    keys: tuple[str, ...],
    rows: Sequence[dict[str, Any]],
    where: tuple[ColumnElement[bool], ...] = (),
    also: Mapping[str, Any] | None = None,
) -> None:
    """UPDATE ``table`` row by row from ``rows``, matched on ``keys`` (and ``where``).

    Every row has the same columns; those not in ``keys`` are set, and ``also`` (the same
    value for every row, e.g. ``updated_at``).
    """
    if not rows:
        return
    columns, constants = tuple(rows[0]), tuple(also or ())
    for chunk in _chunks(rows):
        prepared = _update(table, keys, columns, constants, len(chunk), where, conn.dialect)
        params = _params(chunk, columns)
        params.update({f"a_{c}": v for c, v in (also or {}).items()})
        prepared.run(conn, params)


def update_changed(
    conn: Connection,
    table: Table,
    changed: Mapping[Any, Mapping[str, Any]],
    also: Mapping[str, Any] | None = None,
) -> None:
    """UPDATE each row (by ``id``) with its own changed columns and ``also``.

    Rows that change the same columns share statements; a row with nothing to set is left.
    """
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for pk, columns in changed.items():
        if columns or also:
            groups.setdefault(tuple(sorted(columns)), []).append({"id": pk, **columns})
    for rows in groups.values():
        update_rows(conn, table, ("id",), rows, also=also)


def insert_rows_skipping_duplicates(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], also: Mapping[str, Any] | None = None
) -> None:
    """INSERT ``rows`` (all with the same columns, and ``also`` in every one).

    A row that hits a unique key is skipped.
    """
    if not rows:
        return
    columns, constants = tuple(rows[0]), tuple(also or ())
    for chunk in _chunks(rows):
        params = _params(chunk, columns)
        params.update({f"a_{c}": v for c, v in (also or {}).items()})
        _insert(table, columns, constants, len(chunk), conn.dialect).run(conn, params)


def _chunks(rows: Sequence[dict[str, Any]]) -> list[Sequence[dict[str, Any]]]:
    out = [rows[i : i + MAX_ROWS] for i in range(0, len(rows), MAX_ROWS)]
    last = out[-1]
    size = next(n for n in _SIZES if n >= len(last))
    out[-1] = [*last, *[last[-1]] * (size - len(last))]
    return out


def _params(chunk: Sequence[dict[str, Any]], columns: tuple[str, ...]) -> dict[str, Any]:
    return {f"p{i}_{c}": row[c] for i, row in enumerate(chunk) for c in columns}


def _row_binds(table: Table, columns: tuple[str, ...], i: int) -> list[Any]:
    return [bindparam(f"p{i}_{c}", type_=table.c[c].type) for c in columns]


def _prepare(stmt: Any, dialect: Dialect) -> _Prepared:
    compiled = stmt.compile(dialect=dialect)
    # A column filled in by SQLAlchemy at execution (an ``onupdate``) would be left unset here.
    prefetch = (*compiled.insert_prefetch, *compiled.update_prefetch)
    missing = sorted({getattr(c, "original", c).key for c in prefetch})  # one per row of a many-row INSERT
    if missing:
        raise ValueError(f"give {missing} explicitly: they are filled in only by SQLAlchemy's execution")
    processors = []
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((name, process))
    names = tuple(compiled.positiontup or ())
    return _Prepared(compiled.string, names, dialect.positional, tuple(processors))


@lru_cache(maxsize=512)
def _update(
    table: Table,
    keys: tuple[str, ...],
    columns: tuple[str, ...],
    constants: tuple[str, ...],
    n: int,
    where: tuple[ColumnElement[bool], ...],
    dialect: Dialect,
) -> _Prepared:
    rows = values(*(column(c, table.c[c].type) for c in columns), name="v").data(
        [tuple(_row_binds(table, columns, i)) for i in range(n)]
    )
    v = rows.cte("v")  # WITH v(...) AS (VALUES ...): SQLite takes no column names after AS v
    # PostgreSQL types a VALUES column from its values: one that is NULL in every row is text,
    # which it will not assign to a number column. Said explicitly, any type takes a NULL.
    typed = dialect.name == "postgresql"
    sets: dict[Any, Any] = {
        table.c[c]: cast(v.c[c], table.c[c].type) if typed else v.c[c] for c in columns if c not in keys
    }
    sets.update({table.c[c]: bindparam(f"a_{c}", type_=table.c[c].type) for c in constants})
    # Conditions written out with their values: an IN (...) list is otherwise expanded only
    # by SQLAlchemy's execution. Each in parentheses: text() loses an OR's grouping.
    fixed = [text(f"({w.compile(dialect=dialect, compile_kwargs={'literal_binds': True})})") for w in where]
    stmt = table.update().where(*(table.c[k] == v.c[k] for k in keys), *fixed).values(sets)
    return _prepare(stmt, dialect)


@lru_cache(maxsize=256)
def _insert(
    table: Table, columns: tuple[str, ...], constants: tuple[str, ...], n: int, dialect: Dialect
) -> _Prepared:
    shared = {c: bindparam(f"a_{c}", type_=table.c[c].type) for c in constants}
    many = [{**dict(zip(columns, _row_binds(table, columns, i), strict=True)), **shared} for i in range(n)]
    stmt: Any
    if dialect.name == "sqlite":
        stmt = sqlite.insert(table).values(many).on_conflict_do_nothing()
    elif dialect.name == "postgresql":
        stmt = postgresql.insert(table).values(many).on_conflict_do_nothing()
    else:  # no portable "skip duplicates": a duplicate fails the whole batch
        stmt = insert(table).values(many)
    return _prepare(stmt, dialect)
