"""Both stores satisfy the :class:`~.base.Store` protocol: checked by mypy, not at run time.

CI runs ``mypy`` (strict, ``pyproject.toml``) over pims_sync/; a store method whose name,
parameters or return type drift from the protocol makes the assignment below a type error
that names the method. Nothing imports this module; it holds no run-time behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Store
    from .postgres import PostgresStore
    from .supabase import SupabaseStore


def _conforms(postgres: PostgresStore, supabase: SupabaseStore) -> tuple[Store, Store]:
    """Type-checked only: each store is accepted where a Store is expected."""
    return postgres, supabase
