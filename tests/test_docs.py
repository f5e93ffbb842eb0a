"""README.md, SKILL.md and the scripts stay in step; SKILL.md stays a valid Agent Skill."""
from __future__ import annotations

import importlib
import re
import shutil

import pytest
import strictyaml
from skills_ref.validator import validate

from gradient_inference.core import providers as core_providers
from conftest import COMMANDS as COMMAND_MODULES, ROOT, SCRIPTS

REFERENCES = sorted((ROOT / "references").glob("*.md"))
DOCS = {"README.md": (ROOT / "README.md").read_text(), "SKILL.md": (ROOT / "SKILL.md").read_text(),
        **{f"references/{path.name}": path.read_text() for path in REFERENCES}}
SKILL_TEXT = "\n".join(text for name, text in DOCS.items() if name != "README.md")  # what an agent can read
LINK = re.compile(r"\]\(([^)#\s]+)\)")
COMMANDS = {name: name for name in COMMAND_MODULES}
COMMANDS.update({name.replace("_", "-"): name for name in list(COMMANDS)})
INVOCATION = re.compile(r"(?<![\w/-])(?:scripts/)?(gradient[_-][a-z]+)(?:\.py)?(?![\w.-])")
PIPELINE_END = re.compile(r"\|\||[|;&<>)]|\$\(")
PROJECT_NAMES = {"gradient_inference", "gradient-inference"}
STANDARD_VARIABLES = {"COLUMNS", "XDG_DATA_HOME"}  # the terminal's and the XDG spec's own; not ours to document


def options_of(module_name: str) -> set:
    """Every --flag the script's --help shows, subcommands included."""
    parser = importlib.import_module(module_name).build_parser()
    found, parsers = set(), [parser]
    while parsers:
        current = parsers.pop()
        for action in current._actions:
            found.update(o for o in action.option_strings if o.startswith("--"))
            parsers.extend(getattr(action, "choices", None).values() if isinstance(
                getattr(action, "choices", None), dict) else [])
    return found


def invocations(text: str):
    """(script, the flags written after it on the same line, up to a pipe or redirection)."""
    for line in text.splitlines():
        for match in INVOCATION.finditer(line):
            rest = PIPELINE_END.split(line[match.end():], maxsplit=1)[0]
            yield match.group(1), set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", rest))


def environment_variables() -> set:
    names = set()
    for path in SCRIPTS.rglob("*.py"):
        source = path.read_text()
        names.update(re.findall(r'env_default\("([A-Z0-9_]+)"', source))
        names.update(re.findall(r'environ(?:\.get)?[\(\[]"([A-Z0-9_]+)"', source))
    for provider in core_providers.PROVIDERS.values():
        names.update(provider.key_vars)
        names.update([provider.key_file_var] if provider.key_file_var else [])
    return names - STANDARD_VARIABLES


def frontmatter() -> tuple:
    _, head, body = DOCS["SKILL.md"].split("---\n", 2)
    return head, body


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_every_script_named_exists(doc):
    named = {name for name, _ in invocations(DOCS[doc])} - PROJECT_NAMES
    assert named, "the docs name no script at all"
    existing = set(COMMANDS) | {path.stem for path in SCRIPTS.glob("*.py")}
    assert named <= existing, f"{doc} names scripts that do not exist: {sorted(named - existing)}"


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_every_flag_shown_exists_in_that_scripts_help(doc):
    options = {name: options_of(module) for name, module in COMMANDS.items()}
    missing = sorted({(name, flag) for name, flags in invocations(DOCS[doc]) if name in COMMANDS
                      for flag in flags if flag not in options[name] | {"--help"}})
    assert not missing, f"{doc} shows flags the scripts do not have: {missing}"


@pytest.mark.parametrize("doc", ["README.md", "the skill (SKILL.md and references/)"])
def test_every_environment_variable_is_documented(doc):
    found = environment_variables()
    assert {"GRADIENT_API_KEY", "GRADIENT_PRICING_CACHE", "GRADIENT_TIMEOUT"} <= found  # the scan works
    text = DOCS[doc] if doc in DOCS else SKILL_TEXT
    undocumented = sorted(name for name in found if name not in text)
    assert not undocumented, f"{doc} does not document {undocumented}"


def test_every_environment_variable_has_its_row_in_the_reference():
    table = DOCS["references/environment.md"]
    missing = sorted(name for name in environment_variables() if f"`{name}`" not in table)
    assert not missing, f"references/environment.md has no row for {missing}"


def test_console_commands_match_the_scripts():
    pyproject = (ROOT / "pyproject.toml").read_text()
    for module in set(COMMANDS.values()):
        assert f'{module.replace("_", "-")} = "{module}:main"' in pyproject
        assert f'"{module}"' in pyproject  # installed as a top-level module


