"""The layout rules of scripts/: one module per concern, imports one way, small files, no copies."""
from __future__ import annotations

import ast
import re

import pytest

from conftest import COMMANDS, ROOT, SCRIPTS

# Each shared module's layer: a module may import only modules of a lower layer, so imports go
# one way, commands -> feature modules -> http -> wire and config -> common.
LAYERS = {
    "gradient_common": 0,
    "gradient_config": 1, "gradient_wire": 1,
    "gradient_http": 2,
    "gradient_files": 3, "gradient_jobs": 3, "gradient_prices": 3, "gradient_chatapi": 3, "gradient_schema": 3,
    "gradient_tools": 4, "gradient_chatinput": 5, "gradient_stream": 4, "gradient_ledger": 3,
    "gradient_pricepage": 4, "gradient_catalog": 4, "gradient_pool": 3,
    "gradient_batchio": 6, "gradient_batchrun": 7, "gradient_batchfile": 7, "gradient_batchapi": 8,
}
COMMAND_LAYER = 9
MAX_SHARED_LINES, MAX_COMMAND_LINES = 350, 450
MODULES = sorted(path.stem for path in SCRIPTS.glob("gradient_*.py"))


def layer(module: str) -> int:
    return COMMAND_LAYER if module in COMMANDS else LAYERS[module]


def gradient_imports(module: str) -> set:
    """Every gradient_* module this one imports, at the top or inside a function."""
    tree = ast.parse((SCRIPTS / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return {name for name in found if name.startswith("gradient_")}


def test_every_module_is_a_command_or_has_a_layer():
    assert COMMANDS, "pyproject.toml lists no console commands"
    assert set(MODULES) == set(COMMANDS) | set(LAYERS), "a module is neither a command nor in LAYERS"


@pytest.mark.parametrize("module", MODULES)
def test_imports_go_one_way_and_no_command_imports_another(module):
    for imported in gradient_imports(module):
        assert imported not in COMMANDS, f"{module} imports the command {imported}"
        assert layer(imported) < layer(module), f"{module} imports {imported}, which is not below it"


@pytest.mark.parametrize("module", MODULES)
def test_size_limits(module):
    lines = len((SCRIPTS / f"{module}.py").read_text().splitlines())
    limit = MAX_COMMAND_LINES if module in COMMANDS else MAX_SHARED_LINES
    assert lines <= limit, f"{module}.py has {lines} lines, over its limit of {limit}"


@pytest.mark.parametrize("module", MODULES)
def test_each_module_opens_with_a_docstring(module):
    docstring = ast.get_docstring(ast.parse((SCRIPTS / f"{module}.py").read_text()))
    assert docstring and len(docstring.split()) >= 8, f"{module}.py says nothing of what belongs in it"
    if module not in COMMANDS:
        assert "Belongs here" in docstring, f"{module}.py does not say what belongs in it"


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
            where = (path.name, lines[start][0])
            if block in seen and (seen[block][0] != path.name or where[1] - seen[block][1] >= window):
                repeats.append(f"{seen[block][0]}:{seen[block][1]} ~ {path.name}:{where[1]}")
            seen.setdefault(block, where)
    return repeats


def test_no_block_of_six_lines_is_repeated():
    repeats = repeated_blocks(sorted(SCRIPTS.glob("*.py")))
    assert not repeats, "blocks of six lines stand in two places: " + ", ".join(repeats)


def test_the_repeat_finder_finds_a_copy(tmp_path):
    body = "".join(f"    value_{i} = compute({i})  # step\n" for i in range(6))
    (tmp_path / "a.py").write_text(f'"""Doc."""\nimport os\n\ndef f():\n{body}')
    (tmp_path / "b.py").write_text(f"def g():\n    # other\n\n{body}    return 1\n")
    assert repeated_blocks([tmp_path / "a.py", tmp_path / "b.py"]) == ["a.py:5 ~ b.py:4"]
    assert repeated_blocks([tmp_path / "a.py"]) == []


def test_readme_layout_section_lists_every_module_and_the_direction():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(gradient_[a-z]+)\.py`", section))
    assert listed == set(MODULES), f"README's Layout section differs from scripts/: {sorted(listed ^ set(MODULES))}"
    assert "commands → feature modules → gradient_http → gradient_wire and gradient_config → gradient_common" in section


def test_pyproject_installs_every_module():
    pyproject = (ROOT / "pyproject.toml").read_text()
    listed = set(re.findall(r'"(gradient_[a-z]+)"', pyproject.split("py-modules", 1)[1].split("]", 1)[0]))
    assert listed == set(MODULES)
