"""`python -m gpu_handlers.runtimes.grid ...` runs the grid-worker agent (see `cli`)."""

from gpu_handlers.runtimes.grid.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
