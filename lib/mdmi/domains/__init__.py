"""Domain registry. A new domain implements :class:`mdmi.domains.base.Domain` and registers here."""
from __future__ import annotations

from ..errors import UsageError


def get_domain(name: str, cfg: dict):
    """The domain object for ``name`` configured by its config section ``cfg``."""
    if name == "sudoku":
        from .sudoku.domain import SudokuDomain
        return SudokuDomain(cfg)
    if name == "protein":
        from .protein.domain import ProteinDomain
        return ProteinDomain(cfg)
    raise UsageError(f"unknown domain {name!r}; known: sudoku, protein")
