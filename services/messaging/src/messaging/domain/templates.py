"""Reply templates: multilingual bodies with {{variables}}, versions, and how one is rendered.

A template's content (names, category, bodies, variables, visibility) is what a
version holds: every change makes a new version with the whole content, and a
rollback makes a new version with an earlier version's content. Rendering picks
the body for a language, fills the variables (the caller's value, else the
source field's, else the default) and reports those left without a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum

from crosstalk_common.errors import FieldViolation, InvalidArgument
from messaging.domain.language_tags import best_match, canonical_tag

MAX_DISPLAY_NAME_LENGTH = 100
MAX_CATEGORY_LENGTH = 100
MAX_BODY_LENGTH = 10_000
MAX_BODIES = 50
MAX_VARIABLES = 50
MAX_DESCRIPTION_LENGTH = 500
MAX_DEFAULT_LENGTH = 2_000
MAX_VALUE_LENGTH = 2_000
EDITABLE_FIELDS = (
    "display_name",
    "category",
    "bodies",
    "default_language",
    "variables",
    "visibility",
)

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Anything between double braces: checked against the declared keys.
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)


class TemplateVisibility(Enum):
    # Only its owner sees and uses it.
    PRIVATE = "private"
    # Every member of the tenant.
    SHARED = "shared"


# Where a variable's value may come from when the caller gives none: the
# customer's profile, or their latest order.
CUSTOMER_FIELDS = frozenset(
    {
        "customer.display_name",
        "customer.email",
        "customer.phone",
        "customer.country",
        "customer.language",
    }
)
ORDER_FIELDS = frozenset(
    {
        "order.external_id",
        "order.store",
        "order.amount",
        "order.item_count",
        "order.order_time",
    }
)
SOURCE_FIELDS = CUSTOMER_FIELDS | ORDER_FIELDS


@dataclass(frozen=True)
class TemplateBody:
    language: str
    text: str


@dataclass(frozen=True)
class TemplateVariable:
    key: str
    description: str = ""
    source_field: str = ""
    default_value: str = ""


@dataclass(frozen=True)
class TemplateContent:
    """What a version of a template holds."""

    display_name: str
    bodies: tuple[TemplateBody, ...]
    default_language: str
    variables: tuple[TemplateVariable, ...] = ()
    category: str = ""
    visibility: TemplateVisibility | None = None

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(b.language for b in self.bodies)

    def body(self, language: str) -> TemplateBody | None:
        """The body for ``language`` (same tag, else same language); None when none fits."""
        tag = best_match(language, self.languages)
        return next((b for b in self.bodies if b.language == tag), None) if tag else None

    def default_body(self) -> TemplateBody:
        found = next((b for b in self.bodies if b.language == self.default_language), None)
        assert found is not None, "validated content has a body in its default language"
        return found

    @property
    def source_fields(self) -> frozenset[str]:
        return frozenset(v.source_field for v in self.variables if v.source_field)


@dataclass(frozen=True)
class ReplyTemplate:
    id: str
    tenant_id: str
    owner_member_id: str
    content: TemplateContent
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def shared(self) -> bool:
        return self.content.visibility is TemplateVisibility.SHARED

    def visible_to(self, member_id: str) -> bool:
        """Shared templates are seen by everyone, private ones by their owner only."""
        return self.shared or (bool(member_id) and member_id == self.owner_member_id)

    def changed(self, content: TemplateContent, at: datetime) -> ReplyTemplate:
        """The next version, holding ``content``."""
        return replace(self, content=content, version=self.version + 1, updated_at=at)


@dataclass(frozen=True)
class TemplateVersion:
    """A template's content as it was at one version, and who made it."""

    template_id: str
    tenant_id: str
    version: int
    content: TemplateContent
    author: str
    created_at: datetime
    # For a rollback: the version whose content this one restored.
    restored_from: int = 0


