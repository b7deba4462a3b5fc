"""Shared helpers of the test suites (factories, schema validation, local-stack fixtures)."""
