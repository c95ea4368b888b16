"""TranslationService over gRPC.

Every method answers UNIMPLEMENTED (inherited from the generated base
class) until the translation issue lands: no method pretends to translate.
"""

from __future__ import annotations

from crosstalk.translation.v1 import translation_service_pb2_grpc as pb_grpc


class TranslationServicer(pb_grpc.TranslationServiceServicer):
    pass
