"""Media jobs: `POST` / `GET /api/v1/media/jobs` (Killa Tamata), from request to settlement.

- `request.parse_request(data)`: the client's JSON as one of ten typed requests (a union
  discriminated by `task`), or `AppError(INVALID)` naming the field; normalisations are
  recorded as input adjustments; `effective_input()` and `inputs()` (media to stage).
- `staging`: fetch (through the outbound guard) or decode each input, check it by content,
  store it; signs URLs for handlers at dispatch.
- `pricing.quote(request, probed)`: the price in integer USD micros (`pricingMeta`);
  `gemini_bill(usage)`: Gemini speech's exact completion-time bill.
- `routing`: task -> handler -> backend, output content type, timeouts.
- `service`: submit (parse, stage, price, hold, enqueue) and status (owner only).
- `completion`: the engine hooks (payload at dispatch, output check and capture, the
  completion callback); importing it registers them.
- `views`: the submit and status bodies. `estimates`: `estimatedDurationSeconds`.
"""
