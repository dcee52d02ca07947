"""JupyterLab: the server extension (REST API and jobs) and the kernel magics."""
