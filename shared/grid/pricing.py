"""Grid money, in integer micros (1 credit = 10,000 micros).

Clients pay nothing: the document sells the free tier (100 requests and 50,000 tokens a
day; over it a job waits, it is never refused), so a job places no hold and has no output
cap. A worker earns output_tokens / 1000 credits, 10 micros per output token, paid by the
platform as an expense. A worker may not claim more tokens than its output can hold, and
is paid for at most `grid_max_paid_output_tokens` of them per job (a volunteer's count is
not trusted beyond what one job can plausibly produce).
"""

from __future__ import annotations

from shared.engine.settings import get_settings

WORKER_MICROS_PER_OUTPUT_TOKEN = 10


def worker_earning(output_tokens: int) -> int:
    return output_tokens * WORKER_MICROS_PER_OUTPUT_TOKEN


def paid_output_tokens(reported: int) -> int:
    """The output tokens a job pays its worker for: what it reported, up to the cap."""
    return min(reported, get_settings().grid_max_paid_output_tokens)


def plausible_token_count(*, output: str, output_tokens: int) -> bool:
    """A token of a byte-level tokenizer decodes to at least one UTF-8 byte, so a result
    never has more output tokens than its output has bytes."""
    return output_tokens <= len(output.encode())


def credits(micros: int) -> float:
    """Credits as the document shows them: a number with 4 decimal places."""
    return round(micros / 10_000, 4)
