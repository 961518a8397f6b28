"""Vibe Earning: the LLM grid. Clients submit text jobs, volunteer workers pull them.

Jobs live in the shared job engine (`jobs`, site "grid", backend "grid"); the grid's own
integer ids are the document ids' suffix (`g<id>`). Workers are `grid_workers/<id>`,
bound to a worker key. Money: a job holds its price estimate at submit, and its result
settles consumer capture, worker earning and platform revenue in one batch.
"""
