"""Input schemas shared by submit validation (shared/) and the GPU handlers (gpu_handlers/)."""
