"""From a run to a served model: packaging (MLflow flavors, model card, ONNX), the registry and
promotion, CI files, and serving."""
