"""Encryption at rest for NIK and KK numbers.

A number is stored as a `Sealed` triple: AES-GCM ciphertext (so a copied database file does not expose
it), a keyed hash (HMAC-SHA256, so duplicates can be found without decrypting), and a masked form for
listings. Both sub-keys are derived from one master key with HKDF.
"""

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)

KEY_FILE_NAME = "secret.key"
MIN_KEY_BYTES = 32


class KeyProblem(ValueError):
    """The key cannot be used with this store; the message tells the operator what to do."""


class Sealed(BaseModel):
    """An identity number as stored: ciphertext, keyed hash and masked display form."""

    model_config = ConfigDict(frozen=True)

    c: str
    h: str
    m: str


def mask(number: str) -> str:
    """Show the first four and last four digits only: 3674********0001."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


class Sealer:
    """Encrypts, hashes and masks identity numbers with keys derived from one master key."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) < MIN_KEY_BYTES:
            raise ValueError("the master key must be at least 32 bytes")
        self._master = master_key
        self.master_key = master_key
        self.check_value = key_check_value(master_key)
        self._aead = AESGCM(_derive(master_key, b"dinsos-intake/aead"))
        self._mac_key = _derive(master_key, b"dinsos-intake/lookup-hash")

    def seal(self, number: str) -> Sealed:
        """Encrypt `number` and return its stored form."""
        nonce = os.urandom(12)
        ciphertext = self._aead.encrypt(nonce, number.encode(), b"id-number")
        return Sealed(
            c=base64.urlsafe_b64encode(nonce + ciphertext).decode(),
            h=self.lookup_hash(number),
            m=mask(number),
        )

    def open(self, sealed: Sealed) -> str:
        """Decrypt a stored number (only for a staff member who opens a case)."""
        raw = base64.urlsafe_b64decode(sealed.c.encode())
        return self._aead.decrypt(raw[:12], raw[12:], b"id-number").decode()

    def cipher(self, purpose: str) -> "BlobCipher":
        """A cipher for other data kept only for a while (e.g. raw webhook bodies), with its own sub-key."""
        return BlobCipher(self._master, purpose)

    def lookup_hash(self, number: str) -> str:
        """Keyed hash of a number, for finding duplicates without decrypting."""
        return hmac.new(self._mac_key, number.encode(), hashlib.sha256).hexdigest()


class BlobCipher:
    """AES-GCM for opaque bytes, e.g. raw webhook bodies, which can hold a typed NIK."""

    def __init__(self, master_key: bytes, purpose: str) -> None:
        self._aad = purpose.encode()
        self._aead = AESGCM(_derive(master_key, b"dinsos-intake/" + self._aad))

    def seal(self, body: bytes) -> bytes:
        """Nonce + ciphertext of `body`."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, body, self._aad)

    def open(self, blob: bytes) -> bytes:
        """The bytes sealed in `blob`."""
        return self._aead.decrypt(blob[:12], blob[12:], self._aad)


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def key_check_value(master: bytes) -> str:
    """A short fingerprint of the key, recorded in the store to tell which key sealed it (never the key)."""
    check_key = _derive(master, b"dinsos-intake/key-check")
    return hmac.new(check_key, b"key-check", hashlib.sha256).hexdigest()[:16]


def parse_key(text: str | bytes, source: str) -> bytes:
    """Decode a key as written by `generate_key_text` (URL-safe base64 of 32 bytes or more)."""
    raw = text.strip().encode() if isinstance(text, str) else text.strip()
    try:
        if not raw or not re.fullmatch(rb"[A-Za-z0-9_-]+=*", raw):
            raise ValueError
        key = base64.urlsafe_b64decode(raw.rstrip(b"=") + b"=" * (-len(raw.rstrip(b"=")) % 4))
    except ValueError:
        raise KeyProblem(
            f"The encryption key in {source} is malformed (it must be the base64 text this service "
            "wrote). Restore the key from your backup."
        ) from None
    if len(key) < MIN_KEY_BYTES:
        raise KeyProblem(
            f"The encryption key in {source} is too short ({len(key)} bytes; at least {MIN_KEY_BYTES} bytes "
            "are needed). Restore the key from your backup."
        )
    return key


def write_key_file(path: Path, key: bytes) -> None:
    """Write a key file with mode 0600, durably (the file must not exist yet)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.urlsafe_b64encode(key) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())


def load_or_create_key(configured: str | None, data_dir: Path) -> tuple[bytes, bool]:
    """Return the master key and whether it was just generated (no store checks: see `storage.keys`).

    A configured key (base64, 32 bytes or more) wins. Otherwise the key file in the data directory is
    used, and created with mode 0600 on first run.
    """
    if configured:
        return parse_key(configured, "DINSOS_SECRET_KEY"), False
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        return parse_key(path.read_bytes(), str(path)), False
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    write_key_file(path, key)
    return key, True


def generate_key_text() -> str:
    """A new master key in the form DINSOS_SECRET_KEY expects."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
