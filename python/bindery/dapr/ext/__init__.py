"""`dapr.ext` with `bindery.` in front; only `grpc` (its `App`, for input bindings)."""
