"""Tenants, members, the organisation, roles and credentials as the domain sees them.

Pure Python: validation raises ``crosstalk_common.errors`` (which are plain
exceptions) naming the request field at fault.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.permissions import CATALOGUE, DataScope
from crosstalk_common.text_rules import normalized_identity
from identity.domain.passwords import MIN_PASSWORD_LENGTH, password_problem

_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-./]{2,30}$")
MAX_NAME = 200


def etag_of(version: int) -> str:
    return f'W/"{version}"'


def normalize_email(email: str) -> str:
    """As compared and stored: NFC, trimmed, lower-cased."""
    return normalized_identity(email).lower()


def email_problem(email: str) -> str | None:
    if not email:
        return "must not be empty"
    if len(email) > 320 or not _EMAIL.match(email):
        return "must be an email address such as 'ana@example.com'"
    return None


def language_problem(code: str) -> str | None:
    if not _LANGUAGE.match(code):
        return f"{code!r} is not a BCP-47 code such as 'en' or 'zh-CN'"
    return None


def phone_problem(phone: str) -> str | None:
    if phone and not _PHONE.match(phone):
        return "must be a phone number: digits, spaces, '-', '(', ')' and an optional leading '+'"
    return None


def time_zone_problem(zone: str) -> str | None:
    if not zone:
        return None
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{zone!r} is not an IANA time zone such as 'Asia/Shanghai'"
    return None


def name_problem(name: str, *, limit: int = MAX_NAME) -> str | None:
    if not name.strip():
        return "must not be empty"
    if len(name) > limit:
        return f"at most {limit} characters"
    return None


def permission_violations(permissions: Iterable[str], field_name: str) -> list[FieldViolation]:
    return [
        FieldViolation(f"{field_name}[{i}]", f"{p!r} is not a permission (see ListPermissions)")
        for i, p in enumerate(permissions)
        if p not in CATALOGUE
    ]


def raise_if(problems: list[FieldViolation]) -> None:
    if problems:
        raise InvalidArgument(problems)


# --- tenants -----------------------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    id: str
    display_name: str
    industry: str
    team_size: int
    working_language: str
    created_at: datetime


@dataclass(frozen=True)
class TokenLifetimes:
    """The platform's token lifetimes; tenants may shorten them."""

    access: timedelta = timedelta(minutes=15)
    refresh: timedelta = timedelta(days=30)


DEFAULT_LIFETIMES = TokenLifetimes()


@dataclass(frozen=True)
class TenantSettings:
    tenant_id: str
    max_filter_conditions: int = 10
    include_sub_departments: bool = True
    default_time_zone: str = "UTC"
    # 0: the platform's lifetime.
    access_token_ttl_seconds: int = 0
    refresh_token_ttl_seconds: int = 0
    min_password_length: int = MIN_PASSWORD_LENGTH
    dormancy_period_seconds: int = 90 * 86400
    updated_at: datetime | None = None
    version: int = 0

    @property
    def etag(self) -> str:
        return etag_of(self.version)

    def access_ttl(self, platform: TokenLifetimes) -> timedelta:
        own = timedelta(seconds=self.access_token_ttl_seconds)
        return min(own, platform.access) if self.access_token_ttl_seconds else platform.access

    def refresh_ttl(self, platform: TokenLifetimes) -> timedelta:
        own = timedelta(seconds=self.refresh_token_ttl_seconds)
        return min(own, platform.refresh) if self.refresh_token_ttl_seconds else platform.refresh

    def validate(self, platform: TokenLifetimes, prefix: str = "tenant_settings") -> None:
        problems: list[FieldViolation] = []
        if not 1 <= self.max_filter_conditions <= 50:
            problems.append(
                FieldViolation(f"{prefix}.max_filter_conditions", "must be between 1 and 50")
            )
        zone = time_zone_problem(self.default_time_zone)
        if zone or not self.default_time_zone:
            problems.append(
                FieldViolation(f"{prefix}.default_time_zone", zone or "must not be empty")
            )
        if self.access_token_ttl_seconds and not (
            60 <= self.access_token_ttl_seconds <= platform.access.total_seconds()
        ):
            problems.append(
                FieldViolation(
                    f"{prefix}.access_token_ttl",
                    "must be between 60s and the platform's "
                    f"{int(platform.access.total_seconds())}s",
                )
            )
        if self.refresh_token_ttl_seconds and not (
            3600 <= self.refresh_token_ttl_seconds <= platform.refresh.total_seconds()
        ):
            problems.append(
                FieldViolation(
                    f"{prefix}.refresh_token_ttl",
                    f"must be between 3600s and the platform's "
                    f"{int(platform.refresh.total_seconds())}s",
                )
            )
        if not MIN_PASSWORD_LENGTH <= self.min_password_length <= 128:
            problems.append(
                FieldViolation(
                    f"{prefix}.min_password_length",
                    f"must be between {MIN_PASSWORD_LENGTH} and 128",
                )
            )
        if self.dormancy_period_seconds < 86400:
            problems.append(FieldViolation(f"{prefix}.dormancy_period", "must be at least 1 day"))
        raise_if(problems)


