"""RulesService over gRPC: proto mapping only, one mixin per area (rpc_<area>.py)."""

from __future__ import annotations

from typing import Any

from crosstalk.rules.v1 import rules_service_pb2_grpc as pb_grpc
from crosstalk_common.api.pagination import PageTokenCodec
from rules.adapters.rpc_management import ManagementRpcs
from rules.adapters.rpc_runs import EngineRpcs
from rules.adapters.rpc_safe_change import SafeChangeRpcs
from rules.app.managing import RuleManagement
from rules.app.runs import RunService
from rules.app.safe_change import SafeChange

Context = Any


class RulesServicer(ManagementRpcs, SafeChangeRpcs, EngineRpcs, pb_grpc.RulesServiceServicer):
    def __init__(
        self, management: RuleManagement, page_tokens: PageTokenCodec, runs: RunService
    ) -> None:
        self._management = management
        self._tokens = page_tokens
        self._runs = runs
        self._safe_change = SafeChange(management)
