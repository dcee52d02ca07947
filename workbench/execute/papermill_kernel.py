"""Running a whole notebook through papermill, as `verify` and `rerun` do.

One place for how: the notebook's own kernel, started in the notebook's folder (so relative paths
mean what they mean in JupyterLab), no progress bar (Workbench reports progress itself), and the
kernel's own start-up log kept to errors: ipykernel warns on every start that a kernel bound to
127.0.0.1 talks "over TCP without encryption", which is about the transport, not the notebook, and
read as a problem with the user's run. Warnings the notebook's code raises are cell outputs and
are unaffected.
"""

from __future__ import annotations

import sys
from pathlib import Path

QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]


def kernel_to_start(kernel: str | None) -> tuple[str, str | None]:
    """(the kernel to run a notebook in, a note when it is not the notebook's own).

    The notebook's kernel when it is installed here; else python3, the Python Workbench runs in
    (where the pipeline's tasks run too): a kernel named by the author's machine (a conda env's
    `conda-env-ds-py`, a virtualenv's kernel) is often not installed where the notebook is run,
    and papermill would stop with NoSuchKernel. A notebook without a kernelspec gets python3."""
    if not kernel or kernel == "python3":
        return "python3", None
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        return "python3", (f"its kernel {kernel!r} is not installed here: running it with python3, the kernel of "
                           f"this Python ({sys.prefix}) where the pipeline's tasks run too; to use that environment "
                           f"instead, install its kernel from it: python -m ipykernel install --user --name {kernel}")
    return kernel, None


def execute(source: Path, output: Path, overrides: dict, kernel: str | None, cwd: Path,
            hash_seed: str | None = None, shown: str | None = None) -> None:
    """Raises papermill.PapermillExecutionError when a cell fails (the caller says which).

    The kernel gets `PYTHONHASHSEED=hash_seed` (default: hash_seed.seed(), the one the pipeline's
    processes get), so that a set's order is the same as in the pipeline's run. `shown`: the
    notebook's name in a warning (`source` may be an instrumented copy)."""
    import papermill

    from workbench.execute.hash_seed import seed, seeded

    name, note = kernel_to_start(kernel)
    if note:
        print(f"warning: {shown or source}: {note}", file=sys.stderr, flush=True)
    with seeded(hash_seed or seed()):
        papermill.execute_notebook(
            str(source), str(output), parameters=overrides, kernel_name=name, cwd=str(cwd),
            progress_bar=False, log_output=False, extra_arguments=QUIET_KERNEL,
        )
