"""gcp-storage-emulator, launched with one fix: signed-URL uploads keep their bytes.

The emulator reads any `application/json` request body as object metadata, even the body
of a V4 signed-URL PUT, which the real service stores as the object itself; a handler's
JSON output (audio annotations) could not be uploaded. This launcher keeps signed PUT
bodies as raw bytes and changes nothing else. Usage is the emulator's own:

    python -m infra.local.storage_emulator start --host 127.0.0.1 --port 9023 --in-memory
"""

from __future__ import annotations

import sys
from typing import Any

from gcp_storage_emulator import server

_read = server._read_data


def _read_data(handler: Any, query: dict[str, Any]) -> Any:
    if handler.command == "PUT" and any(k.lower() == "x-goog-signature" for k in query):
        return server._decode_raw_data(server._read_raw_data(handler), handler)
    return _read(handler, query)


server._read_data = _read_data


def main() -> int:
    from gcp_storage_emulator.__main__ import main as emulator_main

    sys.argv[0] = "gcp-storage-emulator"
    return int(emulator_main() or 0)


if __name__ == "__main__":
    raise SystemExit(main())
