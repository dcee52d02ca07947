"""`workbench serve`: MLflow scoring apps behind one router, with shadow and canary traffic, a
sampled request log and Prometheus metrics."""
