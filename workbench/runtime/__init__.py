"""Helpers imported by generated pipeline task code.

Kept free of heavy imports: every task imports this module, and most tasks
never touch half of pandas, numpy and pyarrow.
"""

from workbench.runtime.metrics import log_metric
from workbench.runtime.products import ProductError, load, save

__all__ = ["ProductError", "load", "log_metric", "save"]
