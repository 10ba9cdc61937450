"""mci — the Mission Control Interface for an algorithmic-trading day on Zerodha Kite Connect.

The package is a library first: ``mci.config`` loads and validates profiles,
``mci.engine`` runs checklists and the lifecycle, ``mci.brokers`` talks to the
market. The ``mci`` command is a thin layer over them.
"""

__version__ = "0.1.0"
