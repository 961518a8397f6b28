"""Tarsify: the model marketplace (studio for creators, marketplace for consumers, admin).

Creators publish tars models on admin-configured base models; a consumer's run is a job on
the engine (site "market"), dispatched to the RunPod endpoint (or Modal model) configured
for the base model, its price held from the consumer's one Relay balance. On success the
capture is split in the same batch: the creator earns floor(capture x 80%) on their
earnings account, the platform the rest. Records: shared/market/records.py.

Importing this package registers the market's settlement shares (shared.engine.shares)
and its payout sweep hook (shared.engine.sweeps).
"""

from shared.engine import shares
from shared.market import payout_events as _payout_events  # noqa: F401  (registers the hook)
from shared.market import split
from shared.market.records import SITE

shares.register(SITE, split.write_shares)
