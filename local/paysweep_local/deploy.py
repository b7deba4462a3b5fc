"""Deploy the real ``template.yaml`` into the emulator, the way SAM + CloudFormation would.

Why each step exists:

* moto's CloudFormation ignores the SAM transform, so the template is translated here with
  the same ``samtranslator`` that AWS runs, after local ``CodeUri``/``ContentUri`` folders are
  zipped and uploaded to the emulator's S3 (what ``sam deploy`` does).
* moto's CloudFormation silently skips resource types it has no model for (schedules, alarms,
  subscriptions, policies...). Those are taken out of the stack and created explicitly with
  the matching API (:data:`PROVISIONERS`), with their intrinsic functions resolved against the
  parameters, conditions and the stack's resources, so nothing the product relies on is
  quietly missing. A type with neither a moto model nor a provisioner stops the deploy.

Nothing here names a logical id of ``template.yaml``: it works from whatever the template holds.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import os
import re
import secrets
import string
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from paysweep_local.emulator import REGION, Emulator

PSEUDO_PARAMETERS = (
    "AWS::AccountId",
    "AWS::Region",
    "AWS::Partition",
    "AWS::StackName",
    "AWS::StackId",
    "AWS::URLSuffix",
    "AWS::NotificationARNs",
    "AWS::NoValue",
)
NO_VALUE = object()
"""What `Ref AWS::NoValue` resolves to: the enclosing property is dropped."""

LOCAL_CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Lambda::Function": "Code",
    "AWS::Lambda::LayerVersion": "Content",
}
"""Where a resource names a local folder that `sam deploy` would zip and upload."""

ZIP_EXCLUDES = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")


class DeployError(RuntimeError):
    """The template cannot be deployed into the emulator as it stands."""


# ----------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionInfo:
    """A deployed function: what Lambda was told (read back from the emulator) and its local code."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    handler: str
    environment: dict[str, str]
    timeout_seconds: int
    memory_mb: int
    runtime: str
    reserved_concurrency: int | None = None


class Schedule(NamedTuple):
    """An EventBridge Scheduler schedule as the emulator's scheduler API reports it."""

    name: str
    target_arn: str
    input: str
    expression: str


@dataclass
class DeployedStack:
    """Everything a test or the demo needs to know about a deployed stack."""

    stack_name: str
    stack_id: str
    parameters: dict[str, str]
    outputs: dict[str, str]
    physical_ids: dict[str, str]
    resource_types: dict[str, str]
    functions: dict[str, FunctionInfo]
    schedules: list[Schedule]
    schedule_details: dict[str, dict[str, Any]]
    alarms: dict[str, dict[str, Any]]
    topics: dict[str, str]
    tables: dict[str, str]
    queues: dict[str, str]
    explicitly_provisioned: dict[str, str]
    """Logical id -> type of every resource created by a provisioner instead of moto's CloudFormation."""
    skipped: dict[str, str]
    """Logical id -> reason, for resources not created (a false Condition)."""
    template: dict[str, Any] = field(repr=False)
    """The translated (plain CloudFormation) template."""
    completed_properties: dict[str, list[str]] = field(default_factory=dict)
    """Logical id -> properties moto's CloudFormation ignored and the deployer applied by API."""

    def function(self, code_folder: str) -> FunctionInfo:
        """The function whose code lives in a folder with this name (e.g. "teemopay")."""
        found = [info for info in self.functions.values() if info.code_dir.name == code_folder]
        if len(found) != 1:
            raise KeyError(f"{len(found)} functions have their code in a folder named {code_folder!r}")
        return found[0]

    def explicit_report(self) -> str:
        """Human-readable list of what moto's CloudFormation could not create and we did."""
        by_type: dict[str, list[str]] = {}
        for logical_id, kind in sorted(self.explicitly_provisioned.items()):
            by_type.setdefault(kind, []).append(logical_id)
        lines = [f"  {kind}: {', '.join(ids)}" for kind, ids in sorted(by_type.items())]
        lines += [f"  (skipped {logical_id}: {why})" for logical_id, why in sorted(self.skipped.items())]
        return "provisioned outside CloudFormation (moto has no model for them):\n" + "\n".join(lines)


# ----------------------------------------------------------------------------------------
# Secrets
# ----------------------------------------------------------------------------------------


def create_secret(emulator: Emulator, name: str, value: Mapping[str, Any]) -> str:
    """Create (or overwrite) a JSON secret in the emulator and return its ARN."""
    client = emulator.client("secretsmanager")
    try:
        return str(client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=json.dumps(value))
        return str(client.describe_secret(SecretId=name)["ARN"])


# ----------------------------------------------------------------------------------------
# Packaging: local folders -> zips in the emulator's S3
# ----------------------------------------------------------------------------------------


