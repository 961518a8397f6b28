"""Grid prices, in integer micros (1 credit = 10,000 micros).

- A worker earns output_tokens / 1000 credits: 10 micros per output token.
- A consumer pays 20 micros per output token (2 credits per 1,000); input tokens are free.
  The platform keeps the difference.
- Output is capped at MAX_OUTPUT_TOKENS per job; the hold at submit is that cap's price,
  and the capture is what was produced (never more than the hold).
"""

from __future__ import annotations

WORKER_MICROS_PER_OUTPUT_TOKEN = 10
CONSUMER_MICROS_PER_OUTPUT_TOKEN = 20
MAX_OUTPUT_TOKENS = 2048
HOLD_MICROS = MAX_OUTPUT_TOKENS * CONSUMER_MICROS_PER_OUTPUT_TOKEN


def consumer_charge(output_tokens: int) -> int:
    return min(output_tokens, MAX_OUTPUT_TOKENS) * CONSUMER_MICROS_PER_OUTPUT_TOKEN


def worker_earning(output_tokens: int) -> int:
    return min(output_tokens, MAX_OUTPUT_TOKENS) * WORKER_MICROS_PER_OUTPUT_TOKEN


def credits(micros: int) -> float:
    """Credits as the document shows them: a number with 4 decimal places."""
    return round(micros / 10_000, 4)
