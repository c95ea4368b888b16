"""Inbound e-mail: a raw RFC 822 message as a mail gateway posts it, read with the
standard library's ``email`` package.

What messaging keeps of it: the sender, the subject, the Message-ID (the
message's channel id, so a re-posted mail is stored once and replies can
thread), In-Reply-To and References, the new text without the quoted history,
and each attachment's name, type and size.
"""

from __future__ import annotations

import email
import email.policy
import html as html_module
import re
from dataclasses import dataclass
from email.errors import HeaderParseError, MessageDefect
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import getaddresses

from crosstalk_common.errors import FieldViolation, InvalidArgument

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# A line that opens the quoted history: "On <date>, <who> wrote:" in several
# languages (possibly wrapped over two lines), Outlook's separators and header blocks.
_ATTRIBUTION = re.compile(
    r"^\s*(On\b.*\bwrote:|El\b.*\bescribió:|Le\b.*\ba écrit\s*:|Am\b.*\bschrieb\b.*:"
    r"|Il\b.*\bha scritto:|Em\b.*\bescreveu:|在.*写道[::]|.*\bwrote:)\s*$",
    re.IGNORECASE,
)
_SEPARATORS = re.compile(
    r"^\s*(-{2,}\s*(Original Message|Mensaje original|Message d'origine|"
    r"Ursprüngliche Nachricht|Forwarded message)\s*-{2,}|_{10,})\s*$",
    re.IGNORECASE,
)
_OUTLOOK_HEADER = re.compile(r"^\s*(From|De|Von|Da|发件人)\s*:\s.+$", re.IGNORECASE)
_QUOTED = re.compile(r"^\s*>")
_SIGNATURE = re.compile(r"^-- ?$")
# An attribution or a header line is short: longer lines are not matched against
# those patterns, whose cost grows with the square of a line's length.
_MAX_MARKER_LINE = 1000
# Blocks of HTML dropped with their content, and how each ends.
_DROPPED_BLOCK = re.compile(r"<(script|style|blockquote)\b", re.IGNORECASE)
_BLOCK_END = {
    name: re.compile(rf"</{name}>", re.IGNORECASE) for name in ("script", "style", "blockquote")
}
_LINE_BREAK_TAG = re.compile(r"(?i)<br\s*/?>|</p>|</div>")
MAX_SUBJECT = 500


@dataclass(frozen=True)
class EmailAttachment:
    name: str
    content_type: str
    size_bytes: int


@dataclass(frozen=True)
class InboundEmail:
    from_address: str
    from_name: str
    subject: str
    message_id: str  # "<id@host>", "" when the mail has none
    in_reply_to: str
    references: tuple[str, ...]
    text: str  # the new text, quoted history stripped
    attachments: tuple[EmailAttachment, ...]


def _malformed(why: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation("body", f"not a valid RFC 822 message: {why}")])


def _message_ids(value: str | None) -> tuple[str, ...]:
    return tuple(_MESSAGE_ID.findall(value or ""))


