"""The layer's dependencies run one way, read from the code's own imports.

    handler (functions/*/app.py) -> runtime (wiring) -> sweep -> domain
                                       -> invocation (what the event asks), queued (SQS batches)

`aws` and `provider` implement the sweep's ports and sit beside the runtime that wires
them in; the sweep never imports them. `config` and `observability` are leaf services.
Every import counts, `TYPE_CHECKING` ones included: a typing-only import is a dependency
too, and a cycle through one is still a knot a newcomer has to untie.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

LAYER = Path(__file__).resolve().parents[2] / "layers" / "common"
PACKAGE = LAYER / "paysweep"

ALLOWED: dict[str, set[str]] = {
    "domain": {"domain"},
    "config": {"domain"},
    "observability": set(),
    "sweep": {"domain", "config", "observability", "sweep"},
    "provider": {"domain", "sweep.ports", "provider"},
    "aws": {"domain", "sweep.ports", "provider.client", "aws"},
    "writer": {"domain", "aws", "sweep.ports"},
    "invocation": {"domain"},
    "queued": {"invocation", "observability", "sweep.check"},
    "runtime": {"config", "observability", "sweep", "provider", "aws", "invocation", "queued"},
    "__init__": set(),
}
"""What each part of the layer may import from the layer (a part, or one module of a part)."""

THIRD_PARTY: dict[str, set[str]] = {
    "boto3": {"aws"},
    "botocore": {"aws"},
    "requests": {"provider"},
    "urllib3": {"provider"},
    "aws_lambda_powertools": {"observability", "runtime", "aws", "queued"},
    "types_boto3_dynamodb": {"aws", "writer"},
    "types_boto3_sns": {"aws"},
}
"""Who may touch each SDK: nothing above the data-access code touches boto3."""


def module_name(path: Path) -> str:
    parts = path.relative_to(LAYER).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[str]:
    """Every module name an import statement of the file names (absolute imports only: the
    layer uses no relative ones)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            yield node.module
            # `from paysweep.domain import item` imports the module paysweep.domain.item
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def layer_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def part_of(module: str) -> str:
    """`paysweep.sweep.engine` -> `sweep`; `paysweep.runtime` -> `runtime`; `paysweep` -> `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def allowed(importer: str, imported: str) -> bool:
    relative = imported.removeprefix("paysweep.")
    return any(relative == rule or relative.startswith(rule + ".") for rule in ALLOWED[part_of(importer)])


def internal_imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the layer modules it imports (names that are not modules, e.g. a class
    imported from a module, are dropped)."""
    return {
        name: {imported for imported in imports_of(path) if imported in modules and imported != name}
        for name, path in modules.items()
    }


def test_every_part_of_the_layer_has_a_rule() -> None:
    parts = {part_of(name) for name in layer_modules()}
    assert parts == set(ALLOWED), "a new part of the layer needs its place in ALLOWED"


def test_nothing_is_imported_upward() -> None:
    graph = internal_imports(layer_modules())
    upward = sorted(
        f"{importer} -> {imported}"
        for importer, imported_set in graph.items()
        for imported in imported_set
        if not allowed(importer, imported)
    )
    assert not upward, "imports against the direction handler -> runtime -> sweep -> domain:\n  " + "\n  ".join(upward)


def test_the_layer_has_no_import_cycle() -> None:
    graph = internal_imports(layer_modules())
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n  " + "\n  ".join(" -> ".join(cycle) for cycle in cycles)


@pytest.mark.parametrize("library", sorted(THIRD_PARTY))
def test_each_sdk_is_touched_only_by_its_adapter(library: str) -> None:
    touching = sorted(
        name
        for name, path in layer_modules().items()
        if any(imported.split(".")[0] == library for imported in imports_of(path))
        and part_of(name) not in THIRD_PARTY[library]
    )
    assert not touching, f"{library} is imported outside {sorted(THIRD_PARTY[library])}: {touching}"


def test_the_handlers_import_only_the_runtime_and_their_adapter() -> None:
    for app in sorted((LAYER.parents[1] / "functions").glob("*/app.py")):
        layer_imports = {name for name in imports_of(app) if name.split(".")[0] == "paysweep"}
        assert layer_imports <= {"paysweep.runtime", "paysweep.runtime.lambda_handler_for"}, (app, layer_imports)


def test_the_operator_command_is_not_in_the_layer() -> None:
    names = layer_modules()
    assert not [name for name in names if name.rsplit(".", 1)[-1] in {"cli", "operations", "views"}]
    for path in names.values():
        assert not [m for m in imports_of(path) if m.startswith(("paysweep_ops", "paysweep_local"))], path


