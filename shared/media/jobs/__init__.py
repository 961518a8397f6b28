"""Media jobs: the request contract of `POST /api/v1/media/jobs` and its price.

- `request.parse_request(data)` turns a client's JSON body into one of ten typed requests
  (a union discriminated by `task`), or raises `AppError(INVALID)` with a message naming the
  field; nothing is billed or stored before it returns.
- Parsing normalises (aliases, dot-prefixed output formats, `image/jpg`), records every change
  as an input adjustment (`inputAdjustments`) and exposes `effective_input()`
  (`effectiveInput`) and `inputs()` (the URL and inline inputs, for the staging step).
- `pricing.quote(request)` prices a parsed request in integer USD micros.

Modules: `assets` (input shapes and the shared input model base), `formats` (output formats,
MIME names, canvas sizes), `images`, `video`, `audio`, `mesh` (one per task family),
`request` (the union and entry point), `pricing`. Nothing here is wired into a route yet.
"""
