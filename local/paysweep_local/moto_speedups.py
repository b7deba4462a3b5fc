"""Exact speed-ups for moto's server, installed by the emulator process only.

The emulator serialises every request, so its speed per request is the local stack's ceiling:
a sweep's AWS calls queue behind it, and a benchmark measured against a slow emulator
measures the emulator. Each speed-up below removes work moto repeats on every request and
changes no answer; `tests/localstack/test_moto_speedups.py` checks every one against moto
as shipped, on the requests paysweep makes.

* **Backend lookup.** moto lists its own package directory (a `listdir` and one `stat` per
  service, about 150) on every request to route it. The directory does not change while
  the server runs, so it is listed once.
* **Update expressions.** moto parses an `UpdateExpression` twice per UpdateItem (once to
  validate the request, once to apply it) and never reuses the tree: its validator copies
  the tree before resolving names and values into it. Parsed trees are kept by expression
  text, which is all a parse depends on.
* **Expression tree walks.** Each of the ten passes over an update's tree asks, at every node,
  whether it is a tree node and whether the pass handles its type (abstract-class checks, the
  slowest kind of `isinstance`), and rebuilds the handled types from scratch each time. Both
  answers are properties of classes, so each is computed once per class; the walk itself
  visits, hooks and replaces nodes exactly as moto's does.
* **Condition expressions.** moto parses an UpdateItem's `ConditionExpression` twice with the
  same name and value objects (validation, then evaluation). The second parse reuses the
  first one's tree, which is only ever evaluated, never changed.
* **Update validation.** Three of those passes (one SET/REMOVE/ADD clause each, no
  overlapping paths, no key attribute updated) read only the parsed expression, the names
  and the table's key: they pass or fail the same way every time those are the same. They
  run once per distinct (expression, names, key) and are skipped when it is seen again.
  An update made only of `SET #name = :value` and `REMOVE #name` (every write paysweep
  makes) is then checked as moto's remaining passes would check it (placeholders defined,
  key attributes of the right type and not empty) and applied as moto's executor would
  apply it (SETs in order, then REMOVEs; moto's item-size check is made once per update for
  an item clearly below the limit, at every attribute otherwise); anything else, or
  any such update those checks would refuse, goes through moto's passes, which give the
  answer and the error.
* **Expression tree copies.** moto's validator deep-copies the parsed tree before resolving
  values into it; that copy is made only when moto's passes run, and a tree node copies its
  attributes directly instead of through Python's generic pickle-protocol path (same result:
  a node is a plain object with a `__dict__`).
* **DynamoDB requests.** A DynamoDB API call goes straight to moto's DynamoDB handler, as
  moto's Flask view would hand it over (same request class, same handler call, same response
  object), without Flask's routing and request context around it. Other services go
  through moto's app unchanged.
* **Handler methods.** moto lists a response class's methods with `inspect.getmembers` on
  every request; a class's methods do not change, so they are listed once per class.
* **Response bodies.** Item operations' results are plain dicts already in DynamoDB's wire form,
  so their JSON body is dumped directly instead of walking the botocore output shape
  value by value (moto's generic serializer was most of the emulator's time under a sweep).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, NamedTuple

FAST_DYNAMODB_OPERATIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem"}
)
"""Item operations whose results moto already holds in wire form (`dynamo_to_dict`)."""

MARK = "paysweep_speedup"


def _installed(function: Callable[..., Any]) -> bool:
    return bool(getattr(function, MARK, False))


def _mark(function: Callable[..., Any]) -> Callable[..., Any]:
    setattr(function, MARK, True)
    return function


def list_moto_modules_once() -> None:
    from moto import backends

    if _installed(backends.list_of_moto_modules):
        return
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = _mark(lambda: modules)  # type: ignore[assignment]


def parse_update_expressions_once(maxsize: int = 512) -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    parse = UpdateExpressionParser.make
    if _installed(parse):
        return

    @lru_cache(maxsize=maxsize)
    def make(expression: str) -> Any:
        tree = parse(expression)
        tree.paysweep_source = expression  # for `simple_update_plan`
        return tree

    UpdateExpressionParser.make = staticmethod(_mark(make))  # type: ignore[method-assign, assignment]


def walk_expression_trees_directly() -> None:
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node

    if _installed(DepthFirstTraverser.traverse):
        return
    no_hook = DepthFirstTraverser.pre_processing_of_child
    is_node: dict[type, bool] = {}
    handled_by: dict[type, dict[type, bool]] = {}
    handled_types: dict[type, tuple[type, ...]] = {}

    def nodes_to_be_processed(self: DepthFirstTraverser) -> tuple[type, ...]:
        types = handled_types.get(type(self))
        if types is None:
            types = handled_types[type(self)] = tuple(self._processing_map().keys())
        return types

    def traverse(self: DepthFirstTraverser, root: Any) -> Any:
        handles = handled_by.setdefault(type(self), {})
        types = self.nodes_to_be_processed()
        hook = None if type(self).pre_processing_of_child is no_hook else self.pre_processing_of_child

        def walk(node: Any, child_id: int) -> Any:
            kind = type(node)
            node_kind = is_node.get(kind)
            if node_kind is None:
                node_kind = is_node[kind] = issubclass(kind, Node)
            if not node_kind:
                return node
            parent = node.parent
            if node.children is not None:
                for i, child in enumerate(node.children):
                    if hook is not None:
                        hook(node, i)
                    walk(child, i)
            handled = handles.get(kind)
            if handled is None:
                handled = handles[kind] = issubclass(kind, types)
            if handled:
                node = self.process(node)
                node.parent = parent
                if parent:
                    parent.children[child_id] = node
            return node

        return walk(root, -1)

    DepthFirstTraverser.nodes_to_be_processed = nodes_to_be_processed  # type: ignore[method-assign]
    DepthFirstTraverser.traverse = _mark(traverse)  # type: ignore[method-assign]


def parse_conditions_once_per_request(remembered: int = 4) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    parse = ConditionExpressionParser.parse
    if _installed(parse):
        return
    recent: list[tuple[Any, Any, Any, Any, list[str], list[str]]] = []
    """(expression, names, values, tree, names found, values found): the same name and value
    objects mean the same request (each request's body is parsed into new objects)."""

    def cached_parse(self: ConditionExpressionParser) -> Any:
        expression, names, values = (
            self.condition_expression, self.expression_attribute_names, self.expression_attribute_values,
        )
        for seen in recent:
            if seen[0] == expression and seen[1] is names and seen[2] is values:
                self.expr_attr_names_found.extend(seen[4])
                self.expr_attr_values_found.extend(seen[5])
                return seen[3]
        names_before, values_before = len(self.expr_attr_names_found), len(self.expr_attr_values_found)
        tree = parse(self)
        recent.insert(0, (expression, names, values, tree, self.expr_attr_names_found[names_before:],
                          self.expr_attr_values_found[values_before:]))
        del recent[remembered:]
        return tree

    ConditionExpressionParser.parse = _mark(cached_parse)  # type: ignore[method-assign]


_NAME = r"#[A-Za-z0-9_]+"
_VALUE = r":[A-Za-z0-9_]+"
_SETS = rf"{_NAME}\s*=\s*{_VALUE}(?:\s*,\s*{_NAME}\s*=\s*{_VALUE})*"
_REMOVES = rf"{_NAME}(?:\s*,\s*{_NAME})*"
SIMPLE_UPDATE = re.compile(
    rf"SET\s+(?P<sets>{_SETS})(?:\s+REMOVE\s+(?P<removes>{_REMOVES}))?|REMOVE\s+(?P<only_removes>{_REMOVES})",
    re.IGNORECASE,
)


@lru_cache(maxsize=512)
def simple_update_plan(expression: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]] | None:
    """`((name, value) placeholders set, name placeholders removed)` of an update expression made
    only of `SET #name = :value, ...` then `REMOVE #name, ...`; None for any other expression."""
    match = SIMPLE_UPDATE.fullmatch(expression.strip())
    if match is None:
        return None
    sets = tuple(re.findall(rf"({_NAME})\s*=\s*({_VALUE})", match["sets"] or ""))
    removes = tuple(re.findall(_NAME, match["removes"] or match["only_removes"] or ""))
    return sets, removes


