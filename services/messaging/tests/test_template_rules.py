"""Reply templates in the domain: validation, language tags, filling variables, choosing a body."""

from __future__ import annotations

import pytest

from crosstalk_common.errors import InvalidArgument
from messaging.domain.language_tags import best_match, canonical_tag
from messaging.domain.replies import Outbound
from messaging.domain.templates import (
    TemplateBody,
    TemplateContent,
    TemplateVariable,
    TemplateVisibility,
    choose_body,
    fill,
    validate_content,
    variable_values,
)

ORDER = TemplateVariable("order_number", source_field="order.external_id")
NAME = TemplateVariable("name", source_field="customer.display_name", default_value="there")


def content(**overrides: object) -> TemplateContent:
    base = TemplateContent(
        display_name="Shipped",
        bodies=(
            TemplateBody("en", "Hi {{name}}, order {{ order_number }} has shipped."),
            TemplateBody("de", "Hallo {{name}}, Bestellung {{order_number}} ist unterwegs."),
        ),
        default_language="en",
        variables=(NAME, ORDER),
        category="shipping",
        visibility=TemplateVisibility.PRIVATE,
    )
    return TemplateContent(**{**base.__dict__, **overrides})  # type: ignore[arg-type]


def fields_of(exc: pytest.ExceptionInfo[InvalidArgument]) -> dict[str, str]:
    """Each field's descriptions, joined."""
    found: dict[str, str] = {}
    for v in exc.value.violations:
        found[v.field] = f"{found[v.field]}; {v.description}" if v.field in found else v.description
    return found


def test_a_valid_template_is_trimmed_and_its_tags_spelled_one_way() -> None:
    checked = validate_content(
        content(
            display_name="  Shipped ",
            bodies=(TemplateBody("EN", " Hi {{name}} "), TemplateBody("pt-br", "Oi {{name}}")),
            default_language="En",
        )
    )
    assert checked.display_name == "Shipped"
    assert checked.languages == ("en", "pt-BR")
    assert checked.default_language == "en"
    assert checked.bodies[0].text == "Hi {{name}}"


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_content(
            content(
                display_name="",
                bodies=(
                    TemplateBody("en", "Hi {{nme}}, see {{Bad-Key}}"),
                    TemplateBody("EN", "again"),
                    TemplateBody("english!", "x"),
                ),
                default_language="fr",
                variables=(
                    NAME,
                    TemplateVariable("name"),
                    TemplateVariable("x", source_field="order.colour"),
                ),
                visibility=None,
            )
        )
    bad = fields_of(caught)
    assert "reply_template.display_name" in bad
    assert "{{nme}} is not declared" in bad["reply_template.bodies[0].text"]
    assert "{{Bad-Key}} is not a variable" in bad["reply_template.bodies[0].text"]
    assert "reply_template.bodies[1].language" in bad  # "en" twice
    assert "BCP-47" in bad["reply_template.bodies[2].language"]
    assert "no body in 'fr'" in bad["reply_template.default_language"]
    assert "declared twice" in bad["reply_template.variables[1].key"]
    assert "reply_template.variables[2].source_field" in bad
    assert "reply_template.visibility" in bad


def test_the_bad_placeholder_itself_is_reported() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_content(content(bodies=(TemplateBody("en", "{{Order-No}}"),)))
    assert "{{Order-No}} is not a variable" in fields_of(caught)["reply_template.bodies[0].text"]


@pytest.mark.parametrize("text", ["Hello {{name", "Hello {{name}}, order {{ order_no", "{{{{"])
def test_an_unclosed_placeholder_is_refused(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_content(content(bodies=(TemplateBody("en", text),)))
    assert "is not closed" in fields_of(caught)["reply_template.bodies[0].text"]


def test_a_template_needs_a_body() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_content(content(bodies=()))
    assert "reply_template.bodies" in fields_of(caught)


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [("en", "en"), ("PT_br", "pt-BR"), ("zh-hant-tw", "zh-Hant-TW"), ("es-419", "es-419")],
)
def test_language_tags_are_canonical(tag: str, canonical: str) -> None:
    assert canonical_tag(tag) == canonical


@pytest.mark.parametrize("tag", ["", "e", "english", "en-", "en--US", "1a", "en US"])
def test_not_language_tags(tag: str) -> None:
    assert canonical_tag(tag) is None


def test_a_language_is_served_by_the_same_tag_else_the_same_language() -> None:
    assert best_match("es-MX", ["en", "es"]) == "es"
    assert best_match("es", ["en", "es-ES"]) == "es-ES"
    assert best_match("pt-BR", ["pt-PT", "pt-BR"]) == "pt-BR"
    assert best_match("fr", ["en", "es"]) is None


def test_values_come_from_the_caller_then_the_source_then_the_default() -> None:
    c = validate_content(content())
    sources = {"customer.display_name": "Ana", "order.external_id": "A-1001"}
    assert variable_values(c, {}, sources) == {"name": "Ana", "order_number": "A-1001"}
    assert variable_values(c, {"name": "Señora Ruiz"}, sources)["name"] == "Señora Ruiz"
    assert variable_values(c, {}, {}) == {"name": "there"}  # order_number has no value


def test_a_value_for_an_undeclared_variable_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        variable_values(validate_content(content()), {"coupon": "X"}, {})
    assert '"variables["coupon"]"' not in fields_of(caught)
    assert 'variables["coupon"]' in fields_of(caught)


def test_fill_replaces_in_one_pass_and_reports_what_is_missing() -> None:
    filled = fill("Hi {{name}}, order {{ order_number }} {{name}}", {"name": "{{order_number}}"})
    assert filled.text == "Hi {{order_number}}, order {{order_number}} {{order_number}}"
    assert filled.missing == ("order_number",)


def test_choosing_a_body() -> None:
    c = validate_content(content())
    german = choose_body(c, "de-AT")
    assert (german.body.language, german.language, german.translate) == ("de", "de", False)
    spanish = choose_body(c, "es")
    assert (spanish.body.language, spanish.language, spanish.translate) == ("en", "es", True)
    for nothing in ("", "und"):
        default = choose_body(c, nothing)
        assert (default.body.language, default.translate) == ("en", False)


def test_a_reply_records_a_template_version_only_with_its_template() -> None:
    ok = Outbound("Hi", "members/m", template="replyTemplates/t", template_version=3)
    assert ok.problems() == []
    assert [p.field for p in Outbound("Hi", "members/m", template_version=3).problems()] == [
        "template_version"
    ]
    negative = Outbound("Hi", "members/m", template="replyTemplates/t", template_version=-1)
    assert [p.field for p in negative.problems()] == ["template_version"]
