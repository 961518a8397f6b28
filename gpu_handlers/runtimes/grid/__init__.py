"""The grid agent (`grid-worker`): a volunteer's machine pulling LLM jobs from the grid.

- `cli`: `python -m gpu_handlers.runtimes.grid` / `grid-worker` (flags and `GRID_*` env).
- `agent`: the loop (register -> long-poll -> start -> generate -> result | fail), heartbeats,
  backoff and graceful shutdown.
- `client`: the grid's `/worker/*` API, exactly as the Vibe Earning document defines it.
- `backend`: the `TextBackend` port and `Generation`; `ollama_backend` (Ollama's HTTP API)
  and `transformers_backend` (an in-process Hugging Face causal LM) implement it.
- `families`: the model-family rule and which local model runs a job.
- `waiting`: backoff, and calls on daemon threads that a shutdown can walk away from.
- `tiny_llm`: a tiny random causal LM (`tiny-llm:latest`) for offline tests.

Invariants: the agent only speaks the documented worker API and a backend's public API, so
it runs unchanged against the real grid, a real Ollama, or their local stand-ins; token
counts it reports are the backend's real counts; nothing here imports `shared` services or
`functions`, and torch is imported only by `transformers_backend` and `tiny_llm`'s builder.
"""
