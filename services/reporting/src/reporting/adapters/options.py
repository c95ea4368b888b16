"""Reporting's own settings, from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from reporting.adapters.smtp_mailer import SmtpMailer


@dataclass(frozen=True)
class ReportingOptions:
    """REPORTING_SMTP_HOST (unset: scheduled reports are built but not mailed),
    REPORTING_SMTP_PORT (25), REPORTING_SMTP_FROM, REPORTING_SMTP_USERNAME,
    REPORTING_SMTP_PASSWORD, REPORTING_SMTP_STARTTLS ("1" to upgrade),
    REPORTING_DAY_ZONES (IANA zones, comma-separated: their local days are
    kept as day rows, so queries by day, week or month in them read a row per
    day instead of 24 hour rows)."""

    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "reports@crosstalk.invalid"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    day_zones: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> ReportingOptions:
        env = os.environ
        return cls(
            smtp_host=env.get("REPORTING_SMTP_HOST", ""),
            smtp_port=int(env.get("REPORTING_SMTP_PORT", "25")),
            smtp_from=env.get("REPORTING_SMTP_FROM", cls.smtp_from),
            smtp_username=env.get("REPORTING_SMTP_USERNAME", ""),
            smtp_password=env.get("REPORTING_SMTP_PASSWORD", ""),
            smtp_starttls=env.get("REPORTING_SMTP_STARTTLS", "") == "1",
            day_zones=tuple(
                z.strip() for z in env.get("REPORTING_DAY_ZONES", "").split(",") if z.strip()
            ),
        )

    def mailer(self) -> SmtpMailer | None:
        if not self.smtp_host:
            return None
        return SmtpMailer(
            self.smtp_host,
            self.smtp_port,
            self.smtp_from,
            self.smtp_username,
            self.smtp_password,
            self.smtp_starttls,
        )
