"""Where the sql/ and static/ folders are, in a source tree and in an installed wheel."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def asset_dir(name: str) -> Path:
    """``paygate/<name>`` in an installed wheel, ``<repo>/<name>`` in a source tree (editable install)."""
    here = Path(__file__).resolve().parent.parent  # the paygate package
    for candidate in (here / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"paygate's {name}/ folder is missing from {here} and {here.parent}")


def sql_dir() -> Path:
    return asset_dir("sql")


def static_dir() -> Path:
    return asset_dir("static")
