"""The layers of AMAS, read from the imports (docs/architecture.md draws them).

    core -> users, audit -> agents -> providers, knowledge, webhooks, eventsinks, tasks, cases
         -> dashboard, ops -> amas                                       (LAYERS below is the rule)

An app imports from its own layer and the layers below it, never from a layer above (a lower layer
learns about higher ones through registries filled in AppConfig.ready()). Apps of one layer import
each other without cycles. core imports no app at all. Agents see the rest of AMAS only through
their context (`ctx`: ai, storage, graph, history, progress): the agents app sits below providers,
knowledge and tasks, so it imports none of them (the agent-config API and admin may use users and
audit, which are below it).

Read statically with `ast` (no Django set-up, no dependency): every `import`/`from ... import` in
apps/ and amas/, including the ones inside functions. Imports under `if TYPE_CHECKING:` are
annotations only: they count for the layer rules but not for cycles.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Bottom to top. Every package under apps/ must be listed; `amas` is the project package.
LAYERS: list[set[str]] = [
    {"core"},
    {"users", "audit"},
    {"agents"},
    {"providers", "knowledge", "webhooks", "eventsinks", "tasks", "cases"},
    {"dashboard", "ops"},
    {"amas"},
]
LAYER_OF = {app: index for index, apps in enumerate(LAYERS) for app in apps}

# What an app may import besides itself, where the layers allow less than "everything below".
ONLY: dict[str, set[str]] = {
    "core": set(),
}

# Modules of the project package that are process infrastructure rather than a layer: the Celery
# app object is configured from Django settings (like django.conf.settings, which every layer
# reads) and is what lower layers use to talk to workers (inspect, revoke, the broker check).
INFRASTRUCTURE = {"amas.celery"}

# Known debt: (importing module, imported module) -> why it is still there. Each entry is a
# violation of the rules above that someone is removing; the test fails when an entry is no longer
# needed, so the list only shrinks.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. apps.tasks.services
    target: str  # the imported module, e.g. apps.audit.services
    line: int
    type_only: bool

    @property
    def source_app(self) -> str:
        return app_of(self.module)

    @property
    def target_app(self) -> str:
        return app_of(self.target)

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def app_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "apps" and len(parts) > 1:
        return parts[1]
    return parts[0]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_of(path: Path, module: str = "") -> list[Import]:
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(module, alias.name, node.lineno, type_only))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target in ("apps", "amas") or (node.level and not node.module):
                # `from apps import tasks`: the names are the modules
                found.extend(Import(module, f"{target}.{a.name}", node.lineno, type_only) for a in node.names)
            else:
                found.append(Import(module, target, node.lineno, type_only))
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return found


def project_imports() -> list[Import]:
    files = sorted((ROOT / "apps").rglob("*.py")) + sorted((ROOT / "amas").rglob("*.py"))
    imports = []
    for path in files:
        for found in _imports_of(path):
            ours = found.target.split(".")[0] in ("apps", "amas") and found.target != "apps"
            if ours and found.source_app != found.target_app and found.target not in INFRASTRUCTURE:
                imports.append(found)
    return imports


def violations(imports: list[Import]) -> list[tuple[Import, str]]:
    found = []
    for imp in imports:
        source, target = imp.source_app, imp.target_app
        unplaced = [app for app in (source, target) if app not in LAYER_OF]
        if unplaced:
            found.append((imp, f"{unplaced[0]!r} has no layer (add it to LAYERS in tests/test_layers.py)"))
        elif source in ONLY and target not in ONLY[source]:
            allowed = ", ".join(sorted(ONLY[source])) or "no app"
            found.append((imp, f"{source} may import {allowed}"))
        elif LAYER_OF[target] > LAYER_OF[source]:
            below = f"layer {LAYER_OF[source]}, below {target} (layer {LAYER_OF[target]})"
            found.append((imp, f"{source} is in {below}"))
    return found


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of two or more apps (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(edges.get(node, ())):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return groups


def _unexcused(imports: list[Import]) -> list[Import]:
    return [imp for imp in imports if (imp.module, imp.target) not in ALLOWED]


def test_every_app_has_a_layer():
    apps = {p.parent.name for p in (ROOT / "apps").glob("*/__init__.py")}
    assert apps - set(LAYER_OF) == set(), "add the new app to LAYERS in tests/test_layers.py"


def test_no_app_imports_a_higher_layer():
    broken = [(imp, why) for imp, why in violations(project_imports()) if imp in _unexcused([imp])]
    assert not broken, "\n".join(f"{imp}: {why}" for imp, why in broken)


def test_no_import_cycles_between_apps():
    edges: dict[str, set[str]] = defaultdict(set)
    examples: dict[tuple[str, str], Import] = {}
    for imp in _unexcused(project_imports()):
        if not imp.type_only:
            edges[imp.source_app].add(imp.target_app)
            examples.setdefault((imp.source_app, imp.target_app), imp)
    cycles = _cycles(edges)
    described = []
    for group in cycles:
        members = set(group)
        described.append(
            f"{' <-> '.join(group)}: "
            + "; ".join(str(examples[(a, b)]) for a in group for b in sorted(edges[a] & members))
        )
    assert not cycles, "\n".join(described)


def test_known_debt_is_still_debt():
    """An ALLOWED entry that no longer matches a violating import must go (the list only shrinks)."""
    imports = project_imports()
    still = {(imp.module, imp.target) for imp, _ in violations(imports)}
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in imports:
        if not imp.type_only:
            edges[imp.source_app].add(imp.target_app)
    in_cycle = {app for group in _cycles(edges) for app in group}
    for imp in imports:
        if imp.source_app in in_cycle and imp.target_app in in_cycle and not imp.type_only:
            still.add((imp.module, imp.target))
    stale = sorted(set(ALLOWED) - still)
    assert not stale, f"no longer needed, remove from ALLOWED: {stale}"


def test_the_checker_sees_what_it_must(tmp_path):
    """The reader finds imports inside functions, relative and `from apps import x` forms, and
    tells type-only ones apart; the rules flag a core module importing an app."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "from apps import tasks\n"
        "from . import metrics\n"
        "if TYPE_CHECKING:\n"
        "    from apps.users.models import User\n"
        "def f():\n"
        "    import apps.providers.models\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    found = {(imp.target, imp.type_only) for imp in _imports_of(path, "apps.core.probe")}
    assert {
        ("apps.tasks", False),
        ("apps.core.metrics", False),
        ("apps.users.models", True),
        ("apps.providers.models", False),
    } <= found
    probe = [
        Import("apps.core.x", "apps.tasks.models", 1, False),
        Import("apps.agents.x", "apps.knowledge.services", 1, False),
        Import("apps.agents.x", "apps.users.permissions", 1, False),
        Import("apps.newapp.x", "apps.core", 1, False),
    ]
    assert [why for _, why in violations(probe)] == [
        "core may import no app",
        "agents is in layer 2, below knowledge (layer 3)",
        "'newapp' has no layer (add it to LAYERS in tests/test_layers.py)",
    ]
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
