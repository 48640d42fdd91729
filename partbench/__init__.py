"""partbench: measure how well models understand and control object parts.

Importing this package is cheap on purpose (no numpy, no torch): the CLI's fast paths (`--help`, `table`) rely on it.
"""

__version__ = "0.1.0"
