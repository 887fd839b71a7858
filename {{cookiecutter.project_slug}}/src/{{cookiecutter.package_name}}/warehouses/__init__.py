"""What the pipeline asks of a warehouse, one module per warehouse."""