def validate_content(
    content: TemplateContent, *, prefix: str = "reply_template"
) -> TemplateContent:
    """Trimmed, language tags spelled one way, and checked; every bad field reported at once."""
    bad: list[FieldViolation] = []
    display_name = content.display_name.strip()
    category = content.category.strip()
    if not display_name:
        bad.append(FieldViolation(f"{prefix}.display_name", "must not be empty"))
    elif len(display_name) > MAX_DISPLAY_NAME_LENGTH:
        bad.append(
            FieldViolation(
                f"{prefix}.display_name", f"at most {MAX_DISPLAY_NAME_LENGTH} characters"
            )
        )
    if len(category) > MAX_CATEGORY_LENGTH:
        bad.append(
            FieldViolation(f"{prefix}.category", f"at most {MAX_CATEGORY_LENGTH} characters")
        )
    if content.visibility is None:
        bad.append(
            FieldViolation(
                f"{prefix}.visibility",
                "must be TEMPLATE_VISIBILITY_PRIVATE or TEMPLATE_VISIBILITY_SHARED",
            )
        )
    variables = _checked_variables(content.variables, prefix, bad)
    keys = {v.key for v in variables}
    bodies = _checked_bodies(content.bodies, keys, prefix, bad)
    default_language = canonical_tag(content.default_language)
    if not content.default_language.strip():
        bad.append(FieldViolation(f"{prefix}.default_language", "must not be empty"))
    elif default_language is None:
        bad.append(
            FieldViolation(
                f"{prefix}.default_language", "must be a BCP-47 code such as 'en' or 'pt-BR'"
            )
        )
    elif bodies and default_language not in {b.language for b in bodies}:
        bad.append(
            FieldViolation(
                f"{prefix}.default_language",
                f"the template has no body in {default_language!r}",
            )
        )
    if bad:
        raise InvalidArgument(bad)
    assert default_language is not None
    return TemplateContent(
        display_name=display_name,
        category=category,
        bodies=tuple(bodies),
        default_language=default_language,
        variables=tuple(variables),
        visibility=content.visibility,
    )


def _checked_variables(
    variables: tuple[TemplateVariable, ...], prefix: str, bad: list[FieldViolation]
) -> list[TemplateVariable]:
    if len(variables) > MAX_VARIABLES:
        bad.append(FieldViolation(f"{prefix}.variables", f"at most {MAX_VARIABLES} variables"))
    seen: set[str] = set()
    checked: list[TemplateVariable] = []
    for i, variable in enumerate(variables):
        path = f"{prefix}.variables[{i}]"
        key = variable.key.strip()
        if not _KEY.match(key):
            bad.append(
                FieldViolation(
                    f"{path}.key", "must be lower_snake_case: a-z, 0-9 and _, at most 40"
                )
            )
        elif key in seen:
            bad.append(FieldViolation(f"{path}.key", f"{key!r} is declared twice"))
        seen.add(key)
        source = variable.source_field.strip()
        if source and source not in SOURCE_FIELDS:
            bad.append(
                FieldViolation(
                    f"{path}.source_field",
                    f"{source!r} is not a source field; one of {', '.join(sorted(SOURCE_FIELDS))}",
                )
            )
        if len(variable.description) > MAX_DESCRIPTION_LENGTH:
            bad.append(
                FieldViolation(
                    f"{path}.description", f"at most {MAX_DESCRIPTION_LENGTH} characters"
                )
            )
        if len(variable.default_value) > MAX_DEFAULT_LENGTH:
            bad.append(
                FieldViolation(f"{path}.default_value", f"at most {MAX_DEFAULT_LENGTH} characters")
            )
        checked.append(
            TemplateVariable(
                key=key,
                description=variable.description.strip(),
                source_field=source,
                default_value=variable.default_value,
            )
        )
    return checked


