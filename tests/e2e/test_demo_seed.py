"""`make run`'s demo tenant: a new user signs in to a working inbox, not an empty one."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import httpx
import pytest

from crosstalk_devstack.demo import DEMO_MESSAGES, DEMO_SHOP_ADDRESS, login, seed_demo
from crosstalk_devstack.demo_mailbox import DemoMailbox
from crosstalk_devstack.stack import Stack
from tests.e2e.rest import eventually, ok

pytestmark = pytest.mark.e2e


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[DemoMailbox]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = DemoMailbox(tmp_path / "mail", port).start()
    try:
        yield box
    finally:
        box.stop()


def test_the_demo_tenant_has_conversations_understood_and_tagged(
    stack: Stack, tmp_path: Path, mailbox: DemoMailbox
) -> None:
    state_file = tmp_path / "demo.json"
    state = seed_demo(stack.config.gateway_url, state_file, mailbox.port)
    # A second run finds the tenant it seeded and seeds nothing more.
    assert seed_demo(stack.config.gateway_url, state_file, mailbox.port) == state

    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        headers = {"authorization": f"Bearer {login(http, state['email'], state['password'])}"}
        conversations = ok(http.get("/v1/conversations?pageSize=50", headers=headers))
        assert len(conversations["conversations"]) == len(DEMO_MESSAGES)

        messages = {}
        for conversation in conversations["conversations"]:
            listed = ok(http.get(f"/v1/{conversation['name']}/messages", headers=headers))
            (message,) = listed["messages"]
            messages[message["text"]] = (conversation, message)
        assert set(messages) == {text for *_, text in DEMO_MESSAGES}

        languages = [messages[text][1]["language"] for *_, text in DEMO_MESSAGES]
        assert languages == ["es", "fr", "vi", "de", "en"]
        spanish = messages[DEMO_MESSAGES[0][4]][1]
        assert spanish["language"] == "es"
        assert spanish["translatedLanguage"] == "en"
        assert spanish["translatedText"]
        assert spanish["translatedText"] != spanish["text"]
        english = messages[DEMO_MESSAGES[4][4]][1]
        assert english["language"] == "en"
        assert english["translatedText"] == ""

        # The seeded rule tags the buyers who asked for a refund (Spanish and
        # German keywords), and no one else.
        def tags_of(text: str) -> list[str]:
            """The display names of the tags of the customer who sent ``text``."""
            customer = ok(http.get(f"/v1/{messages[text][1]['customer']}", headers=headers))
            return [names[tag] for tag in customer["tags"]]

        refunds = [DEMO_MESSAGES[0][4], DEMO_MESSAGES[3][4]]

        def refunds_tagged() -> bool:
            nonlocal names
            names = {
                t["name"]: t["displayName"]
                for t in ok(http.get("/v1/tags", headers=headers))["tags"]
            }
            return all(tags_of(text) == ["after-sales"] for text in refunds)

        names: dict[str, str] = {}
        eventually(refunds_tagged, what="both refund requests tagged after-sales")
        others = [text for *_, text in DEMO_MESSAGES if text not in refunds]
        assert all(tags_of(text) == [] for text in others)

        # A reply in English to the Spanish e-mail reaches the demo mailbox in Spanish.
        conversation = messages[DEMO_MESSAGES[0][4]][0]
        assert conversation["channelConfig"]
        reply = ok(
            http.post(
                f"/v1/{conversation['name']}:sendReply",
                headers=headers,
                json={"text": "We are sorry. We will send you a refund today."},
            )
        )
        sent = eventually(
            lambda: (
                (m := ok(http.get(f"/v1/{reply['name']}", headers=headers)))["deliveryState"]
                == "DELIVERY_STATE_SENT"
                and m
            ),
            what="the reply sent",
        )
        (mail_file,) = sorted(mailbox.directory.glob("*.eml"))
        mail = message_from_bytes(mail_file.read_bytes(), policy=default)
        assert mail["To"] == "lucia.fernandez@correo.test"
        assert mail["From"].addresses[0].addr_spec == DEMO_SHOP_ADDRESS
        body = mail.get_body(("plain",))
        assert body is not None
        assert body.get_content().strip() == sent["translatedText"].strip()
        assert "reembolso" in body.get_content()
        assert mail["In-Reply-To"] == "<demo-1@mail.demo.test>"
