"""The local stack on MiniStack, the provider simulators and the demo: development only, never shipped."""
