"""Orchestration the CLI, the server and the magics share: reruns of the notebook and sweeps."""
