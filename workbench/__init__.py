"""Workbench: promote a tagged Jupyter notebook into a tested, tracked Ploomber pipeline.

The package root stays import-light (the CLI must start fast); the public runtime API for task
code lives in `workbench.runtime`.
"""

from workbench.core.version import __version__ as __version__


def __getattr__(name: str):
    # `workbench.log_metric(...)` in task code, without importing anything at `import workbench`
    if name == "log_metric":
        from workbench.runtime.metrics import log_metric

        return log_metric
    if name in ("xp", "to_host", "device_name"):  # GPU-or-NumPy helpers (workbench.runtime.devices)
        from workbench.runtime import devices

        return getattr(devices, name)
    raise AttributeError(name)


def load_ipython_extension(ipython):
    """`%load_ext workbench`: the `%workbench plan|run|check` magics (see workbench.lab.kernel)."""
    from workbench.lab.kernel import load_ipython_extension as load

    load(ipython)
