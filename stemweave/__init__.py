"""Stemweave's command line: the composition root that wires ``core``, ``app`` and ``training``.

Each subcommand lives in its own ``cmd_*`` module with ``add_parser(subparsers)`` and
``run(args) -> int``; heavy imports happen inside ``run`` so ``stemweave --help`` is instant.
"""

__version__ = "0.1.0"
