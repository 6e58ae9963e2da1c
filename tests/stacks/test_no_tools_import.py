"""Infrastructure does not depend on developer tools: no module under stacks/ imports ``tools`` (tools may import
stacks, e.g. ``tools/build_layer.py`` uses ``stacks.layer_spec``).
"""

from __future__ import annotations

import ast
from pathlib import Path

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_no_module_under_stacks_imports_tools() -> None:
    sources = sorted(STACKS.rglob("*.py"))
    assert len(sources) > 10, "expected the stacks package"

    offenders = {
        str(path.relative_to(STACKS.parent)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "tools")
        for path in sources
    }

    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_the_check_sees_both_import_forms(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import tools.build_layer\nfrom tools import cli\nfrom .tools import x\n", encoding="utf-8")

    assert imported_modules(sample) == {"tools.build_layer", "tools"}
