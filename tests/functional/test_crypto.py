"""Split-key envelope encryption: bound to user+session, useless without the cookie, few KMS calls."""

from __future__ import annotations

import os

import boto3
import pytest

from hitkey_bff.vault import DecryptionFailed, KeyRing, seal, unseal
from tests.conftest import Aws


class CountingKms:
    """Counts KMS calls made through a real (moto) client."""

    def __init__(self, session: boto3.Session) -> None:
        self.client = session.client("kms")
        self.calls: list[str] = []
        self.client.meta.events.register("before-call.kms.*", self._count)

    def _count(self, event_name: str, **_: object) -> None:
        self.calls.append(event_name.rsplit(".", 1)[-1])

    def __call__(self) -> object:
        return self.client


@pytest.fixture
def kms(aws: Aws) -> CountingKms:
    return CountingKms(aws.session)


def ring(aws: Aws, kms: CountingKms, **kw: object) -> KeyRing:
    return KeyRing(kms, aws.resources.key_id, **kw)  # type: ignore[arg-type]


def test_round_trip(aws: Aws, kms: CountingKms) -> None:
    keys, secret = ring(aws, kms), os.urandom(32)
    blob, sealed = seal(keys, secret, "user-1\x1fhash", {"rt": "refresh-123", "at": "access-456"})
    assert b"refresh-123" not in sealed["rt"] and b"access-456" not in sealed["at"]
    assert unseal(keys, secret, "user-1\x1fhash", blob, "rt", sealed["rt"]) == "refresh-123"
    assert unseal(keys, secret, "user-1\x1fhash", blob, "at", sealed["at"]) == "access-456"


def test_ciphertext_is_bound_to_user_session_and_field(aws: Aws, kms: CountingKms) -> None:
    keys, secret = ring(aws, kms), os.urandom(32)
    blob, sealed = seal(keys, secret, "user-1\x1fhash", {"rt": "r", "at": "a"})
    for binding, name, ct in [
        ("user-2\x1fhash", "rt", sealed["rt"]),  # pasted into another user's item
        ("user-1\x1fother", "rt", sealed["rt"]),  # another session of the same user
        ("user-1\x1fhash", "at", sealed["rt"]),  # swapped fields
    ]:
        with pytest.raises(DecryptionFailed):
            unseal(keys, secret, binding, blob, name, ct)


def test_table_plus_kms_without_the_cookie_secret_decrypts_nothing(aws: Aws, kms: CountingKms) -> None:
    keys = ring(aws, kms)
    blob, sealed = seal(keys, os.urandom(32), "u\x1fh", {"rt": "r"})
    # An attacker with the item and kms:Decrypt recovers the data key ...
    data_key = aws.session.client("kms").decrypt(
        CiphertextBlob=blob, EncryptionContext={"purpose": "hitkey-bff/session-tokens"}
    )["Plaintext"]
    assert len(data_key) == 32
    # ... but neither it alone nor a guessed secret opens the token.
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    with pytest.raises(InvalidTag):
        AESGCM(data_key).decrypt(sealed["rt"][:12], sealed["rt"][12:], b"u\x1fh\x1frt")
    with pytest.raises(DecryptionFailed):
        unseal(keys, os.urandom(32), "u\x1fh", blob, "rt", sealed["rt"])


def test_data_keys_are_cached_for_sealing_and_opening(aws: Aws, kms: CountingKms) -> None:
    keys, secret = ring(aws, kms), os.urandom(32)
    for i in range(200):
        blob, sealed = seal(keys, secret, f"u{i}", {"rt": "r"})
        assert unseal(keys, secret, f"u{i}", blob, "rt", sealed["rt"]) == "r"
    assert kms.calls == ["GenerateDataKey"]


def test_another_process_key_is_decrypted_once(aws: Aws, kms: CountingKms) -> None:
    writer, reader, secret = ring(aws, kms), ring(aws, kms), os.urandom(32)
    blob, sealed = seal(writer, secret, "u", {"rt": "r"})
    for _ in range(50):
        assert unseal(reader, secret, "u", blob, "rt", sealed["rt"]) == "r"
    assert kms.calls == ["GenerateDataKey", "Decrypt"]


def test_data_key_rotates_by_use_and_age(aws: Aws, kms: CountingKms) -> None:
    now = [0.0]
    keys = ring(aws, kms, max_uses=3, max_age=60.0, clock=lambda: now[0])
    blobs = {seal(keys, b"s" * 32, "u", {"x": "y"})[0] for _ in range(6)}
    assert len(blobs) == 2
    now[0] = 61.0
    assert seal(keys, b"s" * 32, "u", {"x": "y"})[0] not in blobs
    assert kms.calls.count("GenerateDataKey") == 3


def test_a_blob_kms_rejects_is_a_decryption_failure(aws: Aws, kms: CountingKms) -> None:
    keys = ring(aws, kms)
    with pytest.raises(DecryptionFailed):
        keys.for_opening(b"not a kms blob" * 4)


def test_opened_keys_outlive_the_sealing_key_but_not_forever(aws: Aws, kms: CountingKms) -> None:
    now = [0.0]
    writer = ring(aws, kms)
    reader = ring(aws, kms, max_age=300.0, max_open_age=3600.0, clock=lambda: now[0])
    blob, sealed = seal(writer, b"s" * 32, "u", {"rt": "r"})
    for t in (0.0, 1000.0, 3599.0):  # past the sealing key's age, within the opened key's
        now[0] = t
        assert unseal(reader, b"s" * 32, "u", blob, "rt", sealed["rt"]) == "r"
    assert kms.calls == ["GenerateDataKey", "Decrypt"]
    now[0] = 3601.0
    unseal(reader, b"s" * 32, "u", blob, "rt", sealed["rt"])
    assert kms.calls == ["GenerateDataKey", "Decrypt", "Decrypt"]
