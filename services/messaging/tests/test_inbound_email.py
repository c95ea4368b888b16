"""Inbound e-mail parsing with the standard library: threads, quoted text, attachments,
malformed MIME."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from crosstalk_common.errors import InvalidArgument
from messaging.domain.inbound_email import parse_email, strip_quoted


def _mail(text: str = "Hola, ¿dónde está mi pedido 4711-ÄB?") -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Ana García <Ana.Garcia@Example.es>"
    mail["To"] = "support@shop.test"
    mail["Subject"] = "Pedido   4711-ÄB"
    mail["Message-ID"] = "<CAF=abc@mail.example.es>"
    mail["In-Reply-To"] = "<m-1@shop.test>"
    mail["References"] = "<m-0@shop.test> <m-1@shop.test>"
    mail.set_content(text)
    return mail


def test_a_plain_mail_is_read_with_its_thread_headers() -> None:
    mail = parse_email(bytes(_mail()))
    assert mail.from_address == "Ana.Garcia@Example.es"
    assert mail.from_name == "Ana García"
    assert mail.subject == "Pedido 4711-ÄB"
    assert mail.message_id == "<CAF=abc@mail.example.es>"
    assert mail.in_reply_to == "<m-1@shop.test>"
    assert mail.references == ("<m-0@shop.test>", "<m-1@shop.test>")
    assert mail.text == "Hola, ¿dónde está mi pedido 4711-ÄB?"
    assert mail.attachments == ()


def test_attachments_are_recorded_with_name_type_and_size() -> None:
    mail = _mail()
    mail.add_attachment(
        b"\x89PNG" + bytes(1000), maintype="image", subtype="png", filename="foto.png"
    )
    mail.add_attachment(
        b"%PDF-1.7 ...", maintype="application", subtype="pdf", filename="factura.pdf"
    )
    parsed = parse_email(bytes(mail))
    assert [(a.name, a.content_type, a.size_bytes) for a in parsed.attachments] == [
        ("foto.png", "image/png", 1004),
        ("factura.pdf", "application/pdf", 12),
    ]
    assert parsed.text == "Hola, ¿dónde está mi pedido 4711-ÄB?"


def test_an_html_only_mail_is_read_as_text() -> None:
    mail = EmailMessage()
    mail["From"] = "b@example.com"
    mail.set_content(
        "<p>Where is order <b>123</b>?</p><blockquote>old thread</blockquote>", subtype="html"
    )
    assert parse_email(bytes(mail)).text == "Where is order 123?"


def test_a_latin1_mail_is_decoded() -> None:
    raw = (
        b"From: c@example.fr\r\nSubject: =?iso-8859-1?q?Caf=E9?=\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nUn caf\xe9, s'il vous pla\xeet\r\n"
    )
    mail = parse_email(raw)
    assert mail.subject == "Café"
    assert mail.text == "Un café, s'il vous plaît"
    assert mail.message_id == ""


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n",
        b"this is not a mail at all",
        b"From: a@b.test\r\nContent-Type: multipart/mixed\r\n\r\nno boundary",
        b'From: a@b.test\r\nContent-Type: multipart/mixed; boundary="zz"\r\n\r\nno parts here',
        b"Subject: nobody sent this\r\n\r\ntext",
        b"From: not an address\r\n\r\ntext",
    ],
)
def test_malformed_mail_is_invalid_argument_on_body(raw: bytes) -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse_email(raw)
    assert [v.field for v in refused.value.violations] == ["body"]


@pytest.mark.parametrize(
    ("text", "new"),
    [
        (
            "Gracias!\n\nEl lun, 7 dic 2026 a las 10:00, Shop <s@shop.test> escribió:\n> Hola\n",
            "Gracias!",
        ),
        (
            "Thanks!\n\nOn Mon, Dec 7, 2026 at 10:00 AM Shop <s@shop.test> wrote:\n> old\n",
            "Thanks!",
        ),
        ("Thanks!\nOn Mon, Dec 7, 2026 at 10:00 AM Shop\n<s@shop.test> wrote:\n> old\n", "Thanks!"),
        ("Danke\n\nAm 07.12.2026 um 10:00 schrieb Shop <s@shop.test>:\n> alt", "Danke"),
        ("Merci\n\nLe 7 déc. 2026, Shop a écrit :\n> vieux", "Merci"),
        ("好的\n\n在 2026年12月7日,Shop 写道:\n> 旧", "好的"),
        ("Ok\n\n-----Original Message-----\nFrom: Shop\nSent: Monday", "Ok"),
        ("Ok\n\nFrom: Shop <s@shop.test>\nSent: Monday\nTo: me", "Ok"),
        ("Ok\n-- \nAna García\nCEO", "Ok"),
        ("Top answer\n\n> quoted\n> more\n\n", "Top answer"),
        (
            "Inline\n> question one\nanswer one\n> question two\nanswer two",
            "Inline\nanswer one\nanswer two",
        ),
        ("No quote at all\nsecond line", "No quote at all\nsecond line"),
        ("Windows\r\nlines\r\n\r\nOn Mon, Shop wrote:\r\n> x", "Windows\nlines"),
    ],
)
def test_quoted_text_is_stripped(text: str, new: str) -> None:
    assert strip_quoted(text) == new


def test_a_reply_threads_on_the_stripped_text() -> None:
    mail = _mail(
        "Sí, gracias\n\nOn Mon, Dec 7, 2026 Shop <s@shop.test> wrote:\n> Your order shipped"
    )
    assert parse_email(bytes(mail)).text == "Sí, gracias"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hi<br>there</p><blockquote>old</blockquote>x", "Hi\nthere\nx"),
        ("<script>a <style>b</style>c", "a c"),  # an unclosed block stays text
        ("<SCRIPT>x</script>y<style>z", "yz"),
        ("a &amp; b <b>bold</b>", "a & b bold"),
        ("<p>unclosed <b", "unclosed <b"),
    ],
)
def test_html_keeps_its_text(html: str, text: str) -> None:
    mail = EmailMessage()
    mail["From"] = "b@example.com"
    mail.set_content(html, subtype="html")
    assert parse_email(bytes(mail)).text == text


# A mail gateway may post up to the gateway's 16 MiB. Each of these took hours with
# the patterns that searched on from every unclosed tag or quoted line (24 s for a
# tenth of the first one); the timeout is a guard three hundred times what they take.
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "body",
    [
        "<script" * 200_000,
        "<a" * 800_000,
        "> quoted\n" * 200_000 + "the new text at the end",
        "Am " + "schrieb :x " * 100_000,
    ],
    ids=["unclosed scripts", "unclosed tags", "quoted lines", "one endless line"],
)
def test_a_hostile_body_is_read_in_one_pass(body: str) -> None:
    mail = EmailMessage()
    mail["From"] = "b@example.com"
    mail.set_content(body, subtype="html" if body.startswith("<") else "plain")
    parsed = parse_email(bytes(mail))
    assert len(parsed.text) <= len(body)