def _checked_bodies(
    bodies: tuple[TemplateBody, ...], keys: set[str], prefix: str, bad: list[FieldViolation]
) -> list[TemplateBody]:
    if not bodies:
        bad.append(FieldViolation(f"{prefix}.bodies", "a template needs at least one body"))
    elif len(bodies) > MAX_BODIES:
        bad.append(FieldViolation(f"{prefix}.bodies", f"at most {MAX_BODIES} bodies"))
    seen: set[str] = set()
    checked: list[TemplateBody] = []
    for i, body in enumerate(bodies):
        path = f"{prefix}.bodies[{i}]"
        language = canonical_tag(body.language)
        if language is None:
            bad.append(
                FieldViolation(f"{path}.language", "must be a BCP-47 code such as 'en' or 'pt-BR'")
            )
        elif language in seen:
            bad.append(FieldViolation(f"{path}.language", f"{language!r} has another body already"))
        else:
            seen.add(language)
        text = body.text.strip()
        if not text:
            bad.append(FieldViolation(f"{path}.text", "must not be empty"))
        elif len(text) > MAX_BODY_LENGTH:
            bad.append(FieldViolation(f"{path}.text", f"at most {MAX_BODY_LENGTH} characters"))
        if "{{" in _PLACEHOLDER.sub("", text):
            bad.append(FieldViolation(f"{path}.text", "a {{ is not closed: write {{key}}"))
        for raw in _PLACEHOLDER.findall(text):
            key = raw.strip()
            if not _KEY.match(key):
                bad.append(
                    FieldViolation(
                        f"{path}.text",
                        f"{{{{{raw}}}}} is not a variable: use {{{{key}}}} with a "
                        "lower_snake_case key",
                    )
                )
            elif key not in keys:
                bad.append(
                    FieldViolation(f"{path}.text", f"{{{{{key}}}}} is not declared in variables")
                )
        checked.append(TemplateBody(language or body.language, text))
    return checked


# --- rendering ------------------------------------------------------------------------


@dataclass(frozen=True)
class Filled:
    """A text with its variables filled, and those that had no value (left as {{key}})."""

    text: str
    missing: tuple[str, ...] = field(default=())


def variable_values(
    content: TemplateContent,
    given: Mapping[str, str],
    sources: Mapping[str, str],
    *,
    field_path: str = "variables",
) -> dict[str, str]:
    """Each declared variable's value: the caller's, else its source field's, else its
    default; a variable with none of them is absent. A value for an undeclared key is
    INVALID_ARGUMENT naming it."""
    keys = {v.key for v in content.variables}
    bad = [
        FieldViolation(f'{field_path}["{key}"]', "is not a variable of the template")
        for key in given
        if key not in keys
    ]
    bad += [
        FieldViolation(f'{field_path}["{key}"]', f"at most {MAX_VALUE_LENGTH} characters")
        for key, value in given.items()
        if len(value) > MAX_VALUE_LENGTH
    ]
    if bad:
        raise InvalidArgument(bad)
    values: dict[str, str] = {}
    for variable in content.variables:
        value = given.get(variable.key, "")
        if not value and variable.source_field:
            value = sources.get(variable.source_field, "")
        if not value:
            value = variable.default_value
        if value:
            values[variable.key] = value
    return values


def fill(text: str, values: Mapping[str, str]) -> Filled:
    """``text`` with every ``{{key}}`` replaced by its value, in one pass (a value that
    itself looks like ``{{other}}`` is not filled again)."""
    missing: list[str] = []

    def one(match: re.Match[str]) -> str:
        key = match.group(1).strip()
        if key in values:
            return values[key]
        if key not in missing:
            missing.append(key)
        return "{{" + key + "}}"

    return Filled(_PLACEHOLDER.sub(one, text), tuple(missing))


@dataclass(frozen=True)
class BodyChoice:
    """The body to render for a wanted language, and whether it must be translated first."""

    body: TemplateBody
    # The language of the rendered text.
    language: str
    translate: bool


def choose_body(content: TemplateContent, wanted: str) -> BodyChoice:
    """The body in ``wanted`` (same tag, else same language); without one, the default
    body, to be machine-translated into ``wanted``. No (or an undetermined) language
    wanted: the default body as it is."""
    tag = canonical_tag(wanted) if wanted else None
    if tag is None or tag == "und":
        default = content.default_body()
        return BodyChoice(default, default.language, translate=False)
    body = content.body(tag)
    if body is not None:
        return BodyChoice(body, body.language, translate=False)
    return BodyChoice(content.default_body(), tag, translate=True)
