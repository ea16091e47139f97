"""LivePerson's own agent SDK (node-agent-sdk 1.2.0, unmodified from npm) as the agent of a
real syncd, against the emulator over TLS: a client nobody here wrote sees the ring, accepts,
reads the consumer's profile, downloads syncd's pages by its own flow and answers with a
file and a text; and when it closes the conversation, syncd opens no new one until its next
file.

These tests sit beside the SDK's lock file (tests/agent_sdk) rather than in
tests/integration: they need Node and npm, and skip with one reason when those are absent.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import requests
from swiftclient.utils import generate_temp_url

from syncd.emulator.server import RunningEmulator
from syncd.state.model import InboundState, OutboundState
from syncd.state.store import StateStore
from tests.agent_sdk.driver import SdkAgent
from tests.helpers import documents
from tests.helpers.harness import running_daemon, write_config
from tests.helpers.identity import BrandKeys, authenticated_keys
from tests.helpers.images import jpeg_bytes
from tests.helpers.waiting import wait_until

TIMEOUT = 90
ROUTE = "invoices"
CONSUMER_SUB = "scanner-invoices"
DISPLAY_NAME = "Invoice scanner, head office"


def _config(tmp_path: Path, emulator: RunningEmulator, keys: BrandKeys, ca_file: Path) -> Path:
    route = {"name": ROUTE, "consumer_id": CONSUMER_SUB, "display_name": DISPLAY_NAME}
    liveperson = {**authenticated_keys(keys), "ca_file": str(ca_file)}
    return write_config(tmp_path, emulator.base_url, emulator.account, [route], liveperson)


def _drop(outbox: Path, name: str, data: bytes) -> None:
    staging = outbox.parent / ".staging"
    staging.mkdir(exist_ok=True)
    (staging / name).write_bytes(data)
    os.rename(staging / name, outbox / name)


def _page_paths(store: StateStore, name: str) -> list[str]:
    """The storage paths syncd uploaded the pages of document ``name`` to, by page."""
    original = next(
        row for row in store.outbound_in_states(tuple(OutboundState)) if row.source_name == name
    )
    pages = sorted(store.page_rows(original.id), key=lambda row: row.page or 0)
    return [str(row.relative_path) for row in pages]


def _stored_bytes(emulator: RunningEmulator, relative_path: str, ca_file: Path) -> bytes:
    """The object as the emulator's Swift store holds it, by a URL the test signs itself."""
    signed = generate_temp_url(relative_path, 60, emulator.temp_url_key, "GET", digest="sha1")
    response = requests.get(f"{emulator.base_url}{signed}", timeout=10, verify=str(ca_file))
    assert response.status_code == 200, response.status_code
    return response.content


def _accept_ring(agent: SdkAgent, store: StateStore) -> dict[str, Any]:
    ring = agent.call("wait_ring", timeout_ms=TIMEOUT * 1000)["ring"]
    # The ring may come before syncd has recorded the conversation it asked for.
    wait_until(
        lambda: store.open_conversation(ROUTE) == ring["conversationId"],
        TIMEOUT,
        "syncd to record the conversation that rang",
    )
    agent.call("accept", ringId=ring["ringId"])
    return dict(ring)


def test_the_sdk_agent_accepts_downloads_syncds_pages_and_answers_into_the_inbox(
    tmp_path: Path,
    tls_emulator: RunningEmulator,
    sdk_agent: SdkAgent,
    brand_keys: BrandKeys,
    ca_file: Path,
) -> None:
    config = _config(tmp_path, tls_emulator, brand_keys, ca_file)
    answer_pdf = b"%PDF-1.7\n" + os.urandom(3000) + b"\n%%EOF\n"
    (tmp_path / "answer.pdf").write_bytes(answer_pdf)
    with running_daemon(config) as running:
        store = running.daemon.store
        route = running.config.routes[0]
        _drop(route.outbox, "invoice.pdf", documents.pdf_document(3))
        ring = _accept_ring(sdk_agent, store)
        conversation = ring["conversationId"]
        profile = sdk_agent.call("profile", conversationId=conversation)
        sdes = {sde["type"]: sde for sde in profile["sdes"]}
        assert sdes["personal"]["personal"]["firstname"] == DISPLAY_NAME
        assert sdes["ctmrinfo"]["info"]["customerId"] == CONSUMER_SUB
        files = sdk_agent.call(
            "wait_files", conversationId=conversation, count=3, timeout_ms=TIMEOUT * 1000
        )["files"]
        assert [f["caption"] for f in files] == [f"invoice.pdf ({n}/3)" for n in (1, 2, 3)]
        uploaded = wait_until(
            lambda: (paths := _page_paths(store, "invoice.pdf")) and all(paths) and paths,
            TIMEOUT,
            "syncd's record of the three uploads",
        )
        assert [f["relativePath"] for f in files] == uploaded
        for relative_path in uploaded:
            download = sdk_agent.call("download", relativePath=relative_path)
            stored = _stored_bytes(tls_emulator, relative_path, ca_file)
            assert download == {
                "id": download["id"],
                "ok": True,
                "sha256": hashlib.sha256(stored).hexdigest(),
                "size": len(stored),
            }
        sdk_agent.call(
            "send_file",
            conversationId=conversation,
            path=str(tmp_path / "answer.pdf"),
            fileType="PDF",
            caption="signed copy",
        )
        sdk_agent.call("send_text", conversationId=conversation, text="Received, thank you")
        wait_until(
            lambda: store.inbound_counts_by_state(ROUTE)[InboundState.DONE] == 2,
            TIMEOUT,
            "the agent's file and text in the inbox",
        )
        inbox = sorted(p for p in route.inbox.iterdir() if not p.name.startswith("."))
    by_suffix = {p.suffix: p for p in inbox}
    assert sorted(by_suffix) == [".pdf", ".txt"], inbox
    assert by_suffix[".pdf"].read_bytes() == answer_pdf
    assert "Received, thank you" in by_suffix[".txt"].read_text(encoding="utf-8")


def test_after_the_sdk_agent_closes_syncd_opens_no_conversation_until_its_next_file(
    tmp_path: Path,
    tls_emulator: RunningEmulator,
    sdk_agent: SdkAgent,
    brand_keys: BrandKeys,
    ca_file: Path,
) -> None:
    config = _config(tmp_path, tls_emulator, brand_keys, ca_file)
    with running_daemon(config) as running:
        store = running.daemon.store
        outbox = running.config.routes[0].outbox
        _drop(outbox, "first.jpg", jpeg_bytes(640, 480, seed=1))
        first = _accept_ring(sdk_agent, store)["conversationId"]
        sdk_agent.call("wait_files", conversationId=first, count=1, timeout_ms=TIMEOUT * 1000)
        sdk_agent.call("close", conversationId=first)
        wait_until(lambda: store.open_conversation(ROUTE) is None, TIMEOUT, "syncd to see it")
        conversations = tls_emulator.state()["conversations"]
        assert [(c["id"], c["state"], c["closeReason"]) for c in conversations] == [
            (first, "CLOSE", "AGENT")
        ]
        _drop(outbox, "second.jpg", jpeg_bytes(640, 480, seed=2))
        second = _accept_ring(sdk_agent, store)["conversationId"]
        files = sdk_agent.call(
            "wait_files", conversationId=second, count=1, timeout_ms=TIMEOUT * 1000
        )["files"]
    assert second != first
    assert [f["caption"] for f in files] == ["second.jpg"]
    assert len(tls_emulator.state()["conversations"]) == 2
