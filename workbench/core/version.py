"""The release, in one place: run records, generated files and `workbench --version` carry it;
the distribution's name is what generated requirements and CI scripts install."""

__version__ = "0.1.0"

# The PyPI distribution (`pip install notebook-workbench`): `workbench` there is an unrelated project.
# The command and the import name stay `workbench`.
DISTRIBUTION = "notebook-workbench"
