"""The package's layers (setup.cfg [importlinter]) hold, and the check notices when one is broken."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# lint-imports on the paygate package under argv[1]: the editable install's finder, which would find the
# repository's package whatever sys.path says, is set aside first.
RUNNER = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path.insert(0, sys.argv[1])
from importlinter.cli import lint_imports_command
lint_imports_command.main(["--config", sys.argv[2], "--no-cache"])
"""


def _lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """lint-imports with the repository's contracts, on the paygate package found under ``package_parent``."""
    return subprocess.run([sys.executable, "-c", RUNNER, str(package_parent), str(REPO / "setup.cfg")],
                          cwd=package_parent, capture_output=True, text=True, timeout=120)


def test_the_layers_hold():
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("http/handlers/payments.py", "import psycopg2", "Only storage speaks to Postgres"),
    ("core/states.py", "from ..http import app", "paygate.core is not allowed to import paygate.http"),
    ("worker/runner.py", "from ..http import middleware", "paygate.worker is not allowed to import paygate.http"),
])
def test_a_module_that_reaches_across_a_layer_breaks_the_check(tmp_path, module, line, broken):
    shutil.copytree(REPO / "paygate", tmp_path / "paygate", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "paygate" / module
    target.write_text(target.read_text() + f"\n{line}  # reaching across, on purpose\n")

    result = _lint_imports(tmp_path)

    assert result.returncode != 0
    assert broken in result.stdout, result.stdout


def test_every_command_module_imports_first():
    """No cycle through cli.py: each command module can be the first paygate module a process imports."""
    commands = sorted(p.stem for p in (REPO / "paygate" / "commands").glob("*.py") if p.stem != "__init__")
    for name in commands:
        result = subprocess.run([sys.executable, "-c", f"import paygate.commands.{name}"], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, f"paygate.commands.{name}: {result.stderr}"
