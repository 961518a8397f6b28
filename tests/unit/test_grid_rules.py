"""The grid's pure rules: token plausibility, earnings, request fingerprints, field paths."""

from __future__ import annotations

import pytest

from shared.grid import fields, pricing, views


def test_a_worker_may_not_claim_more_tokens_than_its_output_has_bytes() -> None:
    assert pricing.plausible_token_count(output="héllo", output_tokens=6)  # é is 2 bytes
    assert not pricing.plausible_token_count(output="héllo", output_tokens=7)
    assert pricing.plausible_token_count(output="", output_tokens=0)
    assert not pricing.plausible_token_count(output="", output_tokens=1)


def test_a_worker_earns_output_tokens_over_1000_credits_with_no_cap() -> None:
    assert pricing.worker_earning(500) == 5_000  # 0.5 credits
    assert pricing.credits(pricing.worker_earning(123)) == 0.123
    assert pricing.worker_earning(10_000) == 100_000  # no invented output cap


def test_the_fingerprint_ignores_key_order_and_spelt_out_defaults() -> None:
    short = views.JobCreateRequest.model_validate({"prompt": "p", "tag": "t"})
    spelt = views.JobCreateRequest.model_validate(
        {"tag": "t", "model_match": "family", "prompt": "p", "timeout_seconds": 600}
    )
    other = views.JobCreateRequest.model_validate({"prompt": "q", "tag": "t"})
    assert short.fingerprint() == spelt.fingerprint() != other.fingerprint()


def test_field_paths_refuse_names_the_grid_does_not_keep() -> None:
    assert fields.path("worker_id") == "site_fields.worker_id"
    with pytest.raises(KeyError):
        fields.path("workerid")