CLEARLY_SMALL_BYTES = 100_000
"""Far below DynamoDB's 400 KB item limit (which moto enforces at 405,000 bytes)."""


def within_size_limit(attributes: dict[str, Any], sets: tuple[tuple[str, Any], ...]) -> bool:
    """Whether the item stays clearly small whatever the SETs, by moto's own measure.

    moto re-measures the whole item at every attribute it sets (`LimitedSizeDict`), which
    makes an update's cost quadratic in the item's size. Measured once here: an item that
    stays under a quarter of the limit even if every new value were added on top can never
    reach it, so moto's check could not fire and is skipped.
    """
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    def size(part: Any) -> int:
        return int(part.size()) if type(part) is DynamoType else int(bytesize(str(part)))

    current = sum(size(key) for key in attributes) + sum(size(value) for value in attributes.values())
    added = sum(size(name) + size(value) for name, value in sets)
    return current + added <= CLEARLY_SMALL_BYTES


class PlannedUpdate(NamedTuple):
    """A simple update, validated: attribute values to set, then attribute names to remove."""

    sets: tuple[tuple[str, Any], ...]
    removes: tuple[str, ...]

    def normalize(self) -> None:
        """moto normalises the validated tree before executing it; a plan is already in order."""


def validate_updates_quickly(maxsize: int = 4096) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.parsing import executors, validators

    target = validators.UpdateExpressionValidator
    if _installed(target.validate):
        return
    static = (validators.ActionCountValidator, validators.OverlappingPathsValidator,
              validators.UpdateHashRangeKeyValidator)
    passed: set[tuple[Any, ...]] = set()

    def __init__(self: Any, expression: Any, expression_attribute_names: Any, expression_attribute_values: Any,
                 item: Any, table: Any) -> None:
        """moto's `Validator.__init__`, except that the tree is copied, and the passes made, only
        when moto's passes run."""
        self.expression_attribute_names = expression_attribute_names
        self.expression_attribute_values = expression_attribute_values
        self.item = item
        self.table = table
        self.parsed_expression = expression  # the parse cache's tree: never changed

    def processors(self: Any, *, static_ones: bool) -> list[Any]:
        """moto's passes over the tree, made only when some of them run (not for a planned update)."""
        return [p for p in self.get_ast_processors() if isinstance(p, static) == static_ones]

    def check_static_rules(self: Any) -> None:
        names = self.expression_attribute_names or {}
        key = (self.parsed_expression, tuple(sorted(names.items())), tuple(self.table.table_key_attrs))
        if key in passed:
            return
        node = self.parsed_expression  # these passes only read the tree
        for processor in processors(self, static_ones=True):
            node = processor.traverse(node)
        if len(passed) >= maxsize:
            passed.clear()
        passed.add(key)

    def plan(self: Any) -> PlannedUpdate | None:
        """The update as a plan, if it is simple and every later pass would accept it unchanged;
        None (moto's passes decide, and raise their own errors) otherwise."""
        source = getattr(self.parsed_expression, "paysweep_source", None)
        shape = simple_update_plan(source) if source else None
        if shape is None:
            return None
        names, values = self.expression_attribute_names or {}, self.expression_attribute_values or {}
        try:
            sets = tuple((names[name], DynamoType(values[value])) for name, value in shape[0])
            removes = tuple(names[name] for name in shape[1])
        except Exception:  # noqa: BLE001 - an undefined or malformed placeholder: moto reports it
            return None
        for name, value in sets:  # TypeMismatchValidator, then EmptyStringKeyValueValidator
            if any(d["AttributeName"] == name and d["AttributeType"] != value.type for d in self.table.attr):
                return None
            if not value.value and value.type in ("S", "B") and name in self.table.attribute_keys:
                return None
        return PlannedUpdate(sets, removes)

    def validate(self: Any) -> Any:
        check_static_rules(self)
        planned = plan(self)
        if planned is not None:
            return planned
        node = copy.deepcopy(self.parsed_expression)
        for processor in processors(self, static_ones=False):
            node = processor.traverse(node)
        return node

    run = executors.UpdateExpressionExecutor.execute

    def execute(self: Any, node: Any = None) -> None:
        """A plan runs as moto's executor runs a normalised tree: SETs in order, then REMOVEs."""
        if node is None and isinstance(self.update_ast, PlannedUpdate):
            attributes = self.item.attrs
            if within_size_limit(attributes, self.update_ast.sets):
                for name, value in self.update_ast.sets:
                    dict.__setitem__(attributes, name, value)
            else:
                for name, value in self.update_ast.sets:
                    attributes[name] = value  # moto's own check, as SetExecutor sets it
            for name in self.update_ast.removes:
                attributes.pop(name, None)
            return
        run(self, node)

    target.__init__ = __init__  # type: ignore[method-assign]
    target.validate = _mark(validate)  # type: ignore[method-assign]
    executors.UpdateExpressionExecutor.execute = execute  # type: ignore[method-assign]


