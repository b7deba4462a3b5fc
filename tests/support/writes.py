"""How the fault rules of the tests recognise the sweeper's writes in a request body (the
fault proxy's `match` is a substring of the JSON body botocore sends)."""

CLAIM_WRITE = '"#due": "nextCheckAt", "#until": "leaseUntil"'
"""The claim's condition names (`item.Due`): in this shard, due, no live lease."""
RECORD_WRITE = '"outcome": {"S": "'
"""The terminal transition (`item.decide`): it sets the order's `outcome` record."""
CONFIRM_WRITE = '"#oc": "outcome"'
"""The confirmation that an outcome was published (`item.published`): its condition names it."""
AUDIT_CLAIM = '"#ak": "auditKey"'
"""An audit's claim (`item.AuditDue`): its condition names the audit key."""
LATE_CANCEL_WRITE = '"supersedes": {"S": '
"""A correction's writes (`item.reopen_for_cancel`, `item.correct`, the corrected outcome): they
name the eventId they supersede."""
