"""The README is a newcomer's first ten minutes: what it points at must be in the clone they have."""

from __future__ import annotations

import re

from .conftest import REPO

README = (REPO / "README.md").read_text()


def test_the_readme_points_only_inside_the_repository():
    assert "../" not in README
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not target.startswith(("http://", "https://")):
            assert (REPO / target).exists(), target


def test_the_readme_shows_how_to_reach_the_paygate_command():
    assert "source .venv/bin/activate" in README
    assert "paygate webhooks listen" in README