def copy_expression_nodes_directly() -> None:
    from moto.dynamodb.parsing.ast_nodes import Node

    if _installed(getattr(Node, "__deepcopy__", lambda: None)):
        return
    deepcopy = copy.deepcopy
    atoms = (str, int, bool, type(None))

    def copied(value: Any, memo: dict[int, Any]) -> Any:
        if type(value) in atoms:
            return value
        done = memo.get(id(value))
        if done is not None:
            return done
        if type(value) is list:  # children: copied in place of copy.deepcopy's list path
            clone: list[Any] = []
            memo[id(value)] = clone
            clone.extend(copied(item, memo) for item in value)
            return clone
        return deepcopy(value, memo)

    def __deepcopy__(self: Node, memo: dict[int, Any]) -> Node:
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        state = clone.__dict__
        for name, value in self.__dict__.items():
            state[name] = copied(value, memo)
        return clone

    Node.__deepcopy__ = _mark(__deepcopy__)  # type: ignore[attr-defined]


def list_handler_methods_once() -> None:
    from moto.core import responses

    listed = responses.method_names_from_class
    if _installed(listed):
        return
    responses.method_names_from_class = _mark(lru_cache(maxsize=None)(listed))  # type: ignore[assignment]


DYNAMODB_TARGET_PREFIX = "DynamoDB_20120810."


