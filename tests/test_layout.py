"""The layout rules: scripts/ holds the eight commands, the library is one package beside them in
areas that import one way, each rule has one owner, and a copied skill folder runs as it is."""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import COMMANDS, ROOT, SCRIPTS

PACKAGE = SCRIPTS / "gradient_inference"
# An area imports only areas after it in this order (chat and media share a rank: neither imports the other).
AREAS = {"batch": 0, "chat": 1, "media": 1, "models": 2, "ledger": 3, "api": 4, "core": 5}
LAZY = {"requests", "urllib3", "bs4", "sqlite3", "tempfile", "ipaddress", "socket", "urllib", "random", "email",
        "datetime", "concurrent", "threading"}  # requests with its urllib3;
# tempfile brings shutil and random; ipaddress, socket and urllib.parse only where a URL is judged;
# random (jitter), email.utils with datetime (HTTP dates) and concurrent.futures (catalog cards) where needed;
# threading where threads share a lock (a batch's router candidates), never on the pricing command's path
OPTIONAL = {"jsonschema"}
MAX_MODULE_LINES, MAX_COMMAND_LINES = 350, 150
MODULES = sorted(path for path in PACKAGE.rglob("*.py"))


def name_of(path) -> str:
    return ".".join(path.relative_to(SCRIPTS).with_suffix("").parts).removesuffix(".__init__")


def area_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in AREAS) else None


def imports(path) -> list:
    """(module imported, at the top of the module or not) for every import of a module."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = node.module
            found += [(f"{base}.{alias.name}" if f"{base}.{alias.name}".replace(".", "/") and
                       (SCRIPTS / f"{base}.{alias.name}".replace(".", "/")).with_suffix(".py").exists() else base,
                       id(node) in top) for alias in node.names]
    return found


def ours(path) -> set:
    return {name for name, _ in imports(path) if name.startswith("gradient_inference.")}


@pytest.mark.parametrize("command", COMMANDS)
def test_scripts_holds_the_eight_commands_and_the_package(command):
    assert sorted(p.stem for p in SCRIPTS.glob("*.py")) == COMMANDS
    assert {p.name for p in SCRIPTS.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))
            and not p.name.endswith(".egg-info")} == {"gradient_inference"}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_is_its_help_its_parser_and_one_deferred_import_of_its_run_module(command):
    path = SCRIPTS / f"{command}.py"
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_COMMAND_LINES, f"{command}.py is over {MAX_COMMAND_LINES} lines"
    assert "examples:" in ast.get_docstring(ast.parse(text)), f"{command}.py has no examples in its help"
    deferred = [name for name, top in imports(path) if not top]
    assert len(deferred) == 1 and ".run_" in deferred[0], f"{command}.py defers {deferred}"
    at_top = {name for name, top in imports(path) if top and name.startswith("gradient_inference.")}
    assert all(name.startswith("gradient_inference.core") or name == "gradient_inference" for name in at_top), \
        f"{command}.py loads more than core before parsing: {sorted(at_top)}"
    assert not any(name in COMMANDS for name, _ in imports(path)), f"{command}.py imports another command"


@pytest.mark.parametrize("path", MODULES, ids=name_of)
def test_areas_import_one_way(path):
    module = name_of(path)
    for imported in ours(path):
        if area_of(imported) is None or area_of(imported) == area_of(module) or area_of(module) is None:
            continue
        assert AREAS[area_of(imported)] > AREAS[area_of(module)], f"{module} imports {imported}, not after it"


def test_no_import_cycles():
    graph = {name_of(path): {i for i in ours(path) if i != "gradient_inference"} for path in MODULES}
    state = {}

    def visit(node, trail):
        if state.get(node) == "open":
            raise AssertionError("import cycle: " + " -> ".join(trail + [node]))
        if state.get(node) == "done":
            return
        state[node] = "open"
        for following in graph.get(node, ()):
            visit(following, trail + [node])
        state[node] = "done"

    for node in graph:
        visit(node, [])


@pytest.mark.parametrize("path", MODULES, ids=name_of)
def test_imports_stand_at_the_top_but_for_the_slow_third_party_ones(path):
    late = {name.split(".")[0] for name, top in imports(path) if not top}
    assert late <= LAZY | OPTIONAL, f"{name_of(path)} imports {sorted(late - LAZY - OPTIONAL)} inside a function"


@pytest.mark.parametrize("path", MODULES, ids=name_of)
def test_the_namespace_stops_at_each_run_module(path):
    """Only a command's run module (run_*.py) takes parsed flags; core.cli only builds parsers."""
    tree = ast.parse(path.read_text())
    if path.stem.startswith("run_"):
        return
    takes = [node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
             and any(arg.arg in ("args", "defaults", "namespace") for arg in node.args.args + node.args.kwonlyargs)]
    assert not takes, f"{name_of(path)}: {takes} take a Namespace"
    assert "Namespace" not in path.read_text(), f"{name_of(path)} names argparse.Namespace"
    if path != PACKAGE / "core" / "cli.py":
        assert "argparse" not in {name for name, _ in imports(path)}, f"{name_of(path)} imports argparse"


