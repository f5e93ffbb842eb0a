"""gradient_config: the key, the base URL, providers, settings and the common flags."""
from __future__ import annotations

import pytest

import gradient_models

from gradient_inference.core import errors as core_errors
from gradient_inference.core import providers as core_providers
from gradient_inference.core import settings as core_settings
from conftest import settings_from, parse_common as parse


# ---------------------------------------------------------------- key

@pytest.mark.parametrize("winner, present", [
    ("GRADIENT_API_KEY", ["GRADIENT_API_KEY", "GRADIENT_MODEL_ACCESS_KEY", "MODEL_ACCESS_KEY"]),
    ("GRADIENT_MODEL_ACCESS_KEY", ["GRADIENT_MODEL_ACCESS_KEY", "DIGITALOCEAN_INFERENCE_KEY"]),
    ("DIGITALOCEAN_INFERENCE_KEY", ["DIGITALOCEAN_INFERENCE_KEY", "MODEL_ACCESS_KEY"]),
    ("MODEL_ACCESS_KEY", ["MODEL_ACCESS_KEY"]),
])
def test_key_order_first_non_empty_variable_wins(winner, present):
    environ = {name: f"key-of-{name}" for name in present}
    environ["GRADIENT_API_KEY"] = environ.get("GRADIENT_API_KEY", "  ")  # blank does not count
    assert core_settings.resolve_api_key(core_providers.PROVIDERS["digitalocean"], environ) == f"key-of-{winner}"


def test_key_file_is_read_stripped_after_variables(isolated_env, capsys):
    path = isolated_env / ".config" / "gradient" / "api_key"
    path.parent.mkdir(parents=True)
    path.write_text("  sk-do-from-file\n")
    path.chmod(0o600)
    provider = core_providers.PROVIDERS["digitalocean"]
    assert core_settings.resolve_api_key(provider, {"HOME": str(isolated_env)}) == "sk-do-from-file"
    assert core_settings.resolve_api_key(provider, {"MODEL_ACCESS_KEY": "env-wins"}) == "env-wins"
    assert capsys.readouterr().err == ""


def test_key_file_variable_and_loose_permissions_warning(tmp_path, capsys):
    path = tmp_path / "key"
    path.write_text("sk-do-custom\n")
    path.chmod(0o644)
    key = core_settings.resolve_api_key(core_providers.PROVIDERS["digitalocean"], {"GRADIENT_API_KEY_FILE": str(path)})
    assert key == "sk-do-custom"
    err = capsys.readouterr().err
    assert "readable by group or others" in err and "chmod 600" in err
    assert "sk-do-custom" not in err


def test_vultr_key_file(isolated_env):
    path = isolated_env / ".config" / "vultr" / "api_key"
    path.parent.mkdir(parents=True)
    path.write_text("vultr-key")
    path.chmod(0o600)
    assert core_settings.resolve_api_key(core_providers.PROVIDERS["vultr"]) == "vultr-key"


def test_missing_key_is_a_config_error_naming_the_variable():
    with pytest.raises(core_errors.GradientError) as caught:
        settings_from(parse())
    assert caught.value.type == "config"
    assert "GRADIENT_API_KEY" in caught.value.message
    assert "Model access keys" in caught.value.hint


def test_loopback_base_url_needs_no_key():
    settings = settings_from(parse("--base-url", "http://127.0.0.1:8080/v1"))
    assert settings.api_key is None and settings.base_url == "http://127.0.0.1:8080/v1"


@pytest.mark.parametrize("provider, base_url, key_var, field", [
    ("digitalocean", "https://inference.do-ai.run/v1", "GRADIENT_API_KEY", "max_completion_tokens"),
    ("vultr", "https://api.vultrinference.com/v1", "VULTR_API_KEY", "max_tokens"),
    ("gitee", "https://ai.gitee.com/v1", "GITEE_AI_API_KEY", "max_tokens"),
    ("opendatasky", "http://server.opendatasky.com/v1/api/open-ai/ds", "OPENDATASKY_API_KEY", "max_tokens"),
])
def test_provider_presets(monkeypatch, capsys, provider, base_url, key_var, field):
    monkeypatch.setenv(key_var, "k")
    settings = settings_from(parse("--provider", provider))
    assert (settings.base_url, settings.api_key, settings.provider.max_tokens_field) == (base_url, "k", field)
    # opendatasky is plain http: the user is told the key travels unencrypted
    assert ("plain http" in capsys.readouterr().err) == base_url.startswith("http:")


def test_base_url_flag_beats_env_and_provider_preset(monkeypatch):
    monkeypatch.setenv("GRADIENT_BASE_URL", "http://127.0.0.1:1/v1")
    assert settings_from(parse()).base_url == "http://127.0.0.1:1/v1"
    assert settings_from(parse("--base-url", "http://localhost:2/v1/")).base_url == "http://localhost:2/v1"


def test_bad_base_url_env_is_a_config_error(monkeypatch):
    monkeypatch.setenv("GRADIENT_BASE_URL", "inference.do-ai.run/v1")
    with pytest.raises(core_errors.GradientError, match="not an http"):
        settings_from(parse())


def test_base_url_without_scheme_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        gradient_models.main(["--base-url", "localhost:8080/v1"])
    assert caught.value.code == 2
    assert "not an http(s) URL" in capsys.readouterr().err


def test_base_url_path_without_v1_warns(capsys):
    settings_from(parse("--base-url", "http://127.0.0.1:8080"))
    assert "does not end in /v1" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--timeout", "0"], ["--timeout", "nan"], ["--timeout", "abc"],
                                  ["--max-retries", "-1"], ["--provider", "nope"]])
def test_bad_common_flags_exit_2(argv):
    with pytest.raises(SystemExit) as caught:
        parse(*argv)
    assert caught.value.code == 2


def test_env_defaults_for_timeout_and_retries(monkeypatch):
    monkeypatch.setenv("GRADIENT_TIMEOUT", "7.5")
    monkeypatch.setenv("GRADIENT_MAX_RETRIES", "0")
    args = parse()
    assert (args.timeout, args.max_retries) == (7.5, 0)
    assert parse("--timeout", "3").timeout == 3.0


def test_image_scripts_default_timeout_is_their_own():
    assert parse(default_timeout=300).timeout == 300