def is_dynamodb_call(environ: dict[str, Any]) -> bool:
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and environ.get("PATH_INFO") == "/"
        and str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(DYNAMODB_TARGET_PREFIX)
    )


class DirectDynamoDB:
    """WSGI app: DynamoDB calls to moto's DynamoDB handler directly, anything else to `app`."""

    def __init__(self, app: Callable[..., Any]) -> None:
        from botocore.exceptions import ClientError
        from flask import Response
        from moto.dynamodb.responses import DynamoHandler
        from moto.moto_api import recorder
        from moto.moto_server.werkzeug_app import BackendRequest

        self.app = app
        self._response, self._handler, self._recorder, self._request = Response, DynamoHandler, recorder, BackendRequest
        self._client_error = ClientError

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not is_dynamodb_call(environ):
            return self.app(environ, start_response)
        request = self._request(environ)
        self._recorder._record_request(request)
        try:  # as moto.core.utils.convert_to_flask_response does
            result = self._handler.dispatch(request, request.raw_url, dict(request.headers))
        except self._client_error as error:
            result = 400, {}, error.response["Error"]["Message"]
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        return self._response(response=content, status=status, headers=headers)(environ, start_response)


def dynamodb_wire_body(result: dict[str, Any], output_members: Iterable[str]) -> bytes | None:
    """The JSON body of an item operation's result, or None when it needs moto's serializer.

    Anything that is not plain JSON (bytes, dates, model objects) goes the slow, general way.
    """
    try:
        members = set(output_members)  # moto's serializer drops what the output shape lacks
        wire = {key: value for key, value in result.items() if key in members}
        return json.dumps(wire, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError):
        return None


def dump_item_results_directly() -> None:
    from moto.dynamodb.responses import DynamoResult

    general = DynamoResult.execute_result
    if _installed(general):
        return

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name in FAST_DYNAMODB_OPERATIONS and isinstance(self.result, dict):
            body = dynamodb_wire_body(self.result, context.operation_model.output_shape.members)
            if body is not None:
                return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        return general(self, context)

    DynamoResult.execute_result = _mark(execute_result)  # type: ignore[method-assign]


SPEEDUPS: dict[str, Callable[[], None]] = {
    "backend lookup": list_moto_modules_once,
    "update expressions": parse_update_expressions_once,
    "expression tree walks": walk_expression_trees_directly,
    "condition expressions": parse_conditions_once_per_request,
    "update validation": validate_updates_quickly,
    "expression tree copies": copy_expression_nodes_directly,
    "handler methods": list_handler_methods_once,
    "response bodies": dump_item_results_directly,
}


def install(app: Callable[..., Any]) -> Callable[..., Any]:
    """Install every speed-up (idempotent) and return moto's app with DynamoDB calls routed directly."""
    for speedup in SPEEDUPS.values():
        speedup()
    return DirectDynamoDB(app)
