"""Security scanners find nothing, and every check they skip is justified and documented.

* bandit (product venv) on the Lambda code, layers/ and functions/, with pyproject.toml's
  [tool.bandit] settings. Exceptions are inline `# nosec Bxxx  # reason` comments.
* checkov (its own tool env) on template.yaml with .checkov.yaml. checkov's cloudformation
  framework reads SAM templates directly (AWS::Serverless::Function gets the Lambda checks,
  Globals are merged) but does not run the SAM transform, so the IAM roles, dead-letter queues
  and schedules SAM generates would go unchecked: the SAM-translated template is scanned too.
  (`--framework serverless` is the Serverless Framework's serverless.yml, not SAM.)
* the README's skipped-checks section lists every skipped check of checkov, bandit and cfn-lint, one table
  row each, and nothing else; each .checkov.yaml skip carries its reason; a checkov skip whose
  check no longer fails anywhere is stale and must go.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from template_support import REPO, TEMPLATE, checkov_cli, describe, resources_of_type, run, venv_tool, walk

DOCS = REPO / "README.md"
SKIPS_HEADING = "### Security scans: every skipped check"
CHECKOV_CONFIG = REPO / ".checkov.yaml"
PYPROJECT = REPO / "pyproject.toml"
LAMBDA_CODE = ("layers", "functions")
TOOLS = {"checkov", "bandit", "cfn-lint"}
MIN_REASON_WORDS = 4
IAM_POLICY_CHECKS = {"CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111"}
"""checkov's IAM policy checks (credentials exposure, exfiltration, permissions management, privilege
escalation, unconstrained writes): each must have evaluated every role SAM generates."""
NOSEC = re.compile(r"#\s*nosec\b:?\s*(?P<ids>(?:B\d{3}[\s,]*)*)(?P<rest>.*)")


# -- inventories of skips -------------------------------------------------------------------


class Nosec(NamedTuple):
    path: str
    line: int
    ids: tuple[str, ...]
    reason: str


def lambda_sources() -> list[Path]:
    return sorted(
        path
        for folder in LAMBDA_CODE
        for path in (REPO / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    )


def nosec_comments() -> list[Nosec]:
    """Every `# nosec` comment of the Lambda code (comments only, never strings)."""
    found: list[Nosec] = []
    for path in lambda_sources():
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
        for token in tokens:
            if token.type != tokenize.COMMENT:
                continue
            match = NOSEC.search(token.string)
            if match:
                # `# nosec B101  # reason` (bandit reads ids up to the second #) or `# nosec B311 - reason`
                ids = tuple(re.findall(r"B\d{3}", match.group("ids")))
                reason = match.group("rest").strip().lstrip("#-:\u2014 ").strip()
                found.append(Nosec(path.relative_to(REPO).as_posix(), token.start[0], ids, reason))
    return found


def bandit_config_skips() -> list[str]:
    settings = tomllib.loads(PYPROJECT.read_text(encoding="utf-8")).get("tool", {}).get("bandit", {})
    return list(settings.get("skips", []))


def checkov_config() -> dict[str, Any]:
    return yaml.safe_load(CHECKOV_CONFIG.read_text(encoding="utf-8")) or {}


def checkov_config_skips() -> list[str]:
    skips = checkov_config().get("skip-check") or []
    return [skips] if isinstance(skips, str) else list(skips)


def checkov_inline_skips() -> list[str]:
    """`checkov:skip=ID` comments in template.yaml."""
    return re.findall(r"checkov:skip=\s*([A-Z0-9_]+)", TEMPLATE.read_text(encoding="utf-8"))


def cfn_lint_skips(template: dict[str, Any]) -> list[str]:
    """Checks cfn-lint is told to ignore: template/resource Metadata and any .cfnlintrc."""
    found: list[str] = []
    metadata = [template.get("Metadata") or {}] + [
        body.get("Metadata") or {} for body in template["Resources"].values()
    ]
    for block in metadata:
        found += ((block.get("cfn-lint") or {}).get("config") or {}).get("ignore_checks") or []
    for name in (".cfnlintrc", ".cfnlintrc.yaml", ".cfnlintrc.yml", ".cfnlintrc.json"):
        if (REPO / name).is_file():
            found += (yaml.safe_load((REPO / name).read_text(encoding="utf-8")) or {}).get(
                "ignore_checks"
            ) or []
    return found


class Row(NamedTuple):
    tool: str
    check: str
    where: str
    reason: str


def docs_rows() -> list[Row]:
    """The skip table of the README's skipped-checks section: | Tool | Check | Where | Reason |."""
    assert DOCS.is_file(), f"{DOCS} is missing"
    text = DOCS.read_text(encoding="utf-8")
    assert SKIPS_HEADING in text, f"README.md lacks the section {SKIPS_HEADING!r}"
    section = re.split(r"\n#{1,3} ", text.split(SKIPS_HEADING, 1)[1], maxsplit=1)[0]
    rows: list[Row] = []
    for line in section.splitlines():
        if not line.lstrip().startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0].lower() == "tool" or set(cells[0]) <= set("-: "):
            continue
        tool, check, _, reason = (cell.strip("`* ") for cell in cells)
        rows.append(Row(tool.lower(), check, cells[2], reason))
    return rows