@pytest.mark.parametrize("path", MODULES, ids=name_of)
def test_modules_are_small_and_say_what_belongs_in_them(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{name_of(path)} is over {MAX_MODULE_LINES} lines"
    docstring = ast.get_docstring(ast.parse(text))
    assert docstring and len(docstring.split()) >= 8, f"{name_of(path)} says nothing of what belongs in it"
    if path.name != "__init__.py":
        assert "Belongs here" in docstring, f"{name_of(path)} does not say what belongs in it"


def code_lines(path) -> list:
    """(line number, normalised text) of the lines that carry code: no blanks, comments,
    imports, docstrings or lone punctuation; white space folded."""
    text = path.read_text()
    skip = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            skip.update(range(body[0].lineno, body[0].end_lineno + 1))
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = " ".join(line.split())
        if number in skip or not stripped or stripped.startswith(("#", "import ", "from ")) or \
                re.fullmatch(r"[\[\](){},:]+", stripped):
            continue
        found.append((number, stripped))
    return found


def repeated_blocks(paths, window: int = 6) -> list:
    """Places where `window` consecutive code lines stand again (in another file, or apart)."""
    seen, repeats = {}, []
    for path in paths:
        lines = code_lines(path)
        for start in range(len(lines) - window + 1):
            block = tuple(text for _, text in lines[start:start + window])
            where = (str(path), lines[start][0])
            if block in seen and (seen[block][0] != str(path) or where[1] - seen[block][1] >= window):
                repeats.append(f"{seen[block][0]}:{seen[block][1]} ~ {path}:{where[1]}")
            seen.setdefault(block, where)
    return repeats


def test_no_block_of_six_lines_is_repeated():
    repeats = repeated_blocks(sorted(SCRIPTS.rglob("*.py")))
    assert not repeats, "blocks of six lines stand in two places: " + ", ".join(repeats)


def test_the_repeat_finder_finds_a_copy(tmp_path):
    body = "".join(f"    value_{i} = compute({i})  # step\n" for i in range(6))
    (tmp_path / "a.py").write_text(f'"""Doc."""\nimport os\n\ndef f():\n{body}')
    (tmp_path / "b.py").write_text(f"def g():\n    # other\n\n{body}    return 1\n")
    assert repeated_blocks([tmp_path / "a.py", tmp_path / "b.py"]) == [f"{tmp_path / 'a.py'}:5 ~ {tmp_path / 'b.py'}:4"]
    assert repeated_blocks([tmp_path / "a.py"]) == []


# ---------------------------------------------------------------- one owner each

def occurrences(pattern: str) -> list:
    return [f"{path.relative_to(SCRIPTS)}" for path in sorted(SCRIPTS.rglob("*.py"))
            for _ in re.finditer(pattern, path.read_text())]


@pytest.mark.parametrize("rule, pattern", [
    ("the default models", r"PREFERRED_MODELS = \{"),
    ("the chat model default", r'"chat": \("openai-gpt-oss-120b"'),
    ("the image model default", r'"image": \("openai-gpt-image-2"'),
    ("the check of a default against the server's list", r"def choose_default"),
    ("the unpriced refusal", r"cannot be estimated, so no budget"),
    ("the --max-cost refusal", r"over --max-cost"),
    ("the daily budget refusal", r"would pass the daily"),
    ("today's spend read for a budget", r"SELECT TOTAL\(cost_usd\), SUM\(cost_usd IS NULL\) FROM calls"),
    ("the ledger row's columns from usage", r'cached_tokens=usage\.get\("cached_input_tokens"\)'),
    ("the forced tool of structured output", r'"tool_choice": \{"type": "function"'),
    ("the retry statuses", r"RETRY_STATUSES = "),
    ("the backoff", r"def backoff_seconds"),
])
def test_each_rule_has_one_owner(rule, pattern):
    found = occurrences(pattern)
    assert len(found) == 1, f"{rule} stands in {found or 'no place'}"


def test_no_client_is_made_again_for_a_retry():
    assert not occurrences(r"Client\([^)]*_replace\(max_retries"), "a client made per attempt"
    assert not occurrences(r"def from_args"), "a client made from a Namespace"


# ---------------------------------------------------------------- docs and packaging

def test_readme_layout_section_lists_every_module_and_the_direction():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = {path for path in re.findall(r"`([a-z_]+/[a-z_]+\.py)`", section) if path.split("/")[0] in AREAS}
    wanted = {str(p.relative_to(PACKAGE)) for p in MODULES if p.name != "__init__.py"}
    assert listed == wanted, f"README's Layout section differs from the package: {sorted(listed ^ wanted)}"
    assert "commands → batch → chat, media → models → ledger → api → core" in section


def test_pyproject_finds_the_package_and_its_snapshot():
    pyproject = (ROOT / "pyproject.toml").read_text()
    listed = set(re.findall(r'"(gradient_[a-z]+)"', pyproject.split("py-modules", 1)[1].split("]", 1)[0]))
    assert listed == set(COMMANDS)
    assert "packages.find" in pyproject and "pricing_snapshot.json" in pyproject and "data-files" not in pyproject
    assert (PACKAGE / "models" / "pricing_snapshot.json").is_file()


def test_a_copied_skill_folder_runs_without_installing_the_project(tmp_path, api):
    """SKILL.md and scripts/ copied elsewhere: every command's --help and a chat against a local
    server run from the copy, whatever is installed."""
    skill = tmp_path / "skill"
    skill.mkdir()
    shutil.copy(ROOT / "SKILL.md", skill / "SKILL.md")
    shutil.copytree(SCRIPTS, skill / "scripts", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for command in COMMANDS:
        done = subprocess.run([sys.executable, str(skill / "scripts" / f"{command}.py"), "--help"], env=env,
                              capture_output=True, timeout=60, cwd=tmp_path)
        assert done.returncode == 0 and b"usage:" in done.stdout, (command, done.stderr)
    marker = skill / "scripts" / "gradient_inference" / "__init__.py"  # the copy says it is the copy
    marker.write_text(marker.read_text().replace('__version__ = "', '__version__ = "copy-'))
    done = subprocess.run([sys.executable, str(skill / "scripts" / "gradient_chat.py"), "--version"], env=env,
                          capture_output=True, timeout=60, cwd=tmp_path)
    assert done.stdout.startswith(b"gradient-inference copy-"), "the copy's package was not the one loaded"
    api.json("POST", "/v1/chat/completions", {"choices": [{"message": {"content": "from the copy"},
                                                           "finish_reason": "stop"}]})
    done = subprocess.run([sys.executable, str(skill / "scripts" / "gradient_chat.py"), "--base-url", api.url,
                           "--no-stdin", "--no-stream", "--no-log", "--prompt", "hi"], env=env,
                          capture_output=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == b"from the copy\n", done.stderr


def test_the_package_holds_only_code_and_the_price_snapshot():
    """Every skill install copies the package: no scratch files (deep.json, in.jsonl...) may ride along."""
    tracked = subprocess.run(["git", "ls-files", "scripts/gradient_inference"], cwd=ROOT, capture_output=True,
                             text=True).stdout.split() if (ROOT / ".git").exists() else []
    found = tracked or [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    others = [p for p in found if not p.endswith(".py") and not p.endswith("models/pricing_snapshot.json")]
    assert found and others == []
