"""Layers import downwards only (docs/architecture.md): every `dawm` import in src/dawm, at any depth (inside
functions and `if TYPE_CHECKING:` blocks too), and every string that is a dawm module's name (what
`importlib.import_module` is given, directly or from a table such as dawm/__init__.py's `_EXPORTS`), goes
from a layer to itself or to one of the layers ALLOWED lists for it; and no two modules import each other."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "dawm"

# Bottom to top. A layer may import itself and the layers listed; nothing else.
ALLOWED: dict[str, set[str]] = {
    "utils": set(),
    "data": {"utils"},
    "envs": {"utils", "data"},
    "world_model": {"utils", "data", "envs"},
    "agents": {"utils", "data", "envs"},
    "results": {"utils", "data"},
    "stages": {"utils", "data", "envs", "world_model", "agents"},
    "pipeline": {"utils", "data", "envs", "world_model", "agents", "results", "stages"},
    "bench": {"utils", "data", "envs", "world_model", "agents", "results", "stages", "pipeline"},
    "cli": {"utils", "data", "envs", "world_model", "agents", "results", "stages", "pipeline", "bench"},
    # dawm/__init__.py and __main__.py: the package's front door
    "dawm": {"utils", "data", "envs", "world_model", "agents", "results", "stages", "pipeline", "bench", "cli"},
}


def layer(module: str) -> str:
    """dawm.data.registry -> data; dawm.pipeline -> pipeline; dawm (the package itself) -> dawm."""
    parts = module.split(".")
    assert parts[0] == "dawm", module
    return parts[1] if len(parts) > 1 and parts[1] != "__main__" else "dawm"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every dawm module named by an import statement, an import_module("dawm. ...") call or a string that is
    exactly a module's name (`from dawm.results import stats` names dawm.results.stats)."""
    known, found = set(modules()), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            subs = {f"{name}.{a.name}" for a in node.names} & known
            found |= subs if subs else {name}
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
        elif isinstance(node, ast.Constant) and node.value in known - {"dawm"}:  # a name importlib gets from a table
            found.add(node.value)
    return {m for m in found if m == "dawm" or m.startswith("dawm.")}


def edges() -> list[tuple[str, str, str]]:
    """(importing module, its layer, imported module) for every dawm import in src/dawm."""
    out = []
    for module, path in modules().items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for target in sorted(imported(tree, module, path.name == "__init__.py")):
            out.append((module, layer(module), target))
    return out


def test_every_module_has_a_layer():
    layers = {layer(module_name(p)) for p in SRC.rglob("*.py")}
    assert layers <= set(ALLOWED), layers - set(ALLOWED)


def test_layers_import_downwards_only():
    wrong = [f"{src} ({lay}) imports {dst} ({layer(dst)})" for src, lay, dst in edges()
             if layer(dst) not in ALLOWED[lay] | {lay}]
    assert not wrong, "\n".join(wrong)


def test_no_two_modules_import_each_other():
    pairs = {(src, dst) for src, _, dst in edges()}
    both = sorted(f"{a} <-> {b}" for a, b in pairs if (b, a) in pairs and a < b)
    assert not both, "\n".join(both)


def test_the_scan_sees_lazy_and_string_imports():
    code = ("def f():\n    from dawm.envs import collect\n    import dawm.cli\n"
            "    importlib.import_module('dawm.pipeline')\nfrom . import stats\nfrom .stats import REPS\n"
            "_LAZY = {'x': 'dawm.bench'}\n")
    found = imported(ast.parse(code), "dawm.results.grid", False)
    assert found == {"dawm.envs.collect", "dawm.cli", "dawm.pipeline", "dawm.results.stats", "dawm.bench"}
    assert [layer(m) for m in sorted(found)] == ["bench", "cli", "envs", "pipeline", "results"]