def words(text: str) -> int:
    return len(re.findall(r"[A-Za-z]{2,}", text))


# -- bandit -----------------------------------------------------------------------------------


def test_bandit_finds_nothing_in_the_lambda_code() -> None:
    result = run(
        [venv_tool("bandit"), "-c", PYPROJECT.name, "-r", *LAMBDA_CODE, "-q", "-f", "json"], timeout=300
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"bandit gave no JSON report:\n{describe(result)}", pytrace=False)
    assert not report.get("errors"), f"bandit could not scan: {report['errors']}"
    scanned = {(REPO / name).resolve() for name in report.get("metrics", {}) if name != "_totals"}
    unscanned = [str(p.relative_to(REPO)) for p in lambda_sources() if p.resolve() not in scanned]
    assert not unscanned, f"bandit skipped Lambda code (exclude_dirs in pyproject.toml?): {unscanned}"
    findings = [
        f"{r['filename']}:{r['line_number']} {r['test_id']} ({r['issue_severity']}) {r['issue_text']}"
        f"\n    {r['code'].strip()[:300]}"
        for r in report.get("results", [])
    ]
    assert not findings, (
        "bandit findings: fix them, or where one is a justified exception annotate that line with "
        "`# nosec Bxxx  # <reason>` and list it in the README's skipped-checks section:\n" + "\n".join(findings)
    )
    assert result.returncode == 0, describe(result)


def test_every_nosec_names_its_checks_and_gives_a_reason() -> None:
    bad = [f"{n.path}:{n.line}" for n in nosec_comments() if not n.ids or words(n.reason) < MIN_REASON_WORDS]
    assert not bad, (
        "each # nosec must name its bandit test ids, then give its reason, "
        f"like `# nosec B303  # TeemoPay mandates SHA1withRSA signatures`: {bad}"
    )


def test_the_product_makes_no_assert_statements() -> None:
    """No bandit B101 exception is needed, and nothing depends on Python running without -O
    (README, Security): a type that needs narrowing gets an explicit raise."""
    asserting = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for folder in ("layers", "functions")
        for path in sorted((REPO / folder).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Assert)
    ]
    assert not asserting, f"assert statements in the product: {asserting}"


# -- checkov ----------------------------------------------------------------------------------


def checkov_report(result: Any) -> dict[str, Any]:
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov gave no JSON report:\n{describe(result)}", pytrace=False)
    reports = report if isinstance(report, list) else [report]
    cloudformation = [r for r in reports if r.get("check_type") == "cloudformation"]
    assert len(cloudformation) == 1, (
        f"expected one cloudformation report, got {[r.get('check_type') for r in reports]}"
    )
    return cloudformation[0]


