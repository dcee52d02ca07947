"""Workbench's Jupyter server extension: a REST API under `/workbench/api/` for the JupyterLab UI.

Endpoints (all behind Jupyter's authentication: token or login cookie, and XSRF for cookie auth):

- `GET  plan?path=NB` / `POST plan {"path", "content"?}`  the Plan (never executes code)
- `POST export {"path", "output"?, "force"?}`              write the Ploomber project
- `POST jobs {"action": "run"|"verify", "path", "params"?, "force"?}`, `GET jobs`, `GET jobs/ID`,
  `DELETE jobs/ID`                                         the CLI as a subprocess, with progress
- `GET  runs?pipeline=NAME`                                 the run records

Enabled (as `workbench.server`, the module Jupyter configs name: workbench/server.py) by `jupyter-config/jupyter_server_config.d/workbench.json` (installed into the venv by
`make install`, and by a wheel as data files), which also switches Ploomber's own server
extensions off: they replace the contents manager and break JupyterLab 4.6.

Importing this package is cheap: the handlers (and Workbench's planner) load with the server.
"""
