"""paysweep: the shared sweep engine of the payment-status reconciler.

The package ships in the Lambda layer. It knows no provider, by name or by field: each
provider function brings its adapter (the `ProviderAdapter` protocol of `paysweep.sweep.ports`)
and its profile (`paysweep.domain.providers.ProviderProfile`), and the engine does the rest.

Immutable value types are `typing.NamedTuple`s rather than frozen dataclasses: a dataclass
generates and compiles its methods when its module is imported (about 0.7 ms each here), and
twenty of them were half of what the layer added to a cold start. The one mutable record,
`SweepSummary`, is a plain class.
"""

__version__ = "0.1.0"