@pytest.fixture
def translated_file(translated: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "template.sam-translated.json"
    path.write_text(json.dumps(translated, indent=1), encoding="utf-8")
    return path


def test_checkov_config_is_offline_and_gives_a_reason_for_every_skip() -> None:
    config = checkov_config()
    assert config.get("skip-download") is True, (
        ".checkov.yaml must set skip-download: true (no platform calls)"
    )
    assert config.get("framework") in (["cloudformation"], "cloudformation"), (
        "checkov must scan as cloudformation"
    )
    lines = CHECKOV_CONFIG.read_text(encoding="utf-8").splitlines()
    unexplained = []
    for check in checkov_config_skips():
        line = next((text for text in lines if re.match(rf"\s*-\s*{re.escape(check)}\s*(#|$)", text)), "")
        reason = line.partition("#")[2]
        if words(reason) < MIN_REASON_WORDS:
            unexplained.append(check)
    assert not unexplained, f".checkov.yaml skips without a reason comment (`- ID # reason`): {unexplained}"


def test_checkov_passes_the_template_and_its_sam_translation(translated_file: Path) -> None:
    result = run(
        [checkov_cli(), "--config-file", CHECKOV_CONFIG, "-f", TEMPLATE, "-f", translated_file, "-o", "json"],
        timeout=300,
    )
    report = checkov_report(result)
    assert "prismacloud" not in result.stderr.lower(), (
        f"checkov tried to reach its platform:\n{result.stderr[-2000:]}"
    )
    summary = report["summary"]
    assert summary["parsing_errors"] == 0, f"checkov could not parse a template: {summary}"
    checked_files = {Path(c["file_abs_path"]).name for c in report["results"]["passed_checks"]}
    assert {TEMPLATE.name, translated_file.name} <= checked_files, (
        f"checkov did not check both files: {checked_files}"
    )
    roles = set(resources_of_type(json.loads(translated_file.read_text(encoding="utf-8")), "AWS::IAM::Role"))
    evaluated = Counter(
        c["resource"].removeprefix("AWS::IAM::Role.")
        for c in report["results"]["passed_checks"]
        if c["check_id"] in IAM_POLICY_CHECKS and c["resource"].startswith("AWS::IAM::Role.")
    )
    unevaluated = sorted(role for role in roles if evaluated[role] < len(IAM_POLICY_CHECKS))
    assert not unevaluated, (
        f"checkov could not evaluate the policies of {unevaluated} (an intrinsic function inside a statement "
        f"list makes {sorted(IAM_POLICY_CHECKS)} unknown): keep conditions at the level of whole policies"
    )
    failed = [
        f"{c['check_id']} {c['check_name']}\n    {c['resource']} in {Path(c['file_abs_path']).name} "
        f"lines {c['file_line_range']}" + (f"\n    {c['guideline']}" if c.get("guideline") else "")
        for c in report["results"]["failed_checks"]
    ]
    assert not failed, (
        f"checkov failed checks ({summary['passed']} passed): fix template.yaml, or skip a justified "
        "exception in .checkov.yaml with its reason and list it in the README's skipped-checks section:\n"
        + "\n".join(failed)
    )
    assert result.returncode == 0, describe(result)


def test_every_checkov_skip_still_has_something_to_skip(translated_file: Path, tmp_path: Path) -> None:
    skips = checkov_config_skips()
    if not skips:
        return
    bare_config = tmp_path / "checkov-without-skips.yaml"
    bare_config.write_text("framework:\n  - cloudformation\nskip-download: true\n", encoding="utf-8")
    result = run(
        [
            checkov_cli(),
            "--config-file",
            bare_config,
            "--check",
            ",".join(skips),
            "-f",
            TEMPLATE,
            "-f",
            translated_file,
            "-o",
            "json",
        ],
        timeout=300,
        cwd=tmp_path,
    )
    still_failing = {c["check_id"] for c in checkov_report(result)["results"]["failed_checks"]}
    stale = sorted(set(skips) - still_failing)
    assert not stale, (
        f"skipped checks that now pass everywhere: remove them from .checkov.yaml and the docs: {stale}"
    )


# -- the documentation of skips -------------------------------------------------------------


def test_docs_rows_name_a_known_tool_and_give_a_reason() -> None:
    rows = docs_rows()
    bad = [
        row for row in rows if row.tool not in TOOLS or not row.check or words(row.reason) < MIN_REASON_WORDS
    ]
    assert not bad, (
        f"rows of the README's skipped-checks section need tool (one of {sorted(TOOLS)}), check and reason: {bad}"
    )


def test_docs_list_exactly_the_checkov_skips() -> None:
    skipped = set(checkov_config_skips()) | set(checkov_inline_skips())
    documented = {row.check for row in docs_rows() if row.tool == "checkov"}
    assert documented == skipped, (
        f"checkov skips not in the README's skipped-checks section: {sorted(skipped - documented)}; "
        f"documented but not skipped: {sorted(documented - skipped)}"
    )


def test_docs_list_exactly_the_bandit_exceptions() -> None:
    """One row per inline `# nosec` id (its file in backticks in Where) and per [tool.bandit] skip."""
    inline = Counter((n.path, check) for n in nosec_comments() for check in n.ids)
    inline.update(("pyproject.toml", check) for check in bandit_config_skips())
    documented: Counter[tuple[str, str]] = Counter()
    for row in docs_rows():
        if row.tool == "bandit":
            paths = re.findall(r"`([^`]+\.(?:py|toml))`", row.where) or [row.where]
            documented[(paths[0], row.check)] += 1
    assert documented == inline, (
        f"bandit exceptions missing from the README's skipped-checks section: {dict(inline - documented)}; "
        f"documented but not in the code: {dict(documented - inline)}"
    )


def test_docs_list_exactly_the_cfn_lint_skips(template: dict[str, Any]) -> None:
    skipped = set(cfn_lint_skips(template))
    documented = {row.check for row in docs_rows() if row.tool == "cfn-lint"}
    assert documented == skipped, (
        f"cfn-lint skips not in the README's skipped-checks section: {sorted(skipped - documented)}; "
        f"documented but not skipped: {sorted(documented - skipped)}"
    )


def test_template_carries_no_unlisted_suppressions(template: dict[str, Any]) -> None:
    """Other ways to silence checkov in a template (resource Metadata) must not slip past the docs."""
    hidden = [
        name
        for name, body in template["Resources"].items()
        if any(isinstance(node, dict) and "checkov" in node for node in walk(body.get("Metadata") or {}))
    ]
    assert not hidden, (
        f"resources with checkov Metadata skips (use .checkov.yaml with a reason instead): {hidden}"
    )