def strip_quoted(text: str) -> str:
    """The new part of a reply: up to the quoted history (an attribution line, "> "
    lines, an Outlook separator or header block) or the "-- " signature marker."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # quoted_to_end[i]: lines i.. are all quoted or blank (one pass from the end).
    quoted_to_end = [True] * (len(lines) + 1)
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        quoted_to_end[index] = quoted_to_end[index + 1] and (
            not line.strip() or bool(_QUOTED.match(line))
        )
    kept: list[str] = []
    for index, line in enumerate(lines):
        if _ends_new_text(lines, index):
            break
        if _QUOTED.match(line):
            # a quoted block ends the new text once everything after it is quoted or blank
            if quoted_to_end[index]:
                break
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def _ends_new_text(lines: list[str], index: int) -> bool:
    """Whether line ``index`` opens the quoted history or the signature (a line
    longer than any marker never does)."""
    line = lines[index]
    if len(line) > _MAX_MARKER_LINE:
        return False
    following = lines[index + 1] if index + 1 < len(lines) else ""
    if _SIGNATURE.match(line) or _SEPARATORS.match(line) or _ATTRIBUTION.match(line):
        return True
    # "On Mon, 7 Dec 2026 at 10:00, Shop <a@b>" + "wrote:" wrapped onto the next line
    if (
        line.strip()
        and len(following) <= _MAX_MARKER_LINE
        and following.strip().lower().endswith(("wrote:", "escribió:", "a écrit :"))
        and _ATTRIBUTION.match(f"{line} {following.strip()}")
    ):
        return True
    return bool(_OUTLOOK_HEADER.match(line) and index > 0 and not lines[index - 1].strip())


def _html_to_text(html: str) -> str:
    """The text of an HTML body: scripts, styles and quoted blocks dropped, line
    breaks kept, tags taken out. Each step scans the text once, whatever it holds
    (a pattern that searched on from every unclosed "<script" took seconds for a
    100 KB body, in the event loop)."""
    return html_module.unescape(_without_tags(_LINE_BREAK_TAG.sub("\n", _without_blocks(html))))


def _without_blocks(html: str) -> str:
    kept: list[str] = []
    at = 0
    unclosed: set[str] = set()  # no closing tag after here: openings of it stay text
    while (opening := _DROPPED_BLOCK.search(html, at)) is not None:
        name = opening.group(1).lower()
        closing = None if name in unclosed else _BLOCK_END[name].search(html, opening.end())
        if closing is None:
            unclosed.add(name)
            kept.append(html[at : opening.end()])
            at = opening.end()
            continue
        kept.append(html[at : opening.start()])
        at = closing.end()
    kept.append(html[at:])
    return "".join(kept)


def _without_tags(html: str) -> str:
    kept: list[str] = []
    at = 0
    while (start := html.find("<", at)) >= 0:
        end = html.find(">", start + 1)
        if end < 0:  # no tag closes: the rest is text
            break
        kept.append(html[at:start])
        at = end + 1
    kept.append(html[at:])
    return "".join(kept)


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError) as exc:  # unknown charset, bad encoding
        raise _malformed(f"the text part cannot be decoded ({exc})") from None
    if not isinstance(content, str):
        return ""
    return _html_to_text(content) if part.get_content_type() == "text/html" else content


def _attachments(message: EmailMessage) -> tuple[EmailAttachment, ...]:
    found = []
    for part in message.iter_attachments():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        name = part.get_filename() or "attachment"
        found.append(EmailAttachment(name[:255], part.get_content_type()[:255], size))
    return tuple(found)


def parse_email(raw: bytes) -> InboundEmail:
    """The mail's parts messaging keeps; INVALID_ARGUMENT ("body") when it is not a mail
    with a From address, or its MIME structure or headers are broken."""
    if not raw.strip():
        raise _malformed("it is empty")
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    except (HeaderParseError, MessageDefect, ValueError, IndexError) as exc:
        raise _malformed(str(exc)) from None
    assert isinstance(message, EmailMessage)
    fatal = [
        d
        for d in message.defects
        if type(d).__name__
        in (
            "StartBoundaryNotFoundDefect",
            "MultipartInvariantViolationDefect",
            "MissingHeaderBodySeparatorDefect",
            "InvalidMultipartContentTransferEncodingDefect",
        )
    ]
    if message.is_multipart() and not message.get_boundary():
        raise _malformed("a multipart message without a boundary")
    if fatal:
        raise _malformed(type(fatal[0]).__name__)
    try:
        senders = getaddresses([str(h) for h in message.get_all("From", [])])
        subject = str(message.get("Subject", "") or "")
        message_id = " ".join(_message_ids(str(message.get("Message-ID", "") or "")))[:200]
        in_reply_to = next(iter(_message_ids(str(message.get("In-Reply-To", "") or ""))), "")
        references = _message_ids(str(message.get("References", "") or ""))
    except (HeaderParseError, ValueError, IndexError) as exc:
        raise _malformed(str(exc)) from None
    senders = [(name, addr) for name, addr in senders if "@" in addr]
    if not senders:
        raise _malformed("no From address")
    from_name, from_address = senders[0]
    try:
        Address(addr_spec=from_address)
    except (HeaderParseError, ValueError, IndexError):
        raise _malformed("the From address is not an address") from None
    text = strip_quoted(_body_text(message))
    return InboundEmail(
        from_address=from_address,
        from_name=from_name,
        subject=" ".join(subject.split())[:MAX_SUBJECT],
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        text=text,
        attachments=_attachments(message),
    )
