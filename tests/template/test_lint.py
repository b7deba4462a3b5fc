"""template.yaml passes cfn-lint (the product venv's pinned version) and `sam validate --lint`.

Both run offline: cfn-lint ships the resource specifications it checks against, and
`sam validate --lint` runs the SAM CLI's own cfn-lint on the template instead of calling
CloudFormation. Any cfn-lint finding (error, warning or informational) fails the test; a check
that must be ignored is configured in template.yaml or .cfnlintrc and listed in
the README's skipped-checks section (test_security_scans checks that).
"""

from __future__ import annotations

from template_support import TEMPLATE, describe, run, sam_cli, venv_tool


def test_cfn_lint_reports_nothing() -> None:
    result = run([venv_tool("cfn-lint"), "--format", "parseable", TEMPLATE.name], timeout=180)
    findings = result.stdout.strip()
    assert result.returncode == 0 and not findings, f"cfn-lint findings in template.yaml:\n{describe(result)}"


def test_sam_validate_lint_succeeds() -> None:
    # run() sets SAM_CLI_TELEMETRY=0 and a region; --lint validates locally (no CloudFormation call).
    result = run([sam_cli(), "validate", "--lint", "--template-file", TEMPLATE.name], timeout=180)
    assert result.returncode == 0, describe(result)
    assert "is a valid SAM Template" in result.stdout + result.stderr, describe(result)
