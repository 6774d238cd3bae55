"""The ``qa`` command line: the only code that wires ``qa``, ``index``, ``ui`` and ``eval``
together. Imports go one way: ``app`` uses them all, and none of them imports ``app``."""
