"""Ids, secret hashing and the AES-GCM box for webhook secrets."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BASE62 = string.digits + string.ascii_letters
ID_LENGTH = 16


def random_base62(length: int) -> str:
    """``length`` base62 characters from one read of the OS's CSPRNG (``secrets.choice`` per character costs
    a system call each). 64 spare random bits make the modulo bias negligible (under 2**-64)."""
    value = int.from_bytes(secrets.token_bytes((length * 6 + 7) // 8 + 8))
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 62)
        chars.append(BASE62[digit])
    return "".join(chars)


def new_id(prefix: str, length: int = ID_LENGTH) -> str:
    """``prefix_`` + random base62 characters."""
    return f"{prefix}_" + random_base62(length)


def hash_secret(secret: str) -> str:
    """How API secrets are stored: they are long random strings, so one SHA-256 is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def new_api_secret() -> str:
    return "secret_" + secrets.token_urlsafe(24)


def new_api_key(mode: str = "test") -> str:
    return f"key_{mode}_" + random_base62(16)


def new_webhook_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes (the Standard Webhooks form)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def derive_key(master_key_b64: str, purpose: str) -> bytes:
    """A 32-byte key for one ``purpose``, derived from the master key (HKDF-SHA256)."""
    return _hkdf(base64.b64decode(master_key_b64), purpose)


def _hkdf(master_key: bytes, purpose: str) -> bytes:
    # The label "paygate <purpose>" keeps keys for different purposes independent: one leaking reveals no other.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"paygate " + purpose.encode()).derive(master_key)


def new_master_key() -> str:
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


class MasterKeyError(ValueError):
    """The master key is missing, malformed, or not the one the data was sealed with."""


class SecretBox:
    """AES-GCM under the master key; sealed values are base64(nonce || ciphertext)."""

    def __init__(self, master_key_b64: str | None):
        if not master_key_b64:
            raise MasterKeyError("security.master_key: required to store webhook secrets")
        try:
            key = base64.b64decode(master_key_b64, validate=True)
        except (binascii.Error, ValueError):
            raise MasterKeyError("security.master_key: not valid base64") from None
        if len(key) != 32:
            raise MasterKeyError("security.master_key: must be base64 of 32 bytes")
        self._key = key
        self._aead = AESGCM(key)
        # Derived before HKDF labels were used here; kept, so that stored fingerprints still match new payments.
        self._fingerprint_key = hashlib.sha256(b"paygate card fingerprint" + key).digest()
        self._derived: dict[str, bytes] = {}

    def seal(self, plaintext: str, context: bytes | None = None) -> str:
        """Encrypt ``plaintext``; ``context`` (AES-GCM associated data), if given, must be given to open it too,
        so a sealed value copied to another row (another merchant's, say) does not open there."""
        nonce = secrets.token_bytes(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, plaintext.encode(), context)).decode()

    def open(self, sealed: str, context: bytes | None = None) -> str:
        raw = base64.b64decode(sealed)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context).decode()
        except InvalidTag:
            raise MasterKeyError("a stored secret does not open under security.master_key") from None

    def keyed_hash(self, purpose: str, data: bytes) -> str:
        """Hex HMAC-SHA256 of ``data`` under the key HKDF derives from the master key for ``purpose``: equal
        inputs give equal hashes, and without the master key no guess at the input can be checked."""
        key = self._derived.get(purpose)
        if key is None:
            key = self._derived[purpose] = _hkdf(self._key, purpose)
        return hmac.new(key, data, hashlib.sha256).hexdigest()

    def fingerprint(self, value: str) -> str:
        """A keyed hash (for card fingerprints): equal inputs match, nothing is revealed."""
        return hmac.new(self._fingerprint_key, value.encode(), hashlib.sha256).hexdigest()[:32]
