"""Pieces of the local RunPod serverless control plane (infra/local/runpod_server.py): the job,
worker and endpoint state (store.py), the queue and worker registry behind one lock
(plane.py), completion webhooks (webhooks.py), the shared answer shapes and request parsing
(wire.py), the public endpoint API (routes.py), the worker protocol the ``runpod`` SDK polls
(worker_api.py) and the test-only fault knobs under ``/_test/...`` (faults.py).

Only runpod_server.py is meant to be imported from outside this package.
"""
