"""The payload codec: workflow and activity payloads leave this process AES-GCM encrypted.

Temporal stores what the SDK sends it (inputs, results, signal and update arguments, query
answers, memos and the UI's summaries), so without a codec a customer's e-mail and payment
token sit in clear in its database, its UI and every history exported from it. The codec
turns each payload into an ``binary/encrypted`` payload whose metadata names the key id;
decoding looks that key up, so keys rotate by adding a new one and making it active while
the old ones stay to read what they wrote. A payload with no such encoding passes through
unchanged: histories recorded before the codec, and sagas already running, still decode.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

from config.settings import CodecSettings

__all__ = ["ENCODING", "KEY_ID", "EncryptionCodec", "UnknownKeyError", "data_converter"]

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE_BYTES = 12


class UnknownKeyError(ValueError):
    """A payload names a key this process was not given (ORDERS_TEMPORAL__CODEC__KEYS)."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise ValueError(f"the active key {active_key_id!r} is not among the keys")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = active_key_id

    @classmethod
    def from_settings(cls, settings: CodecSettings) -> EncryptionCodec:
        return cls(settings.key_bytes(), settings.active_key_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(payload) for payload in payloads]

    def _encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(_NONCE_BYTES)
        key_id = self._active.encode()
        # The key id is authenticated with the data: a payload cannot be moved to another key.
        sealed = self._ciphers[self._active].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=nonce + sealed)

    def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before the codec: pass through as it is
        key_id = payload.metadata.get(KEY_ID, b"")
        cipher = self._ciphers.get(key_id.decode())
        if cipher is None:
            raise UnknownKeyError(f"payload encrypted with unknown key {key_id.decode()!r}")
        nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
        return Payload.FromString(cipher.decrypt(nonce, sealed, key_id))


def data_converter(settings: CodecSettings) -> DataConverter:
    """Pydantic payloads, encrypted: the one converter of every client and worker."""
    return dataclasses.replace(
        pydantic_data_converter, payload_codec=EncryptionCodec.from_settings(settings)
    )


def new_key() -> str:
    """A fresh AES-256 key, base64, for ORDERS_TEMPORAL__CODEC__KEYS."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()
