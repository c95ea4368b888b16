"""`make run`'s demo tenant: a new user signs in to a working inbox, not an empty one."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from crosstalk_devstack.demo import DEMO_MESSAGES, login, seed_demo
from crosstalk_devstack.stack import Stack
from tests.e2e.rest import eventually, ok

pytestmark = pytest.mark.e2e


def test_the_demo_tenant_has_conversations_understood_and_tagged(
    stack: Stack, tmp_path: Path
) -> None:
    state_file = tmp_path / "demo.json"
    state = seed_demo(stack.config.gateway_url, state_file)
    # A second run finds the tenant it seeded and seeds nothing more.
    assert seed_demo(stack.config.gateway_url, state_file) == state

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
