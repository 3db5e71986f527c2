"""Observability: in-process metrics now; tracing and the trace store come later."""
