"""Building a pipeline: what is outdated (state, content keys), one build at a time (locks), the
local and Dask runners, the product store for workers without a shared folder, device scheduling,
and whole-notebook execution through papermill."""
