"""Where a run came from and what it made: run records, data versions (DVC), MLflow tracking and
the offline spool that keeps records while MLflow is unreachable."""
