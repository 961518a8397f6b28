"""Arcade: Godot web games and their releases.

- `manifest`: the release manifest (`manifestJson`) a creator uploads beside the bundle, parsed
  strictly into `ReleaseManifest`.
- `bundle`: `validate_bundle(zip_bytes, manifest_json)`, the only door from an uploaded zip to
  stored files; a bundle it refuses stores nothing.
- `headers`: the content types and cross-origin isolation headers every served game file
  carries.
- `games`, `releases`, `review`, `launches`, `serving`, `views`: the arcade's records, the
  release state table, launch sessions with their signed play URLs, and the public shapes.
"""