# Fields UpdateTenantSettings may write.
SETTINGS_FIELDS = (
    "max_filter_conditions",
    "include_sub_departments",
    "default_time_zone",
    "access_token_ttl",
    "refresh_token_ttl",
    "min_password_length",
    "dormancy_period",
)


@dataclass(frozen=True)
class SignUp:
    company_name: str
    industry: str
    team_size: int
    working_language: str
    admin_email: str
    admin_display_name: str
    admin_password: str

    def validate(self) -> None:
        problems: list[FieldViolation] = []
        if not self.company_name.strip():
            problems.append(FieldViolation("company_name", "must not be empty"))
        elif len(self.company_name) > 200:
            problems.append(FieldViolation("company_name", "at most 200 characters"))
        if len(self.industry) > 100:
            problems.append(FieldViolation("industry", "at most 100 characters"))
        if self.team_size < 0:
            problems.append(FieldViolation("team_size", "must not be negative"))
        if not _LANGUAGE.match(self.working_language):
            problems.append(
                FieldViolation("working_language", "must be a BCP-47 code such as 'zh' or 'en'")
            )
        if not _EMAIL.match(self.admin_email.strip()):
            problems.append(FieldViolation("admin_email", "must be an email address"))
        if not self.admin_display_name.strip():
            problems.append(FieldViolation("admin_display_name", "must not be empty"))
        bad_password = password_problem(
            self.admin_password, min_length=MIN_PASSWORD_LENGTH, email=self.admin_email
        )
        if bad_password:
            problems.append(FieldViolation("admin_password", bad_password))
        raise_if(problems)


# --- members -----------------------------------------------------------------


