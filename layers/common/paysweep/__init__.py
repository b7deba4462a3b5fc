"""paysweep: the shared sweep engine of the payment-status reconciler.

The package ships in the Lambda layer. It knows no provider by name: each provider
function brings an adapter (see `paysweep.adapter`) and the engine does the rest.
"""

__version__ = "0.1.0"