def test_an_orders_work_runs_one_way() -> None:
    """flow -> compensation or audit -> lease -> store: nothing below the flow reaches it (the
    old `OrderSteps` back-channel handed the whole flow to both), and the store is the lease's
    (and the claims', the engine's and a check's, and the outbox's, for confirmations) alone."""
    sweep = {name.rsplit(".", 1)[-1]: path for name, path in layer_modules().items() if part_of(name) == "sweep"}
    assert "OrderSteps" not in "".join(path.read_text() for path in sweep.values())
    for name in ("compensation", "audit", "lease", "steps"):
        tree = ast.parse(sweep[name].read_text())
        names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert not names & {"OrderFlow", "order_flow", "send_cancel", "continue_cancel"}, name
    for name, path in sweep.items():
        touches_store = {node.attr for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Attribute)}
        if name not in {"engine", "check", "lease", "outbox", "ports"}:
            assert not touches_store & {"store", "_store"}, f"sweep.{name} reaches the store past the order's lease"


def test_the_sweep_reads_orders_as_typed_values() -> None:
    """The item's attribute names stay with `paysweep.domain.item` and the stores: the sweep reads
    a `StoredOrder`'s properties, never its raw `attributes` or an attribute name."""
    from paysweep.domain import item

    attribute_names = {name for name, value in vars(item).items() if name.isupper() and isinstance(value, str)}
    found = []
    for name, path in layer_modules().items():
        if part_of(name) != "sweep":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and (
                node.attr == "attributes" or (node.attr in attribute_names and getattr(node.value, "id", "") == "item")
            ):
                found.append(f"{name}:{node.lineno}: .{node.attr}")
    assert attribute_names >= {"STATUS", "ORDER_ID", "LEASE_OWNER"}
    assert not found, "the sweep reads raw order items:\n  " + "\n  ".join(found)


PROVIDER_WORDS = (
    "pgCno", "cancelPgCno", "approvalDate", "tradeNo", "paymentKey", "mallId", "appCode",
    "kicc", "teemo", "toss", "cancel_notify", "pg_cno",
)
"""Field names and ids of the providers (KICC, TeemoPay, the coming Toss Payments): none belongs
in the layer. A provider is a plug-in: its names live in its function folder."""
PROVIDER_WORD_EXCEPTIONS = {"paysweep/writer.py": {"pgcno", "pg_cno"}}
"""The one exception: the writer's deprecated `pg_cno=` argument and the reference it maps to."""


def provider_words_in(path: Path, text: str) -> list[str]:
    """`file:line: word` for every provider word (any case) outside the exception."""
    allowed = PROVIDER_WORD_EXCEPTIONS.get(path.relative_to(LAYER).as_posix(), set())
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        lowered = line.lower()
        for word in PROVIDER_WORDS:
            if word.lower() in lowered and word.lower() not in allowed:
                found.append(f"{path.relative_to(LAYER)}:{number}: {word}: {line.strip()}")
    return found


def layer_text_files() -> list[Path]:
    return sorted(
        path for path in LAYER.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".so"}
    )


def test_the_layer_names_no_provider_and_no_provider_field() -> None:
    """Adding a provider must change nothing under layers/: every name of KICC's, TeemoPay's or
    Toss Payments' (ids, order references, settings, secret fields) is the adapter's."""
    files = layer_text_files()
    assert PACKAGE / "writer.py" in files and len(files) > 20, "the scan must see the layer's files"
    found = [hit for path in files for hit in provider_words_in(path, path.read_text(encoding="utf-8"))]
    assert not found, "provider names in the layer:\n  " + "\n  ".join(found)


def test_the_provider_word_scan_finds_a_provider_word() -> None:
    """The scan above can fail: any case, anywhere in a line, and the exception only in its file."""
    engine, writer = PACKAGE / "sweep" / "engine.py", PACKAGE / "writer.py"
    assert provider_words_in(engine, 'refs = {"cancelPgCno": reference}  # KICC') != []
    assert len(provider_words_in(engine, "x = order.PG_CNO\nTossPayments")) == 2
    assert provider_words_in(writer, "pg_cno: str | None  # pgCno") == []
    assert provider_words_in(writer, "tradeNo") != []


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a two-module loop and a three-module loop are found."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert sorted(find_cycles(graph)) == [["a", "b"], ["c", "d", "e"]]
