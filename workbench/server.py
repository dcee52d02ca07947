"""`workbench.server`: the module name Jupyter configs enable (jupyter_server_config.d/workbench.json).

The extension itself lives in `workbench.lab.server`; this name stays so that existing configs,
and the `jupyter server extension list` output users know, keep working.
"""

from __future__ import annotations


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "workbench.server"}]


def _load_jupyter_server_extension(serverapp) -> None:
    from workbench.lab.server.handlers import setup_handlers

    setup_handlers(serverapp)


# the name jupyter_server 1.x looked for
load_jupyter_server_extension = _load_jupyter_server_extension
