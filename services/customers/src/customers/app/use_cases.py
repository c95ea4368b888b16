"""What is left of the old CustomerService, whose use cases now live by area.

The event consumers (``adapters/consumers.py``) still reach ``adjust_score``
(``score_changes.py``) and ``set_lifecycle_stage`` (``lifecycle.py``) through
it; it goes when they call those use cases themselves. The other areas are in
``profiles.py``, ``search.py``, ``identity_resolution.py``, ``blacklist.py``,
``points.py``, ``orders.py`` and ``timeline.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from customers.app.lifecycle import LifecycleStages
from customers.app.score_changes import ScoreAdjustments


@dataclass(frozen=True)
class CustomerService(ScoreAdjustments, LifecycleStages):
    """AdjustScore and SetLifecycleStage, for the consumers that still name this class."""
