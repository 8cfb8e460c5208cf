"""One module per MLflow deployment target."""
