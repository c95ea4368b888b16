"""Who is calling, and may they: bearer tokens checked on every RPC.

Every service declares, for each of its RPCs, the permission it needs (or
PUBLIC, or AUTHENTICATED for any valid token). ``AuthInterceptor`` verifies
the caller's access token (signature, issuer, audience, lifetime), checks
that permission, and makes the caller available to the handler through
``require_caller``. A method missing from the map is refused: forgetting to
declare a permission fails closed. The tenant always comes from the verified
token, never from a header a client could set.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc

from crosstalk_common.auth.claims import AccessClaims
from crosstalk_common.auth.verifier import TokenVerifier
from crosstalk_common.errors import PermissionDenied, Unauthenticated
from crosstalk_common.permissions import CATALOGUE, DataScope
from crosstalk_common.visibility import Visibility

AUTHORIZATION_HEADER = "authorization"
PUBLIC = "public"
AUTHENTICATED = "authenticated"
# Infrastructure every server exposes without a token.
_OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


@dataclass(frozen=True)
class Caller:
    """The verified principal of the current RPC."""

    tenant_id: str
    subject: str
    permissions: frozenset[str]
    data_scope: DataScope
    department_id: str
    visible_departments: frozenset[str]
    token: str
    token_id: str = ""
    session_id: str = ""

    @classmethod
    def from_claims(cls, claims: AccessClaims, token: str) -> Caller:
        return cls(
            tenant_id=claims.tenant_id,
            subject=claims.subject,
            permissions=claims.permissions,
            data_scope=claims.data_scope,
            department_id=claims.department_id,
            visible_departments=claims.visible_departments,
            token=token,
            token_id=claims.token_id,
            session_id=claims.session_id,
        )

    @property
    def member_id(self) -> str:
        return self.subject.removeprefix("members/") if self.subject.startswith("members/") else ""

    @property
    def visibility(self) -> Visibility:
        return Visibility(self.data_scope, self.member_id, self.visible_departments)

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Metadata that carries this caller to a peer service (which verifies it again)."""
        return ((AUTHORIZATION_HEADER, f"Bearer {self.token}"),)


_current: contextvars.ContextVar[Caller | None] = contextvars.ContextVar(
    "crosstalk_caller", default=None
)


def require_caller(context: Any = None) -> Caller:
    """The verified caller of the RPC being served."""
    caller = _current.get()
    if caller is None:
        raise Unauthenticated("this call needs an access token (Authorization: Bearer ...)")
    return caller


@contextmanager
def acting_as(caller: Caller) -> Iterator[None]:
    """Serve the block as ``caller``: for a public RPC that authenticated its request
    another way (a channel's signature) and then acts with a token of the tenant's
    own, verified like any caller's (``require_caller`` answers it; peers get its token)."""
    token = _current.set(caller)
    try:
        yield
    finally:
        _current.reset(token)


def current_principal() -> str:
    """``"{tenant}/{subject}"`` of the RPC being served; ``""`` outside an authenticated RPC."""
    caller = _current.get()
    return f"{caller.tenant_id}/{caller.subject}" if caller is not None else ""


def bearer_token(metadata: Iterable[Any] | None) -> str:
    for key, value in metadata or ():
        if key == AUTHORIZATION_HEADER:
            text = value if isinstance(value, str) else value.decode()
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            raise Unauthenticated("the Authorization header must be 'Bearer <access token>'")
    raise Unauthenticated("this call needs an access token (Authorization: Bearer ...)")


def full_method_names(service_full_name: str, permissions: Mapping[str, str]) -> dict[str, str]:
    """``{"CreateCustomer": p}`` -> ``{"/pkg.Service/CreateCustomer": p}``, validated."""
    unknown = sorted(
        p for p in permissions.values() if p not in CATALOGUE and p not in (PUBLIC, AUTHENTICATED)
    )
    if unknown:
        raise ValueError(f"{service_full_name}: permissions not in the catalogue: {unknown}")
    return {f"/{service_full_name}/{method}": p for method, p in permissions.items()}


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, verifier: TokenVerifier, permissions: Mapping[str, str]) -> None:
        """``permissions`` maps full method names to a permission, PUBLIC or AUTHENTICATED."""
        self._verifier = verifier
        self._permissions = dict(permissions)
        # Built once per method: intercept_service runs on every call.
        self._guarded: dict[str, Any] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        method = handler_call_details.method
        guarded = self._guarded.get(method)
        if guarded is not None:
            return guarded
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(_OPEN_SERVICES):
            return handler
        if handler.unary_unary is None:
            # No streaming RPC is guarded yet: refuse rather than let one through.
            return None
        guarded = grpc.unary_unary_rpc_method_handler(
            self._guard(handler.unary_unary, method, self._permissions.get(method)),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._guarded[method] = guarded
        return guarded

    def _guard(
        self, behavior: Callable[..., Any], method: str, required: str | None
    ) -> Callable[[Any, Any], Awaitable[Any]]:
        async def guarded(request: Any, context: Any) -> Any:
            if required is None:
                raise PermissionDenied(
                    "undeclared", f"{method} declares no permission, so nobody may call it"
                )
            caller = None
            if required != PUBLIC:
                caller = await self.authenticate(context.invocation_metadata())
                if required != AUTHENTICATED and not caller.can(required):
                    raise PermissionDenied(required)
            token = _current.set(caller)
            try:
                result = behavior(request, context)
                return await result if inspect.isawaitable(result) else result
            finally:
                _current.reset(token)

        return guarded

    async def authenticate(self, metadata: Iterable[Any] | None) -> Caller:
        token = bearer_token(metadata)
        return Caller.from_claims(await self._verifier.verify(token), token)
