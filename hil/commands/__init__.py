"""One module per `hil` sub-command; each exposes ``register(subparsers)``."""
