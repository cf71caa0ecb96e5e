"""The folders are the architecture: imports point downward only (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import coinium

PACKAGE = Path(coinium.__file__).resolve().parent

# Lower number = lower layer. A module may import its own layer and the layers below.
RANK = {
    "kernels": 0,
    "core": 1, "crypto": 1, "contracts": 1,
    "store": 2,
    "consensus": 3,
    "chain": 4, "mempool": 4, "mining": 4,
    "p2p": 5, "nat": 5,
    "rpc": 6, "notify": 6, "wallet": 6, "config": 6, "web": 6, "validator": 6,
    "node": 7, "cli": 7, "logsetup": 7, "__main__": 7, "devnet": 7, "mining_client": 7,
    "preflight": 7, "backup_cli": 7,
}  # fmt: skip
# Rules are pure: consensus/ reads no storage and no network, whatever the ranks say.
CONSENSUS_MAY_IMPORT = {"core", "crypto", "kernels", "consensus"}


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (type hints are not dependencies)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_layers(path: Path) -> set[str]:
    layers = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "coinium" and len(parts) > 1:
                layers.add(parts[1])
    return layers


def layer_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def test_every_module_has_a_layer():
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue
        assert layer_of(path) in RANK, f"{path} is in no layer: add it to RANK"


def test_imports_point_downward():
    problems = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue
        layer = layer_of(path)
        for imported in imported_layers(path):
            if imported not in RANK:
                continue
            if RANK[imported] > RANK[layer]:
                problems.append(f"{path.relative_to(PACKAGE)} ({layer}) imports {imported}")
            if layer == "consensus" and imported not in CONSENSUS_MAY_IMPORT:
                problems.append(f"{path.relative_to(PACKAGE)}: consensus imports {imported}")
    assert not problems, "\n".join(problems)