def zip_folder(folder: Path) -> bytes:
    """A deterministic zip of a folder (sorted, fixed timestamps), so its hash names its content."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if path.is_dir() or path.suffix == ".pyc" or any(part in ZIP_EXCLUDES for part in relative.parts):
                continue
            info = zipfile.ZipInfo(relative.as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def code_sha256(data: bytes) -> str:
    """Lambda's CodeSha256: base64 of the zip's SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass
class Packager:
    """Uploads local code folders and remembers which zip (by CodeSha256) came from where."""

    emulator: Emulator
    bucket: str
    base_dir: Path
    folders_by_sha: dict[str, Path] = field(default_factory=dict)

    def ensure_bucket(self) -> None:
        s3 = self.emulator.client("s3")
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if self.bucket not in existing:
            s3.create_bucket(Bucket=self.bucket)

    def upload(self, logical_id: str, folder_text: str) -> tuple[str, str]:
        folder = (self.base_dir / folder_text).resolve()
        if not folder.is_dir():
            raise DeployError(f"{logical_id}: code folder {folder} does not exist")
        data = zip_folder(folder)
        key = f"{logical_id}/{hashlib.sha256(data).hexdigest()}.zip"
        self.emulator.client("s3").put_object(Bucket=self.bucket, Key=key, Body=data)
        self.folders_by_sha[code_sha256(data)] = folder
        return self.bucket, key

    def package(self, template: dict[str, Any]) -> None:
        """Replace every local code folder in the (SAM) template by the S3 location of its zip."""
        self.ensure_bucket()
        globals_function = template.get("Globals", {}).get("Function", {})
        if _is_local(globals_function.get("CodeUri")):
            bucket, key = self.upload("Globals", globals_function["CodeUri"])
            globals_function["CodeUri"] = f"s3://{bucket}/{key}"
        for logical_id, resource in template.get("Resources", {}).items():
            prop = LOCAL_CODE_PROPERTIES.get(resource.get("Type", ""))
            properties = resource.get("Properties") or {}
            if prop is None or not _is_local(properties.get(prop)):
                continue
            bucket, key = self.upload(logical_id, properties[prop])
            if resource["Type"].startswith("AWS::Serverless::"):
                properties[prop] = f"s3://{bucket}/{key}"
            else:
                properties[prop] = {"S3Bucket": bucket, "S3Key": key}


def _is_local(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith("s3://")


# ----------------------------------------------------------------------------------------
# SAM translation
# ----------------------------------------------------------------------------------------


@contextmanager
def _region_env() -> Iterator[None]:
    """samtranslator reads the region from the environment; give it ours for the call only."""
    saved = {name: os.environ.get(name) for name in ("AWS_DEFAULT_REGION", "AWS_REGION")}
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = REGION
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def translate(template: dict[str, Any], parameters: Mapping[str, str], emulator: Emulator) -> dict[str, Any]:
    """The SAM transform, as AWS runs it (managed policy names resolved against the emulator's IAM)."""
    if "Transform" not in template:
        return template
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    with _region_env():
        try:
            return transform(
                copy.deepcopy(template), dict(parameters), ManagedPolicyLoader(emulator.client("iam"))
            )
        except Exception as error:  # samtranslator raises InvalidDocumentException and friends
            causes = getattr(error, "causes", None) or []
            details = "; ".join(str(getattr(cause, "message", cause)) for cause in causes)
            raise DeployError(f"SAM transform failed: {error} {details}".strip()) from error


# ----------------------------------------------------------------------------------------
# Splitting the template: what moto's CloudFormation can create, and what it would skip
# ----------------------------------------------------------------------------------------


def is_supported(resource_type: str, supported: frozenset[str]) -> bool:
    """Whether moto's CloudFormation creates this type (it skips every other type silently)."""
    return resource_type.startswith("Custom::") or resource_type in supported


def references(node: Any) -> set[str]:
    """Logical names a template fragment refers to (Ref, GetAtt, Sub, DependsOn)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value.split(".")[0] if isinstance(value, str) else value[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                if not isinstance(value, str):
                    found |= references(value[1])
            elif key == "DependsOn":
                found |= {value} if isinstance(value, str) else set(value)
            else:
                found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def split_template(
    template: dict[str, Any],
    supported: frozenset[str],
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(stack template without unsupported resources, the unsupported resources by logical id)."""
    resources = template.get("Resources", {})
    explicit = {
        lid: res for lid, res in resources.items() if not is_supported(res.get("Type", ""), supported)
    }
    missing = sorted({res["Type"] for res in explicit.values()} - set(PROVISIONERS))
    if missing:
        raise DeployError(
            f"moto's CloudFormation cannot create {missing} and no provisioner exists for them; "
            "add one to paysweep_local.deploy.PROVISIONERS"
        )
    stack = copy.deepcopy(template)
    stack["Resources"] = {lid: res for lid, res in resources.items() if lid not in explicit}
    for lid, res in stack["Resources"].items():
        used = references(res) & set(explicit)
        if used:
            raise DeployError(
                f"{lid} ({res['Type']}) refers to {sorted(used)}, which moto's CloudFormation "
                "cannot create; the stack would be wrong"
            )
    stack["Outputs"] = {
        k: v for k, v in template.get("Outputs", {}).items() if not references(v) & set(explicit)
    }
    return stack, explicit


# ----------------------------------------------------------------------------------------
# Resolving intrinsic functions against the deployed stack
# ----------------------------------------------------------------------------------------

AttributeReader = Callable[[Emulator, str, str], Any]


def _lambda_arn(emulator: Emulator, physical_id: str, attribute: str) -> Any:
    return emulator.client("lambda").get_function_configuration(FunctionName=physical_id)["FunctionArn"]


def _role_attribute(emulator: Emulator, physical_id: str, attribute: str) -> Any:
    role = emulator.client("iam").get_role(RoleName=physical_id)["Role"]
    return {"Arn": role["Arn"], "RoleId": role["RoleId"]}[attribute]


def _queue_attribute(emulator: Emulator, physical_id: str, attribute: str) -> Any:
    if attribute == "QueueName":
        return physical_id.rstrip("/").rsplit("/", 1)[-1]
    if attribute == "QueueUrl":
        return physical_id
    attrs = emulator.client("sqs").get_queue_attributes(QueueUrl=physical_id, AttributeNames=["QueueArn"])
    return attrs["Attributes"]["QueueArn"]


def _topic_attribute(emulator: Emulator, physical_id: str, attribute: str) -> Any:
    return physical_id if attribute == "TopicArn" else physical_id.rsplit(":", 1)[-1]


def _table_attribute(emulator: Emulator, physical_id: str, attribute: str) -> Any:
    table = emulator.client("dynamodb").describe_table(TableName=physical_id)["Table"]
    return {"Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn")}[attribute]


