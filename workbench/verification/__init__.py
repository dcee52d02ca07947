"""Does the pipeline reproduce the notebook? Value comparison, notebook against pipeline, and one
device against another, under one verdict rule (`workbench.verification.pipeline.agree`)."""
