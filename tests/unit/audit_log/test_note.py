"""Signed notes, checkpoints and receipts: interop vector and strict parsing (T-20, T-21)."""

from __future__ import annotations

import base64

import pytest

from audit_log import checkpoint as cp
from audit_log import merkle, note, receipt
from audit_log.errors import KeyFormatError, NoteError, ProofError

# golang.org/x/mod/sumdb/note documentation example: Ed25519 is deterministic, so the
# same key must reproduce the published signature byte for byte.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT
    + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ORIGIN = "audit.example.gov.cn/expert-draw/test"


def test_go_interop_vector() -> None:
    signer = note.Signer.parse(GO_SKEY)
    assert str(signer.verifier) == GO_VKEY
    assert signer.private_string() == GO_SKEY
    assert note.sign(GO_TEXT, [signer]) == GO_NOTE
    text, signed = note.open_note(GO_NOTE, [note.Verifier.parse(GO_VKEY)])
    assert text == GO_TEXT
    assert [str(v) for v in signed] == [GO_VKEY]


def test_mangled_verifier_keys_are_rejected() -> None:
    for i, char in enumerate(GO_VKEY):
        replacement = "A" if char != "A" else "B"
        mangled = GO_VKEY[:i] + replacement + GO_VKEY[i + 1 :]
        with pytest.raises(KeyFormatError):
            note.Verifier.parse(mangled)
    for bad in (
        "",
        "x",
        "a+b",
        "a+c74f20a3",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(KeyFormatError):
            note.Verifier.parse(bad)
    with pytest.raises(KeyFormatError):
        note.Signer.parse(GO_VKEY)


@pytest.fixture
def signer() -> note.Signer:
    return note.Signer.generate(ORIGIN)


def test_rules_of_signed_notes(signer: note.Signer) -> None:
    other = note.Signer.generate("witness.example/w1")
    signed = note.sign("hello\n", [signer, other])
    assert note.open_note(signed, [signer.verifier])[0] == "hello\n"
    text, lines = note.split(signed)
    assert text == "hello\n"
    assert [line.name for line in lines] == [ORIGIN, "witness.example/w1"]
    bad_known = signed.replace(lines[0].line, lines[0].line[:-6] + "AAAAA=\n")
    cases = {
        "known key fails": signed.replace("hello", "jello"),
        "only unknown keys": note.sign("hello\n", [other]),
        "corrupted signature": bad_known,
        "duplicate line": signed + lines[1].line,
        "ascii dash": signed.replace("—", "-"),
        "no final newline": signed[:-1],
        "crlf": signed.replace("\n", "\r\n"),
        "no blank line": "hello\n" + lines[0].line,
        "too many": note.sign("hello\n", [signer])
        + "".join(note.Signer.generate(f"k{i}").signature_line(b"hello\n") for i in range(16)),
        "control character": signed.replace("hello", "he\x01llo"),
        "delete character": signed.replace("hello", "he\x7fllo"),
        "c1 control": signed.replace("hello", "he\u0085llo"),
        "non-canonical base64": signed.replace(lines[1].line, lines[1].line.replace("=\n", "\n")),
    }
    for name, value in cases.items():
        with pytest.raises(NoteError):
            note.open_note(value, [signer.verifier])
        assert name  # each case named for the failure report


def test_retired_or_foreign_keys_are_ignored(signer: note.Signer) -> None:
    stranger = note.Signer.generate(ORIGIN)  # same name, different key ID: ignored
    signed = note.sign("hello\n", [stranger, signer])
    assert note.open_note(signed, [signer.verifier])[1] == [signer.verifier]


def test_checkpoint_round_trip(signer: note.Signer) -> None:
    checkpoint = cp.Checkpoint(ORIGIN, 5, bytes(range(32)))
    signed = cp.sign(checkpoint, [signer])
    assert cp.open_checkpoint(signed, ORIGIN, [signer.verifier])[0] == checkpoint
    assert cp.parse_unverified(signed) == checkpoint
    with pytest.raises(NoteError, match="origin"):
        cp.open_checkpoint(signed, "other.example/log", [signer.verifier])


ROOT = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n007\n{ROOT}\n",
        f"{ORIGIN}\n+5\n{ROOT}\n",
        f"{ORIGIN}\n5\n{ROOT}",
        f"{ORIGIN}\n5\n{ROOT}\nextension\n",
        f"{ORIGIN}\n5\n{ROOT.rstrip('=')}\n",
        f"{ORIGIN}\n5\n{base64.b64encode(bytes(31)).decode()}\n",
        f"{ORIGIN}\n5\n{base64.b64encode(bytes(33)).decode()}\n",
        f"{ORIGIN}\n18446744073709551616\n{ROOT}\n",
        f"{ORIGIN} x\n5\n{ROOT}\n",
        f"\n5\n{ROOT}\n",
    ],
)
def test_strict_checkpoint_bodies(body: str) -> None:
    with pytest.raises(NoteError):
        cp.Checkpoint.parse(body)


def test_receipts(signer: note.Signer) -> None:
    entries = [f"entry {i}".encode() for i in range(7)]
    leaves = [merkle.leaf_hash(e) for e in entries]
    nodes: dict[tuple[int, int], bytes] = {}
    compact = merkle.CompactRange()
    for i, leaf in enumerate(leaves):
        nodes[(0, i)] = leaf
        nodes.update({(level, index): value for level, index, value in compact.append(leaf)})
    signed = cp.sign(cp.Checkpoint(ORIGIN, 7, compact.root()), [signer])
    for index, entry in enumerate(entries):
        proof = merkle.inclusion_proof(index, 7, lambda level, i: nodes[(level, i)])
        text = receipt.Receipt(index, tuple(proof), signed).format()
        parsed, checkpoint = receipt.verify(text, entry, ORIGIN, [signer.verifier])
        assert (parsed.index, checkpoint.size) == (index, 7)
        assert receipt.Receipt.parse(text).format() == text
        with pytest.raises(ProofError):
            receipt.verify(text, b"another entry", ORIGIN, [signer.verifier])
    text = receipt.Receipt(
        0, tuple(merkle.inclusion_proof(0, 7, lambda level, i: nodes[(level, i)])), signed
    ).format()
    for bad in (
        text.replace("index 0", "index 00"),
        text.replace("c2sp.org/tlog-proof@v1\n", "c2sp.org/tlog-proof@v1\nextra AAAA\n"),
        text.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
        text.replace("\n\n", "\nnot base64!\n\n", 1),
    ):
        with pytest.raises(NoteError):
            receipt.verify(bad, entries[0], ORIGIN, [signer.verifier])
