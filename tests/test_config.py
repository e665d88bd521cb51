"""Configuration: precedence, documentation and one clear line for every kind of bad config."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from paygate.cli import main
from paygate.infra.config import ConfigError, load
from paygate.infra.settings import SETTINGS, example_yaml

from .conftest import REPO

REQUIRED_ENV = {"PAYGATE_DATABASE__URL": "postgresql://u:p@127.0.0.1:5432/db",
                "PAYGATE_REDIS__URL": "redis://127.0.0.1:6379/0"}


def test_precedence_default_then_file_then_env_then_option(tmp_path):
    path = tmp_path / "paygate.yaml"
    path.write_text("server:\n  port: 9001\n  host: 0.0.0.0\nworker:\n  concurrency: 7\n")
    env = {**REQUIRED_ENV, "PAYGATE_SERVER__PORT": "9002"}

    config = load(path, environ=env, overrides={"server.host": "127.0.0.2"})

    assert config.database.max_size == 20  # default
    assert config.worker.concurrency == 7  # file over default
    assert config.server.port == 9002  # env over file
    assert config.server.host == "127.0.0.2"  # option over file
    assert config.get("server.port") == 9002


def test_config_file_from_paygate_config_variable(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("worker:\n  concurrency: 3\n")
    assert load(environ={**REQUIRED_ENV, "PAYGATE_CONFIG": str(path)}).worker.concurrency == 3


def test_role_defaults_sit_between_defaults_and_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("processor:\n  delay_max: 5\n")
    config = load(path, environ=REQUIRED_ENV, role_defaults={"processor.delay_min": 1.0, "processor.delay_max": 3.0})
    assert (config.processor.delay_min, config.processor.delay_max) == (1.0, 5.0)


BAD = [
    # (file text, environment, expected start of the one-line message)
    ("nope:\n  x: 1\n", {}, "nope: unknown section"),
    ("server:\n  colour: red\n", {}, "server.colour: unknown key"),
    ("", {"PAYGATE_SERVER__COLOUR": "red"}, "server.colour: unknown key (from environment PAYGATE_SERVER__COLOUR)"),
    ("server:\n  port: eighty\n", {}, "server.port: expected int, got 'eighty'"),
    ("", {"PAYGATE_SERVER__PORT": "eighty"}, "server.port: expected int, got 'eighty' (from env)"),
    ("server:\n  port: true\n", {}, "server.port: expected int"),
    ("worker:\n  concurrency: 0\n", {}, "worker.concurrency: must be at least 1"),
    ("logging:\n  format: xml\n", {}, "logging.format: must be one of text, json"),
    ("", {"PAYGATE_DATABASE__URL": "postgresql://u:secret@host:notaport/db"}, "database.url: unparsable URL"),
    ("", {"PAYGATE_REDIS__URL": "http://127.0.0.1:6379"}, "redis.url: URL scheme must be one of redis, rediss, unix"),
    ("database:\n  url: null\n", {"PAYGATE_DATABASE__URL": ""}, "database.url: required"),
    ("server: [1, 2]\n", {}, "server: expected a mapping of keys"),
    ("server:\n  port: [\n", {}, "config file"),
]


@pytest.mark.parametrize("text, env, message", BAD, ids=[m for _, _, m in BAD])
def test_bad_config_is_one_line_naming_the_key(tmp_path, text, env, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    environ = {**REQUIRED_ENV, **env}
    with pytest.raises(ConfigError) as caught:
        load(path, environ=environ)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)

    result = CliRunner().invoke(main, ["--config", str(path), "migrate"], env=environ)
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {caught.value}") and result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_missing_required_value_names_the_env_variable():
    result = CliRunner().invoke(main, ["migrate"], env={"PAYGATE_DATABASE__URL": "", "PAYGATE_REDIS__URL": ""})
    assert result.exit_code == 2
    assert "database.url: required; set it in the config file or as PAYGATE_DATABASE__URL" in result.output
    assert "or start paygate dev (make run)" in result.output  # the way to a working command beside make run


def test_passwords_are_masked_in_messages(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("database:\n  url: 'mysql://u:hunter2@host/db'\n")
    with pytest.raises(ConfigError) as caught:
        load(path, environ={"PAYGATE_REDIS__URL": "redis://127.0.0.1:6379/0"})
    assert "hunter2" not in str(caught.value)
    assert "***" in str(caught.value)


def test_example_file_documents_every_setting_and_is_current():
    text = (REPO / "config.example.yaml").read_text()
    assert text == example_yaml(), "regenerate config.example.yaml from paygate.infra.settings.example_yaml()"
    for setting in SETTINGS:
        section, key = setting.name.split(".")
        assert f"\n  {key}:" in text.split(f"\n{section}:\n", 1)[1], setting.name
        assert setting.help


def test_example_file_loads_as_valid_config(tmp_path):
    config = load(REPO / "config.example.yaml", environ=REQUIRED_ENV)
    assert config.server.port == 8000
