"""What a store's mixins call on the store they are mixed into, declared for the type checker.

PostgresStore and SupabaseStore are assembled from one mixin per concern (``_pg_keys.py``,
``_supabase_sync.py``...). Each mixin subclasses the host of its store, so mypy checks the
mixin's calls against these signatures and the store's real helpers against them too. The
declarations exist only while type checking: at run time the store's own methods are the only
ones, and these classes add nothing to the MRO but their names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeAlias

import psycopg
from psycopg import sql

Row: TypeAlias = dict[str, Any]
Query: TypeAlias = str | bytes | sql.SQL | sql.Composed  # what Connection.execute takes
Params: TypeAlias = Sequence[Any] | Mapping[str, Any]
Connection: TypeAlias = psycopg.Connection[Row]  # the pool's connections use dict_row


class PostgresHost:
    """PostgresStore's connection helpers (``postgres.py``)."""

    if TYPE_CHECKING:
        def _conn(self, what: str) -> AbstractContextManager[Connection]: ...
        def _one(self, what: str, sql: Query, params: Params = ()) -> Row | None: ...
        def _all(self, what: str, sql: Query, params: Params = ()) -> list[Row]: ...
        def _count(self, what: str, sql: Query, params: Params = ()) -> int: ...


class SupabaseHost:
    """SupabaseStore's request helpers (``supabase.py``); query builders are postgrest's (untyped)."""

    if TYPE_CHECKING:
        def table(self, name: str) -> Any: ...
        def rpc(self, fn: str, args: dict[str, Any]) -> Any: ...
        def _read(self, what: str, table: str, builder: Any) -> list[Row]: ...
        def _read_all(self, what: str, table: str, build: Callable[[], Any]) -> list[Row]: ...
        def _call(self, what: str, fn: str, args: dict[str, Any]) -> Any: ...
