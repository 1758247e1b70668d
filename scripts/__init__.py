"""Developer scripts: protobuf generation and the fairness report demo."""
