"""The functions' deployed IAM policies: read, adapted to MiniStack's IAM model, cut down.

MiniStack (AUTH=true) reads a role's inline policies on every request it authorises
(`ministack.core.iam_evaluator._gather_role_policies`; `test_least_privilege` proves it), so a
statement is taken away by rewriting the deployed role's inline policy through the IAM API:
seconds, against minutes for a redeploy, and the function's code, environment and warm worker
stay as they are.
"""

from __future__ import annotations

import copy
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

EMULATOR_ALIASES = {"sns:Publish": ["sns:PublishBatch"]}
"""MiniStack authorises SNS PublishBatch as the action `sns:PublishBatch`, which is not an IAM
action in AWS: AWS authorises PublishBatch with `sns:Publish` (cfn-lint's SNS action list has no
PublishBatch either). The template stays right for AWS (`sns:Publish`); the e2e suite grants the
emulator's extra name wherever the deployed policy grants `sns:Publish`, and nowhere else, so
removing the template's OutcomeTopics statement or one of its topics still removes both."""


@dataclass(frozen=True)
class Variant:
    """The policy less one statement, or less one resource of one statement."""

    label: str
    sid: str
    removed_resource: str | None
    document: dict[str, Any]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def for_emulator(document: dict[str, Any]) -> dict[str, Any]:
    """The document with MiniStack's alias actions added next to the real ones (see above)."""
    adapted = copy.deepcopy(document)
    for statement in as_list(adapted.get("Statement", [])):
        actions = as_list(statement.get("Action", []))
        extra = [alias for action in actions for alias in EMULATOR_ALIASES.get(action, []) if alias not in actions]
        if extra:
            statement["Action"] = actions + extra
    return adapted


def variants(document: dict[str, Any]) -> Iterator[Variant]:
    """Every way of taking one statement, or one resource of a statement, out of a policy."""
    statements = as_list(document["Statement"])
    for index, statement in enumerate(statements):
        sid = str(statement.get("Sid", f"#{index}"))
        without = copy.deepcopy(document)
        without["Statement"] = [s for i, s in enumerate(statements) if i != index]
        yield Variant(f"{sid} statement", sid, None, without)
        resources = as_list(statement.get("Resource", []))
        if len(resources) < 2:
            continue  # removing its only resource is removing the statement, done above
        for resource in resources:
            fewer = copy.deepcopy(document)
            fewer["Statement"][index]["Resource"] = [r for r in resources if r != resource]
            yield Variant(f"{sid} without {resource.rsplit(':', 1)[-1]}", sid, resource, fewer)


class RolePolicies:
    """The inline policies of one function's execution role, as deployed by `sam deploy`."""

    def __init__(self, iam: Any, role_name: str) -> None:
        self._iam = iam
        self.role_name = role_name
        self.deployed = {name: self._read(name) for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]}

    def _read(self, name: str) -> dict[str, Any]:
        document = self._iam.get_role_policy(RoleName=self.role_name, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            document = json.loads(urllib.parse.unquote(document))
        return dict(document)

    def current(self, name: str) -> dict[str, Any]:
        return self._read(name)

    def put(self, name: str, document: dict[str, Any]) -> None:
        self._iam.put_role_policy(RoleName=self.role_name, PolicyName=name, PolicyDocument=json.dumps(for_emulator(document)))

    def restore(self) -> None:
        """Every inline policy as deployed (plus the emulator aliases)."""
        for name, document in self.deployed.items():
            self.put(name, document)

    def statement_policy(self) -> str:
        """The name of the inline policy that holds the template's Sid-named statements."""
        named = [name for name, doc in self.deployed.items() if any("Sid" in s for s in as_list(doc["Statement"]))]
        assert len(named) == 1, f"expected one policy with the template's statements in {self.role_name}: {self.deployed}"
        return named[0]


def role_name_of(lambda_client: Any, function_name: str) -> str:
    return str(lambda_client.get_function_configuration(FunctionName=function_name)["Role"]).rsplit("/", 1)[-1]
