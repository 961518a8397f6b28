"""Vibe Earning: the LLM grid. Clients submit text jobs, volunteer workers pull them.

Jobs live in the shared job engine (`jobs`, site "grid", backend "grid"); the grid's own
integer ids are the document ids' suffix (`g<id>`), its fields on a job are
`fields.GridJobFields`. Workers are `grid_workers/<id>`, bound to a worker key. Money:
clients use the free tier and pay nothing; a completed job pays its worker
output_tokens / 1000 credits from the platform, in the job's completing batch.

Importing this package registers the grid's sweep hook (`sweep.sweep`).
"""

from shared.grid import sweep as _sweep  # noqa: F401  (registers the sweep hook)
