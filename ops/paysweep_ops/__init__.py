"""paysweep_ops: the `paysweep` command for order writers and operators (not in the Lambda layer)."""
