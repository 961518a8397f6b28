"""The Studio agent: approval plans, request state, the tool loop (run in a Cloud Task)."""
