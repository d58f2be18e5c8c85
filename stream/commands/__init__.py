"""The subcommands of ``sgmstream``, one module per group, each with ``register(commands)``."""
