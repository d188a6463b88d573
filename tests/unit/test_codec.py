"""The payload codec: encrypted with the active key, decodable after rotation, and
payloads written before it pass through."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload

from clients.codec import ENCODING, KEY_ID, EncryptionCodec, UnknownKeyError, data_converter
from config.settings import CodecSettings
from messages.saga import PaymentInfo

OLD = {"2026-11": b"o" * 32}
NEW = {"2026-12": b"n" * 32}
SECRET = PaymentInfo(token="tok_secretToken")


async def test_payloads_are_encrypted_under_the_active_key() -> None:
    """Neither the token nor its base64 is in the encoded payload; its metadata names the key."""
    converter = data_converter(CodecSettings())
    [encoded] = await converter.encode([SECRET])
    assert encoded.metadata["encoding"] == ENCODING
    assert encoded.metadata[KEY_ID] == b"dev"
    assert b"tok_secretToken" not in encoded.SerializeToString()
    assert await converter.decode([encoded], [PaymentInfo]) == [SECRET]


async def test_a_payload_of_an_old_key_decodes_after_rotation() -> None:
    """Rotated: new payloads use the new key, the old key still reads what it wrote."""
    before = EncryptionCodec(OLD, "2026-11")
    after = EncryptionCodec(OLD | NEW, "2026-12")
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"token":"tok_x"}')
    [old] = await before.encode([plain])
    [new] = await after.encode([plain])
    assert new.metadata[KEY_ID] == b"2026-12"
    assert await after.decode([old, new]) == [plain, plain]
    with pytest.raises(UnknownKeyError):
        await EncryptionCodec(NEW, "2026-12").decode([old])


async def test_unencrypted_payloads_pass_through() -> None:
    """Histories recorded before the codec (and running sagas' old payloads) still decode."""
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"hello"')
    assert await EncryptionCodec(NEW, "2026-12").decode([plain]) == [plain]


async def test_a_payload_moved_to_another_key_id_is_refused() -> None:
    """The key id is authenticated: relabelling a payload does not get it decrypted."""
    codec = EncryptionCodec({"a": b"k" * 32, "b": b"k" * 32}, "a")
    [sealed] = await codec.encode([Payload(data=b"x")])
    sealed.metadata[KEY_ID] = b"b"
    with pytest.raises(InvalidTag):
        await codec.decode([sealed])


def test_settings_give_the_codec_its_keys() -> None:
    key = base64.b64encode(b"n" * 32).decode()
    settings = CodecSettings(keys={"2026-12": key}, active_key_id="2026-12")
    assert settings.key_bytes() == NEW
