"""The online feature groups the REST service reads, keyed by card: its recent charges and its
owner's and card's versions. Declared once; the assets write through them, the service reads."""

from __future__ import annotations

from feature_logic.card_state import CARD_VERSIONS_DESCRIPTIONS, RECENT_CHARGES_DESCRIPTIONS
from fraud_pipelines.features.groups import GroupSpec

CARD_RECENT_CHARGES = GroupSpec(
    name="card_recent_charges",
    primary_key=("cc_num",),
    event_time="datetime",
    description="Per card, as of its latest charge: the charges of the 4 hours up to it and the one before "
    "them, with amounts and distances. What a new charge's window and deltas are computed from.",
    feature_descriptions=RECENT_CHARGES_DESCRIPTIONS,
)

CARD_VERSIONS = GroupSpec(
    name="card_versions",
    primary_key=("cc_num",),
    event_time="event_time",
    description="Per card, every owner-profile version (birthdate) and card version (expiry) with when it "
    "became true, so a new charge takes the versions valid at its own time.",
    feature_descriptions=CARD_VERSIONS_DESCRIPTIONS,
)
