"""The Dockerfile and docker-compose.yml, checked without Docker: they name real commands and real settings."""

from __future__ import annotations

import re
import shlex

import click
import pytest
import yaml
from click.testing import CliRunner

from paygate.cli import main
from paygate.infra import config as config_mod

from .conftest import MASTER_KEY, REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def paygate_invocations(command) -> list[list[str]]:
    """Every ``paygate ...`` in a compose command (a list, a string, or ``sh -c "a && b"``)."""
    if isinstance(command, list) and command[:2] == ["sh", "-c"]:
        command = command[2]
    if isinstance(command, str):
        return [shlex.split(part)[1:] for part in re.split(r"&&|;", command) if shlex.split(part)[:1] == ["paygate"]]
    return [command[1:]] if command and command[0] == "paygate" else []


def check_paygate_args(args: list[str]) -> None:
    """Parse ``args`` as the paygate command would, and stop at --help: raise if paygate would refuse them.

    click parses every option before it acts on --help, so an unknown subcommand or option still fails."""
    result = CliRunner().invoke(main, [*args, "--help"])
    if result.exit_code != 0:
        raise click.UsageError(f"paygate {' '.join(args)}: {result.output.strip().splitlines()[-1]}")


def test_compose_runs_postgres_16_redis_7_migrate_serve_and_worker():
    assert SERVICES["postgres"]["image"] == "postgres:16"
    assert SERVICES["redis"]["image"] == "redis:7"
    commands = {name: paygate_invocations(service.get("command")) for name, service in SERVICES.items()}
    subcommands = {name: [args[0] for args in found] for name, found in commands.items()}
    assert subcommands["migrate"] == ["migrate", "seed"]
    assert subcommands["api"] == ["serve"]
    assert subcommands["worker"] == ["worker"]
    for deps in (SERVICES["api"]["depends_on"], SERVICES["worker"]["depends_on"]):
        assert deps == {"migrate": {"condition": "service_completed_successfully"}}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_paygate_command_in_compose_parses(service):
    for args in paygate_invocations(SERVICES[service].get("command")):
        check_paygate_args(args)  # an unknown subcommand or option raises click.UsageError


def test_a_command_paygate_does_not_know_is_caught():
    with pytest.raises(click.UsageError):
        check_paygate_args(["serve", "--workers", "2"])
    with pytest.raises(click.UsageError):
        check_paygate_args(["migrat"])


@pytest.mark.parametrize("service", ["migrate", "api", "worker"])
def test_compose_settings_are_real_and_the_master_key_comes_from_the_environment(service):
    env = dict(SERVICES[service]["environment"])
    assert env["PAYGATE_SECURITY__MASTER_KEY"].startswith("${PAYGATE_MASTER_KEY:?")  # never a key in the file
    env["PAYGATE_SECURITY__MASTER_KEY"] = MASTER_KEY
    config = config_mod.load(environ=env)  # an unknown or invalid key raises ConfigError naming it
    assert config.database.url.startswith("postgresql://") and config.redis.url == "redis://redis:6379/0"


def test_the_image_is_python_3_11_slim_installs_paygate_and_runs_as_a_user():
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert re.search(r'^RUN pip install "\.\[fast\]"', text, re.M)
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0")
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M).group(1)
    check_paygate_args(yaml.safe_load(cmd)[1:])
