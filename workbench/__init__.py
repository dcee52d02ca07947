"""Workbench: promote a tagged Jupyter notebook into a tested, tracked Ploomber pipeline.

The package root stays import-light (the CLI must start fast): everything here is loaded on first
use. The Python API (`workbench.plan`, `workbench.run`, `workbench.verify`, ...) is workbench.api;
the runtime API for task code (`workbench.log_metric`, `workbench.xp`...) is workbench.runtime.
"""

from workbench.core.version import __version__ as __version__

__all__ = [
    "__version__",
    # the Python API (workbench.api)
    "export", "lineage", "package", "plan", "promote", "rerun", "run", "runs", "score", "sweep", "trace", "verify",
    # for task code (workbench.runtime)
    "device_name", "log_metric", "to_host", "xp",
    # `%load_ext workbench`
    "load_ipython_extension",
]

_API = frozenset(("export", "lineage", "package", "plan", "promote", "rerun", "run", "runs", "score", "sweep",
                  "trace", "verify"))


def __getattr__(name: str):
    # `workbench.run(...)`, `workbench.log_metric(...)`: imported when first used, not at `import workbench`
    if name in _API:
        from workbench import api

        return getattr(api, name)
    if name == "log_metric":
        from workbench.runtime.metrics import log_metric

        return log_metric
    if name in ("xp", "to_host", "device_name"):  # GPU-or-NumPy helpers (workbench.runtime.devices)
        from workbench.runtime import devices

        return getattr(devices, name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython):
    """`%load_ext workbench`: the `%workbench plan|run|check` magics (see workbench.lab.kernel)."""
    from workbench.lab.kernel import load_ipython_extension as load

    load(ipython)
