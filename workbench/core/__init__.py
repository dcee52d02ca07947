"""The bottom layer: the Plan, the run record, errors, the project root and small shared helpers.

Everything else in Workbench imports from here; this package imports nothing of Workbench but
`workbench.runtime`."""
