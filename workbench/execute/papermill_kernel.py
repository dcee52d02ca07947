"""Running a whole notebook through papermill, as `verify` and `rerun` do.

One place for how: the notebook's own kernel, started in the notebook's folder (so relative paths
mean what they mean in JupyterLab), no progress bar (Workbench reports progress itself), and the
kernel's own start-up log kept to errors: ipykernel warns on every start that a kernel bound to
127.0.0.1 talks "over TCP without encryption", which is about the transport, not the notebook, and
read as a problem with the user's run. Warnings the notebook's code raises are cell outputs and
are unaffected.
"""

from __future__ import annotations

from pathlib import Path

QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]


def execute(source: Path, output: Path, overrides: dict, kernel: str | None, cwd: Path,
            hash_seed: str | None = None) -> None:
    """Raises papermill.PapermillExecutionError when a cell fails (the caller says which).

    The kernel gets `PYTHONHASHSEED=hash_seed` (default: hash_seed.seed(), the one the pipeline's
    processes get), so that a set's order is the same as in the pipeline's run."""
    import papermill

    from workbench.execute.hash_seed import seed, seeded

    with seeded(hash_seed or seed()):
        papermill.execute_notebook(
            str(source), str(output), parameters=overrides, kernel_name=kernel or "python3", cwd=str(cwd),
            progress_bar=False, log_output=False, extra_arguments=QUIET_KERNEL,
        )