class MemberState(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class MemberAvailability(StrEnum):
    """Whether a member takes new conversations now (assignment skips the others)."""

    AVAILABLE = "available"
    AWAY = "away"
    OFFLINE = "offline"


# Most open conversations a member can be given a limit of (0: no limit).
MAX_CAPACITY = 1000


@dataclass(frozen=True)
class Member:
    id: str
    tenant_id: str
    email: str
    display_name: str
    # The role's id ("admin", or a custom role's id); "roles/{role}" outside.
    role: str
    created_at: datetime
    phone: str = ""
    department_id: str = ""
    languages: tuple[str, ...] = ()
    state: MemberState = MemberState.ACTIVE
    time_zone: str = ""
    # Group ids, sorted.
    groups: tuple[str, ...] = ()
    updated_at: datetime | None = None
    last_login_at: datetime | None = None
    version: int = 1
    has_password: bool = True
    # Most open conversations assigned at once; 0 means no limit.
    capacity: int = 0
    availability: MemberAvailability = MemberAvailability.AVAILABLE

    @property
    def etag(self) -> str:
        return etag_of(self.version)

    @property
    def active(self) -> bool:
        return self.state is MemberState.ACTIVE

    def snapshot(self) -> dict[str, Any]:
        """What the audit log keeps of a member (never a password or its hash)."""
        return {
            "email": self.email,
            "display_name": self.display_name,
            "phone": self.phone,
            "department": f"departments/{self.department_id}" if self.department_id else "",
            "role": f"roles/{self.role}",
            "languages": list(self.languages),
            "state": self.state.value,
            "time_zone": self.time_zone,
            "groups": [f"groups/{g}" for g in self.groups],
            "has_password": self.has_password,
            "capacity": self.capacity,
            "availability": self.availability.value,
        }


# Fields UpdateMember may write (state only through Disable/EnableMember).
MEMBER_FIELDS = (
    "email",
    "display_name",
    "phone",
    "department",
    "role",
    "languages",
    "groups",
    "time_zone",
    "capacity",
    "availability",
)
# What a member may change of their own (without members.manage): nothing that
# widens what they may do or see (role, department, groups) or signs them in
# (email).
SELF_SERVICE_FIELDS = frozenset(
    {"display_name", "phone", "languages", "time_zone", "capacity", "availability"}
)


def validate_member(member: Member, prefix: str = "member") -> None:
    problems: list[FieldViolation] = []
    bad = email_problem(member.email)
    if bad:
        problems.append(FieldViolation(f"{prefix}.email", bad))
    bad = name_problem(member.display_name)
    if bad:
        problems.append(FieldViolation(f"{prefix}.display_name", bad))
    bad = phone_problem(member.phone)
    if bad:
        problems.append(FieldViolation(f"{prefix}.phone", bad))
    for i, code in enumerate(member.languages):
        bad = language_problem(code)
        if bad:
            problems.append(FieldViolation(f"{prefix}.languages[{i}]", bad))
    bad = time_zone_problem(member.time_zone)
    if bad:
        problems.append(FieldViolation(f"{prefix}.time_zone", bad))
    if not 0 <= member.capacity <= MAX_CAPACITY:
        problems.append(
            FieldViolation(
                f"{prefix}.capacity", f"must be 0 (no limit) to {MAX_CAPACITY} open conversations"
            )
        )
    raise_if(problems)


# --- organisation ------------------------------------------------------------


@dataclass(frozen=True)
class Department:
    id: str
    tenant_id: str
    display_name: str
    parent_id: str = ""
    manager_id: str = ""
    sort_order: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1
    member_count: int = 0

    @property
    def etag(self) -> str:
        return etag_of(self.version)

    def snapshot(self) -> dict[str, Any]:
        return {
            "display_name": self.display_name,
            "parent": f"departments/{self.parent_id}" if self.parent_id else "",
            "manager": f"members/{self.manager_id}" if self.manager_id else "",
            "sort_order": self.sort_order,
        }


DEPARTMENT_FIELDS = ("display_name", "parent", "manager", "sort_order")


def validate_department(department: Department, prefix: str = "department") -> None:
    problems: list[FieldViolation] = []
    bad = name_problem(department.display_name, limit=100)
    if bad:
        problems.append(FieldViolation(f"{prefix}.display_name", bad))
    elif "/" in department.display_name:
        problems.append(
            FieldViolation(
                f"{prefix}.display_name", "must not contain '/' (it separates department paths)"
            )
        )
    raise_if(problems)


class GroupKind(StrEnum):
    SALES = "sales"
    SERVICE = "service"
    MARKETING = "marketing"
    CUSTOM = "custom"


@dataclass(frozen=True)
class Group:
    id: str
    tenant_id: str
    display_name: str
    kind: GroupKind = GroupKind.CUSTOM
    member_ids: tuple[str, ...] = ()
    leader_id: str = ""
    permissions: frozenset[str] = frozenset()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def etag(self) -> str:
        return etag_of(self.version)

    def snapshot(self) -> dict[str, Any]:
        return {
            "display_name": self.display_name,
            "kind": self.kind.value,
            "members": [f"members/{m}" for m in self.member_ids],
            "leader": f"members/{self.leader_id}" if self.leader_id else "",
            "permissions": sorted(self.permissions),
        }


GROUP_FIELDS = ("display_name", "kind", "members", "leader", "permissions")


def validate_group(group: Group, prefix: str = "group") -> None:
    problems: list[FieldViolation] = []
    bad = name_problem(group.display_name, limit=100)
    if bad:
        problems.append(FieldViolation(f"{prefix}.display_name", bad))
    problems += permission_violations(sorted(group.permissions), f"{prefix}.permissions")
    if group.leader_id and group.leader_id not in group.member_ids:
        problems.append(FieldViolation(f"{prefix}.leader", "the leader must be one of the members"))
    raise_if(problems)


# --- roles -------------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    id: str
    tenant_id: str
    display_name: str
    permissions: frozenset[str]
    data_scope: DataScope
    description: str = ""
    include_sub_departments: bool = False
    built_in: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def etag(self) -> str:
        return etag_of(self.version)

    def snapshot(self) -> dict[str, Any]:
        return {
            "display_name": self.display_name,
            "description": self.description,
            "permissions": sorted(self.permissions),
            "data_scope": self.data_scope.value,
            "include_sub_departments": self.include_sub_departments,
            "built_in": self.built_in,
        }


ROLE_FIELDS = (
    "display_name",
    "description",
    "permissions",
    "data_scope",
    "include_sub_departments",
)


def validate_role(role: Role, permissions_in_request: list[str], prefix: str = "role") -> None:
    problems: list[FieldViolation] = []
    bad = name_problem(role.display_name, limit=100)
    if bad:
        problems.append(FieldViolation(f"{prefix}.display_name", bad))
    if len(role.description) > 500:
        problems.append(FieldViolation(f"{prefix}.description", "at most 500 characters"))
    problems += permission_violations(permissions_in_request, f"{prefix}.permissions")
    raise_if(problems)


# --- credentials -------------------------------------------------------------


class ApiKeyState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant_id: str
    display_name: str
    role: str
    key_prefix: str
    creator: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def state(self, now: datetime) -> ApiKeyState:
        if self.revoked_at is not None:
            return ApiKeyState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return ApiKeyState.EXPIRED
        return ApiKeyState.ACTIVE

    def snapshot(self) -> dict[str, Any]:
        return {
            "display_name": self.display_name,
            "role": f"roles/{self.role}",
            "key_prefix": self.key_prefix,
            "creator": self.creator,
            "expire_time": self.expires_at.isoformat() if self.expires_at else "",
            "revoke_time": self.revoked_at.isoformat() if self.revoked_at else "",
        }


@dataclass(frozen=True)
class Session:
    id: str
    tenant_id: str
    member_id: str
    created_at: datetime
    expires_at: datetime
    user_agent: str = ""
    ip_address: str = ""
    last_refresh_at: datetime | None = None
    revoked_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


@dataclass(frozen=True)
class RefreshToken:
    """A stored refresh token: only the hash of the secret the client holds."""

    token_hash: str
    session_id: str
    tenant_id: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: str
    tenant_id: str
    actor: str
    event_time: datetime
    action: str
    target: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    ip_address: str = ""
    trace_id: str = ""


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    # Exact action, or a prefix when it ends with "*".
    action: str = ""
    target: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None
