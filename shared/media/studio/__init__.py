"""Studio: Killa Tamata's creative workspace and its paid-job agent.

- `llm`: the agent's LLM client. Chat Completions over the `openai` SDK, streamed, with
  tool calls; the document's `agentModel` values map to provider models in one table.
  Provider faults become `AppError(UNAVAILABLE)` and never carry the API key. Locally the
  same code runs against `infra/local/openai_server.py` (only the base URL differs).
"""
