"""An installed (not editable) paygate carries sql/ and static/ and works with no source tree around it."""

from __future__ import annotations

import configparser
import subprocess
import sys
import venv
import zipfile

import pytest

from .conftest import REPO, PaygateProcess, free_port, paygate_env


def test_setup_cfg_lists_every_package():
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    listed = set(parser["options"]["packages"].split())
    packages = {
        ".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "paygate").rglob("__init__.py")
    }
    assert packages <= listed, f"add {sorted(packages - listed)} to [options] packages in setup.cfg"


@pytest.mark.slow
async def test_wheel_installs_migrates_and_serves_without_the_source_tree(tmp_path, fresh_database, services):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
                   check=True, cwd=tmp_path, timeout=300, capture_output=True)
    (wheel,) = dist.glob("paygate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {str(path.relative_to(REPO)) for path in (REPO / "static").rglob("*") if path.is_file()}
    assert {"static/checkout.js", "static/dashboard/index.html", "static/dashboard/app.js"} <= shipped
    assert {"paygate/" + name for name in shipped | {"sql/0001_schema.sql"}} <= set(names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                   check=True, cwd=tmp_path, timeout=600, capture_output=True)

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = paygate_env(fresh_database, services[1])
    paygate = str(env_dir / "bin" / "paygate")
    located = subprocess.run([str(python), "-c", "from paygate.infra.resources import sql_dir; print(sql_dir())"],
                             cwd=workdir, env=env, capture_output=True, text=True, check=True)
    assert str(env_dir) in located.stdout  # the installed copy, not the repository's

    migrated = subprocess.run([paygate, "migrate"], cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr

    port = free_port()
    server = PaygateProcess([paygate, "serve", "--port", str(port)], env, port, tmp_path / "serve.log", cwd=workdir)
    try:
        await server.ready(timeout=30)
    finally:
        server.stop()