def copied_skill(tmp_path):
    """The skill as it is installed: SKILL.md, references/ and scripts/ in a folder of its name."""
    folder = tmp_path / "gradient-inference"  # a skill's folder carries its name
    folder.mkdir()
    shutil.copy(ROOT / "SKILL.md", folder / "SKILL.md")
    shutil.copytree(ROOT / "references", folder / "references")
    shutil.copytree(SCRIPTS, folder / "scripts", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return folder


def broken_links(folder) -> list:
    """Relative links in SKILL.md and references/ that name no file of the folder."""
    broken = []
    for path in [folder / "SKILL.md", *sorted((folder / "references").glob("*.md"))]:
        for target in LINK.findall(path.read_text()):
            if "://" not in target and not (path.parent / target).resolve().is_file():
                broken.append(f"{path.relative_to(folder)} -> {target}")
    return broken


def test_a_copied_skill_folder_passes_the_validator_and_every_link_resolves(tmp_path):
    folder = copied_skill(tmp_path)
    assert validate(folder) == []
    assert broken_links(folder) == []
    linked = set(LINK.findall(DOCS["SKILL.md"]))
    assert {f"references/{path.name}" for path in REFERENCES} <= linked, "a reference file SKILL.md never links"
    assert {"references/json-shapes.md", "references/troubleshooting.md", "references/environment.md",
            "references/cron.md"} <= linked


def test_the_link_check_sees_a_broken_link(tmp_path):
    folder = copied_skill(tmp_path)
    (folder / "references" / "cron.md").unlink()
    assert broken_links(folder) and all("cron.md" in link for link in broken_links(folder))


def test_skill_body_is_short_and_says_what_agents_stumbled_on():
    body = frontmatter()[1]
    assert len(body.splitlines()) <= 250
    for said in ("--concurrency 16", "--query", "--pairs", "unpriced_calls", "--max-tokens",
                 "largest answer", "DIGITALOCEAN_ACCESS_TOKEN", "--tool-result", "--messages-api",
                 "--estimate 20000 1000 --batch", "references/cron.md"):
        assert said in body, said
    cron = DOCS["references/cron.md"]
    assert "virtual environment" in cron and "uv run" in cron and "ModuleNotFoundError" in cron
    assert not re.search(r"^\S.*\s/usr/bin/python3 ", cron, re.M), "a crontab line on the system python"


def test_skill_frontmatter_follows_anthropic_and_openclaw_rules():
    head, body = frontmatter()
    data = strictyaml.load(head).data  # strictyaml refuses flow style ([...] and {...})
    assert set(data) <= {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}
    assert not re.search(r"[\[\]{}]", head)
    assert data["name"] == "gradient-inference"
    description = data["description"]
    assert len(description) < 1024 and "<" not in description and ">" not in description
    for word in ("DigitalOcean", "Gradient", "serverless inference", "models", "prices", "chat",
                 "image generation"):
        assert word.lower() in description.lower(), word
    openclaw = data["metadata"]["openclaw"]
    assert openclaw["primaryEnv"] == "GRADIENT_API_KEY"
    assert "GRADIENT_API_KEY" in openclaw["requires"]["env"] and "python3" in openclaw["requires"]["anyBins"]
    assert any(entry["kind"] == "uv" and entry["package"] for entry in openclaw["install"])
    declared = {entry["name"] for entry in openclaw["envVars"]}
    assert environment_variables() - {"GRADIENT_API_KEY"} <= declared
    assert len(body.splitlines()) < 500


def test_readme_opens_with_the_two_quick_start_commands():
    first_block = DOCS["README.md"].split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert first_block == ["python3 -m pip install -e '.[test]' && gradient-pricing --model gpt-oss",
                           "python3 -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m pip install -e '.[test]'" in ci and "python3 -m pytest" in ci


def test_the_drift_checks_catch_drift():
    """The checks above would fail: an unknown flag and an unknown script are seen."""
    text = "gradient_chat.py --prompt hi --frobnicate | jq .\npython3 scripts/gradient_teleport.py --x"
    found = dict(invocations(text))
    assert found["gradient_chat"] == {"--prompt", "--frobnicate"}
    assert "--frobnicate" not in options_of("gradient_chat")
    assert "gradient_teleport" in found and "gradient_teleport" not in COMMANDS


@pytest.mark.parametrize("doc", [name for name in DOCS if name != "README.md"])
def test_skill_names_every_script_by_its_path_in_prose_too(doc):
    """Agents run what they read: a bare gradient_x.py in the skill is a command that fails."""
    bare = re.findall(r"(?<!scripts/)\bgradient_[a-z]+\.py", DOCS[doc])
    assert not bare, f"{doc} names scripts without scripts/: {sorted(set(bare))}"