def _key_attribute(emulator: Emulator, physical_id: str, attribute: str) -> Any:
    key = emulator.client("kms").describe_key(KeyId=physical_id)["KeyMetadata"]
    return {"Arn": key["Arn"], "KeyId": key["KeyId"]}[attribute]


def _log_group_attribute(emulator: Emulator, physical_id: str, attribute: str) -> Any:
    groups = emulator.client("logs").describe_log_groups(logGroupNamePrefix=physical_id)["logGroups"]
    arn = next(group["arn"] for group in groups if group["logGroupName"] == physical_id)
    return arn.removesuffix(":*") if attribute == "Arn" else arn


def _schedule_attribute(emulator: Emulator, physical_id: str, attribute: str) -> Any:
    return emulator.client("scheduler").get_schedule(Name=physical_id)[attribute]


def _alarm_attribute(emulator: Emulator, physical_id: str, attribute: str) -> Any:
    alarms = emulator.client("cloudwatch").describe_alarms(AlarmNames=[physical_id])
    alarm = (alarms.get("MetricAlarms") or alarms.get("CompositeAlarms"))[0]
    return {"Arn": alarm["AlarmArn"]}[attribute]


ATTRIBUTE_READERS: dict[str, AttributeReader] = {
    "AWS::Lambda::Function": _lambda_arn,
    "AWS::IAM::Role": _role_attribute,
    "AWS::SQS::Queue": _queue_attribute,
    "AWS::SNS::Topic": _topic_attribute,
    "AWS::DynamoDB::Table": _table_attribute,
    "AWS::KMS::Key": _key_attribute,
    "AWS::Logs::LogGroup": _log_group_attribute,
    "AWS::Scheduler::Schedule": _schedule_attribute,
    "AWS::CloudWatch::Alarm": _alarm_attribute,
}
"""Fn::GetAtt, read back through the emulator's describe APIs (for resources of the stack or provisioned)."""


