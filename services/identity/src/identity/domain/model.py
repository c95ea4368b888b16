"""Tenants and members as the domain sees them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from crosstalk_common.errors import FieldViolation, InvalidArgument

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class Tenant:
    id: str
    display_name: str
    industry: str
    team_size: int
    working_language: str
    created_at: datetime


@dataclass(frozen=True)
class Member:
    id: str
    tenant_id: str
    email: str
    display_name: str
    role: str
    created_at: datetime


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
        if len(self.admin_password) < MIN_PASSWORD_LENGTH:
            problems.append(
                FieldViolation(
                    "admin_password", f"must have at least {MIN_PASSWORD_LENGTH} characters"
                )
            )
        if problems:
            raise InvalidArgument(problems)
