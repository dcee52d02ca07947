"""From a notebook to a Plan and a Ploomber project: reading notebooks and tags, IPython syntax,
the per-statement analysis, the planner, parameters, export. Pure: nothing here executes user code."""