@dataclass
class Resolver:
    """Evaluates Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Join... against the deployed stack."""

    emulator: Emulator
    template: dict[str, Any]
    parameters: dict[str, Any]
    physical_ids: dict[str, str]
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical_ids:
            return self.physical_ids[name]
        raise DeployError(f"Ref to {name!r}: no such parameter or created resource")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if (logical_id, attribute) in self.attributes:
            return self.attributes[(logical_id, attribute)]
        kind = self.template["Resources"].get(logical_id, {}).get("Type")
        reader = ATTRIBUTE_READERS.get(kind or "")
        physical_id = self.physical_ids.get(logical_id)
        if physical_id is None or reader is None:
            raise DeployError(f"cannot resolve Fn::GetAtt {logical_id}.{attribute} ({kind})")
        value = self.attributes[(logical_id, attribute)] = reader(self.emulator, physical_id, attribute)
        return value

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".")[0] not in self.parameters:
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, node: Any) -> Any:
        """The node with every intrinsic function evaluated (AWS::NoValue entries dropped)."""
        if isinstance(node, list):
            return [item for item in (self.resolve(x) for x in node) if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            function = self.FUNCTIONS.get(key)
            if function is not None and (key != "Condition" or isinstance(value, str)):
                return function(self, value)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def _get_att(self, value: Any) -> Any:
        logical_id, attribute = value.split(".", 1) if isinstance(value, str) else value
        return self.get_att(logical_id, self.resolve(attribute))

    def _sub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.sub(value, {})
        return self.sub(value[0], self.resolve(value[1]))

    def _if(self, value: Any) -> Any:
        name, when_true, when_false = value
        return self.resolve(when_true if self.condition(name) else when_false)

    def _join(self, value: Any) -> Any:
        separator, items = value
        return separator.join(str(item) for item in self.resolve(items))

    def _select(self, value: Any) -> Any:
        index, items = self.resolve(value)
        return items[int(index)]

    def _split(self, value: Any) -> Any:
        separator, text = self.resolve(value)
        return text.split(separator)

    def _find_in_map(self, value: Any) -> Any:
        name, top, second = self.resolve(value)
        return self.template["Mappings"][name][top][second]

    def _equals(self, value: Any) -> Any:
        left, right = self.resolve(value)
        return str(left) == str(right)

    FUNCTIONS: ClassVar[dict[str, Callable[[Resolver, Any], Any]]] = {
        "Ref": lambda self, value: self.ref(value),
        "Fn::GetAtt": _get_att,
        "Fn::Sub": _sub,
        "Fn::If": _if,
        "Fn::Join": _join,
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::FindInMap": _find_in_map,
        "Fn::Base64": lambda self, value: base64.b64encode(str(self.resolve(value)).encode()).decode(),
        "Fn::ToJsonString": lambda self, value: json.dumps(self.resolve(value)),
        "Fn::Equals": _equals,
        "Fn::Not": lambda self, value: not self.resolve(value)[0],
        "Fn::And": lambda self, value: all(self.resolve(value)),
        "Fn::Or": lambda self, value: any(self.resolve(value)),
        "Condition": lambda self, value: self.condition(value),
    }


# ----------------------------------------------------------------------------------------
# Provisioners for the types moto's CloudFormation skips
# ----------------------------------------------------------------------------------------


def generated_name(stack_name: str, logical_id: str, max_length: int = 64) -> str:
    """A physical name the way CloudFormation makes one: stack-logicalId-RANDOMSUFFIX."""
    suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12))
    room = max_length - len(suffix) - 2
    stack_part = stack_name[: max(room // 2, room - len(logical_id))]
    logical_part = logical_id[: room - len(stack_part)]
    return f"{stack_part}-{logical_part}-{suffix}"


def coerce(shape: Any, value: Any) -> Any:
    """A resolved CloudFormation value converted to the type botocore's API model expects.

    CloudFormation passes numbers and booleans around as strings (a Ref to a Number
    parameter is "900"); botocore validates types strictly.
    """
    kind = shape.type_name
    if kind == "structure":
        unknown = set(value) - set(shape.members)
        if unknown:
            raise DeployError(f"properties {sorted(unknown)} are not fields of {shape.name}")
        return {key: coerce(shape.members[key], item) for key, item in value.items()}
    if kind == "list":
        return [coerce(shape.member, item) for item in value]
    if kind == "map":
        return {key: coerce(shape.value, item) for key, item in value.items()}
    if kind in ("integer", "long"):
        return int(float(value))
    if kind in ("double", "float"):
        return float(value)
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if kind == "string" and isinstance(value, dict | list):
        return json.dumps(value)
    if kind == "string":
        return str(value)
    return value


def call_api(client: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Call an API operation with parameters coerced to its input shape."""
    from botocore import xform_name

    shape = client.meta.service_model.operation_model(operation).input_shape
    return dict(getattr(client, xform_name(operation))(**coerce(shape, params)))


@dataclass
class ProvisionContext:
    emulator: Emulator
    stack_name: str
    logical_id: str


Provisioner = Callable[[ProvisionContext, dict[str, Any]], str]
"""Creates one resource from its resolved properties; returns its physical id (what Ref gives)."""


def provision_schedule(ctx: ProvisionContext, props: dict[str, Any]) -> str:
    props.setdefault("Name", generated_name(ctx.stack_name, ctx.logical_id))
    call_api(ctx.emulator.client("scheduler"), "CreateSchedule", props)
    return str(props["Name"])


def provision_schedule_group(ctx: ProvisionContext, props: dict[str, Any]) -> str:
    props.setdefault("Name", generated_name(ctx.stack_name, ctx.logical_id))
    call_api(ctx.emulator.client("scheduler"), "CreateScheduleGroup", props)
    return str(props["Name"])


def provision_alarm(ctx: ProvisionContext, props: dict[str, Any]) -> str:
    props.setdefault("AlarmName", generated_name(ctx.stack_name, ctx.logical_id, 255))
    call_api(ctx.emulator.client("cloudwatch"), "PutMetricAlarm", props)
    return str(props["AlarmName"])


def provision_composite_alarm(ctx: ProvisionContext, props: dict[str, Any]) -> str:
    props.setdefault("AlarmName", generated_name(ctx.stack_name, ctx.logical_id, 255))
    call_api(ctx.emulator.client("cloudwatch"), "PutCompositeAlarm", props)
    return str(props["AlarmName"])


def provision_subscription(ctx: ProvisionContext, props: dict[str, Any]) -> str:
    params = {key: props.pop(key) for key in ("TopicArn", "Protocol", "Endpoint") if key in props}
    props.pop("Region", None)
    attributes = {
        key: (
            json.dumps(value)
            if isinstance(value, dict | list)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
        )
        for key, value in props.items()
    }
    answer = call_api(
        ctx.emulator.client("sns"),
        "Subscribe",
        {**params, "Attributes": attributes, "ReturnSubscriptionArn": True},
    )
    return str(answer["SubscriptionArn"])


def provision_topic_policy(ctx: ProvisionContext, props: dict[str, Any]) -> str:
    for topic_arn in props["Topics"]:
        call_api(
            ctx.emulator.client("sns"),
            "SetTopicAttributes",
            {"TopicArn": topic_arn, "AttributeName": "Policy", "AttributeValue": props["PolicyDocument"]},
        )
    return generated_name(ctx.stack_name, ctx.logical_id)


def provision_queue_policy(ctx: ProvisionContext, props: dict[str, Any]) -> str:
    for queue_url in props["Queues"]:
        call_api(
            ctx.emulator.client("sqs"),
            "SetQueueAttributes",
            {"QueueUrl": queue_url, "Attributes": {"Policy": props["PolicyDocument"]}},
        )
    return generated_name(ctx.stack_name, ctx.logical_id)


def _camel(node: Any) -> Any:
    """CloudFormation's PascalCase property names to the Logs API's camelCase."""
    if isinstance(node, dict):
        return {key[:1].lower() + key[1:]: _camel(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_camel(item) for item in node]
    return node


def provision_metric_filter(ctx: ProvisionContext, props: dict[str, Any]) -> str:
    props.setdefault("FilterName", generated_name(ctx.stack_name, ctx.logical_id, 512))
    call_api(ctx.emulator.client("logs"), "PutMetricFilter", _camel(props))
    return str(props["FilterName"])


def provision_event_invoke_config(ctx: ProvisionContext, props: dict[str, Any]) -> str:
    call_api(ctx.emulator.client("lambda"), "PutFunctionEventInvokeConfig", props)
    return f"{props['FunctionName']}:{props.get('Qualifier', '$LATEST')}"


PROVISIONERS: dict[str, Provisioner] = {
    "AWS::Scheduler::Schedule": provision_schedule,
    "AWS::Scheduler::ScheduleGroup": provision_schedule_group,
    "AWS::CloudWatch::Alarm": provision_alarm,
    "AWS::CloudWatch::CompositeAlarm": provision_composite_alarm,
    "AWS::SNS::Subscription": provision_subscription,
    "AWS::SNS::TopicPolicy": provision_topic_policy,
    "AWS::SQS::QueuePolicy": provision_queue_policy,
    "AWS::Logs::MetricFilter": provision_metric_filter,
    "AWS::Lambda::EventInvokeConfig": provision_event_invoke_config,
}
"""Resource type -> how to create it through the emulator's API when moto's CloudFormation cannot."""

EXPLICITLY_PROVISIONED_TYPES = frozenset(PROVISIONERS)


def creation_order(resources: dict[str, dict[str, Any]]) -> list[str]:
    """Explicit resources sorted so that any that refer to another come after it."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in ordered:
            return
        if logical_id in visiting:
            raise DeployError(f"circular reference through {logical_id}")
        visiting.add(logical_id)
        for other in sorted(references(resources[logical_id]) & set(resources)):
            visit(other)
        visiting.discard(logical_id)
        ordered.append(logical_id)

    for logical_id in sorted(resources):
        visit(logical_id)
    return ordered


def provision_explicitly(
    resolver: Resolver,
    stack_name: str,
    resources: dict[str, dict[str, Any]],
) -> tuple[dict[str, str], dict[str, str]]:
    """Create the resources moto skips; returns (created logical id -> type, skipped -> reason)."""
    created: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for logical_id in creation_order(resources):
        resource = resources[logical_id]
        condition = resource.get("Condition")
        if condition and not resolver.condition(condition):
            skipped[logical_id] = f"condition {condition} is false"
            continue
        props = resolver.resolve(resource.get("Properties", {}))
        context = ProvisionContext(resolver.emulator, stack_name, logical_id)
        try:
            resolver.physical_ids[logical_id] = PROVISIONERS[resource["Type"]](context, props)
        except DeployError:
            raise
        except Exception as error:
            raise DeployError(f"{logical_id} ({resource['Type']}): {error}") from error
        created[logical_id] = resource["Type"]
    return created, skipped


# ----------------------------------------------------------------------------------------
# Properties moto's CloudFormation accepts but ignores on types it does support
# ----------------------------------------------------------------------------------------

Completer = Callable[[Emulator, str, Any], None]
"""Applies one ignored property (resolved value) to the resource with this physical id."""


def _function_layers(emulator: Emulator, physical_id: str, value: Any) -> None:
    call_api(
        emulator.client("lambda"),
        "UpdateFunctionConfiguration",
        {"FunctionName": physical_id, "Layers": value},
    )


def _table_ttl(emulator: Emulator, physical_id: str, value: Any) -> None:
    call_api(
        emulator.client("dynamodb"),
        "UpdateTimeToLive",
        {"TableName": physical_id, "TimeToLiveSpecification": {"Enabled": True, **value}},
    )


def _table_pitr(emulator: Emulator, physical_id: str, value: Any) -> None:
    call_api(
        emulator.client("dynamodb"),
        "UpdateContinuousBackups",
        {"TableName": physical_id, "PointInTimeRecoverySpecification": value},
    )


PROPERTY_COMPLETERS: dict[tuple[str, str], Completer] = {
    ("AWS::Lambda::Function", "Layers"): _function_layers,
    ("AWS::DynamoDB::Table", "TimeToLiveSpecification"): _table_ttl,
    ("AWS::DynamoDB::Table", "PointInTimeRecoverySpecification"): _table_pitr,
}
"""(type, property) moto's CloudFormation drops, and the API call that applies it afterwards.

Layers matter most: without them the deployed function would not name its layer.
"""


def complete_properties(resolver: Resolver, stack_template: dict[str, Any]) -> dict[str, list[str]]:
    """Apply the properties moto ignored; returns logical id -> properties applied."""
    completed: dict[str, list[str]] = {}
    for logical_id, resource in stack_template["Resources"].items():
        properties = resource.get("Properties") or {}
        for (kind, prop), completer in PROPERTY_COMPLETERS.items():
            if (
                resource.get("Type") != kind
                or prop not in properties
                or logical_id not in resolver.physical_ids
            ):
                continue
            value = resolver.resolve(properties[prop])
            if value is NO_VALUE:
                continue
            completer(resolver.emulator, resolver.physical_ids[logical_id], value)
            completed.setdefault(logical_id, []).append(prop)
    return completed


# ----------------------------------------------------------------------------------------
# The CloudFormation stack itself
# ----------------------------------------------------------------------------------------


def stack_parameters(template: dict[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """Given values plus template defaults; unknown or missing names stop the deploy."""
    declared = template.get("Parameters", {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise DeployError(f"parameters {unknown} are not declared in the template")
    values = {name: str(spec["Default"]) for name, spec in declared.items() if "Default" in spec}
    values.update({name: str(value) for name, value in given.items()})
    missing = sorted(set(declared) - set(values))
    if missing:
        raise DeployError(f"parameters {missing} have no default and were not given")
    return values


def create_stack(
    emulator: Emulator, stack_name: str, template: dict[str, Any], parameters: dict[str, str], bucket: str
) -> dict[str, Any]:
    """create_stack and wait for it; a failure raises with every resource's status reason."""
    cloudformation = emulator.client("cloudformation")
    body = json.dumps(template)
    source: dict[str, str] = {"TemplateBody": body}
    if len(body) > 51_200:  # CloudFormation's TemplateBody limit: go through S3 as AWS requires
        emulator.client("s3").put_object(Bucket=bucket, Key=f"{stack_name}.template.json", Body=body.encode())
        source = {"TemplateURL": f"https://{bucket}.s3.amazonaws.com/{stack_name}.template.json"}
    declared = template.get("Parameters", {})
    cloudformation.create_stack(
        StackName=stack_name,
        **source,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items() if k in declared],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    waiter = cloudformation.get_waiter("stack_create_complete")
    try:
        waiter.wait(StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    except Exception as error:
        raise DeployError(
            f"stack {stack_name} failed: {stack_failure(cloudformation, stack_name)}"
        ) from error
    return dict(cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0])


def stack_failure(cloudformation: Any, stack_name: str) -> str:
    events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
    reasons = [
        f"{e['LogicalResourceId']} {e['ResourceStatus']}: {e.get('ResourceStatusReason', '')}"
        for e in events
        if "FAILED" in e["ResourceStatus"]
    ]
    return "; ".join(reasons) or "no resource reported a reason"


def stack_physical_ids(emulator: Emulator, stack_name: str) -> tuple[dict[str, str], dict[str, str]]:
    """(logical id -> physical id, logical id -> type) of everything the stack created."""
    paginator = emulator.client("cloudformation").get_paginator("list_stack_resources")
    ids: dict[str, str] = {}
    types: dict[str, str] = {}
    for page in paginator.paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            ids[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId", "")
            types[summary["LogicalResourceId"]] = summary["ResourceType"]
    fill_layer_ids(emulator, stack_name, ids, types)
    return ids, types


def fill_layer_ids(emulator: Emulator, stack_name: str, ids: dict[str, str], types: dict[str, str]) -> None:
    """moto reports no physical id for layer versions; find the version ARN by the generated name."""
    missing = [lid for lid, kind in types.items() if kind == "AWS::Lambda::LayerVersion" and not ids.get(lid)]
    if not missing:
        return
    layers = emulator.client("lambda").list_layers()["Layers"]
    for logical_id in missing:
        for layer in layers:
            if layer["LayerName"].startswith(f"{stack_name}-{logical_id}-"):
                ids[logical_id] = layer["LatestMatchingVersion"]["LayerVersionArn"]


# ----------------------------------------------------------------------------------------
# Reading the deployed stack back
# ----------------------------------------------------------------------------------------


def read_function(
    emulator: Emulator, logical_id: str, name: str, folders_by_sha: dict[str, Path]
) -> FunctionInfo:
    """What Lambda holds for a function, with its code and layers mapped back to local folders.

    The mapping is by CodeSha256, so it also proves the emulator holds the zips we built.
    Environment values are strings, as Lambda gives them (moto keeps Number parameters as numbers).
    """
    client = emulator.client("lambda")
    config = client.get_function_configuration(FunctionName=name)
    code_dir = folders_by_sha.get(config["CodeSha256"])
    if code_dir is None:
        raise DeployError(f"{logical_id}: deployed code matches no uploaded folder")
    layer_dirs = []
    for layer in config.get("Layers", []):
        layer_name, version = layer["Arn"].rsplit(":", 1)  # moto lacks GetLayerVersionByArn
        sha = client.get_layer_version(LayerName=layer_name, VersionNumber=int(version))["Content"][
            "CodeSha256"
        ]
        if sha not in folders_by_sha:
            raise DeployError(f"{logical_id}: layer {layer['Arn']} matches no uploaded folder")
        layer_dirs.append(folders_by_sha[sha])
    concurrency = client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
    variables = config.get("Environment", {}).get("Variables", {})
    return FunctionInfo(
        logical_id=logical_id,
        name=name,
        arn=config["FunctionArn"],
        code_dir=code_dir,
        layer_dirs=tuple(layer_dirs),
        handler=config["Handler"],
        environment={key: str(value) for key, value in variables.items()},
        timeout_seconds=int(config["Timeout"]),
        memory_mb=int(config["MemorySize"]),
        runtime=config.get("Runtime", ""),
        reserved_concurrency=concurrency,
    )


def read_schedules(
    emulator: Emulator, template: dict[str, Any], physical_ids: dict[str, str], created: dict[str, str]
) -> tuple[list[Schedule], dict[str, dict[str, Any]]]:
    client = emulator.client("scheduler")
    schedules, details = [], {}
    for logical_id, kind in created.items():
        if kind != "AWS::Scheduler::Schedule":
            continue
        group = template["Resources"][logical_id].get("Properties", {}).get("GroupName")
        answer = client.get_schedule(Name=physical_ids[logical_id], **({"GroupName": group} if group else {}))
        answer.pop("ResponseMetadata", None)
        target = answer["Target"]
        schedules.append(
            Schedule(answer["Name"], target["Arn"], target.get("Input", ""), answer["ScheduleExpression"])
        )
        details[answer["Name"]] = answer
    return schedules, details


def read_alarms(
    emulator: Emulator, physical_ids: dict[str, str], created: dict[str, str]
) -> dict[str, dict[str, Any]]:
    names = {physical_ids[lid]: lid for lid, kind in created.items() if kind.startswith("AWS::CloudWatch::")}
    alarms: dict[str, dict[str, Any]] = {}
    paginator = emulator.client("cloudwatch").get_paginator("describe_alarms")
    for page in paginator.paginate(AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            if alarm["AlarmName"] in names:
                alarms[names[alarm["AlarmName"]]] = alarm
    return alarms


def of_type(types: dict[str, str], ids: dict[str, str], kind: str) -> dict[str, str]:
    return {lid: ids[lid] for lid, t in types.items() if t == kind}


# ----------------------------------------------------------------------------------------
# The entry point
# ----------------------------------------------------------------------------------------


def load_template(path: Path) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return dict(yaml_parse(path.read_text()))


def deploy_stack(
    emulator: Emulator,
    *,
    template_path: str | Path = "template.yaml",
    parameters: Mapping[str, str] | None = None,
    stack_name: str = "paysweep",
) -> DeployedStack:
    """Package, translate and deploy a SAM template into the emulator; read everything back."""
    path = Path(template_path).resolve()
    sam_template = load_template(path)
    values = stack_parameters(sam_template, parameters or {})
    packager = Packager(emulator, f"{stack_name.lower()}-local-artifacts", path.parent)
    packager.package(sam_template)
    template = translate(sam_template, values, emulator)
    stack_template, explicit = split_template(template, emulator.cloudformation_types())
    choose_policy_branches(Resolver(emulator, template, dict(values), {}), stack_template)
    stack = create_stack(emulator, stack_name, stack_template, values, packager.bucket)
    ids, types = stack_physical_ids(emulator, stack_name)
    resolver = Resolver(emulator, template, {**pseudo_parameters(stack), **values}, ids)
    completed = complete_properties(resolver, stack_template)
    created, skipped = provision_explicitly(resolver, stack_name, explicit)
    types.update(created)
    deployed = read_back(
        emulator, stack, template, values, resolver, types, created, skipped, packager.folders_by_sha
    )
    deployed.completed_properties = completed
    return deployed


def choose_policy_branches(resolver: Resolver, stack_template: dict[str, Any]) -> None:
    """Resolve `Fn::If` entries of IAM roles' policy lists before the emulator sees them.

    moto's CloudFormation expects every entry of `Policies` to be a policy and fails on a
    conditional one (the template grants the topics' customer key only when one is given);
    conditions depend on parameters alone, so the branch is chosen here as AWS would.
    """
    for resource in stack_template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        properties = resource.get("Properties", {})
        chosen = []
        for policy in properties.get("Policies", []):
            if isinstance(policy, dict) and "Fn::If" in policy:
                name, when_true, when_false = policy["Fn::If"]
                policy = when_true if resolver.condition(name) else when_false
                if policy == {"Ref": "AWS::NoValue"}:
                    continue
            chosen.append(policy)
        if "Policies" in properties:
            properties["Policies"] = chosen


def pseudo_parameters(stack: dict[str, Any]) -> dict[str, Any]:
    arn_parts = stack["StackId"].split(":")
    return {
        "AWS::AccountId": arn_parts[4],
        "AWS::Region": arn_parts[3],
        "AWS::Partition": arn_parts[1],
        "AWS::StackName": stack["StackName"],
        "AWS::StackId": stack["StackId"],
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NotificationARNs": [],
    }


def read_back(
    emulator: Emulator,
    stack: dict[str, Any],
    template: dict[str, Any],
    values: dict[str, str],
    resolver: Resolver,
    types: dict[str, str],
    created: dict[str, str],
    skipped: dict[str, str],
    folders_by_sha: dict[str, Path],
) -> DeployedStack:
    ids = resolver.physical_ids
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    for key, output in template.get("Outputs", {}).items():
        if key not in outputs and (not output.get("Condition") or resolver.condition(output["Condition"])):
            outputs[key] = str(resolver.resolve(output["Value"]))
    functions = {
        lid: read_function(emulator, lid, name, folders_by_sha)
        for lid, name in of_type(types, ids, "AWS::Lambda::Function").items()
    }
    schedules, details = read_schedules(emulator, template, ids, created)
    return DeployedStack(
        stack_name=stack["StackName"],
        stack_id=stack["StackId"],
        parameters=values,
        outputs=outputs,
        physical_ids=dict(ids),
        resource_types=dict(types),
        functions=functions,
        schedules=schedules,
        schedule_details=details,
        alarms=read_alarms(emulator, ids, created),
        topics=of_type(types, ids, "AWS::SNS::Topic"),
        tables=of_type(types, ids, "AWS::DynamoDB::Table"),
        queues=of_type(types, ids, "AWS::SQS::Queue"),
        explicitly_provisioned=created,
        skipped=skipped,
        template=template,
    )
