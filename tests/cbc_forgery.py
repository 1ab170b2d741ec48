"""Forging AES-CBC user data as its owner can: the plaintext is known, the key is not.

CBC has no integrity. The owner of a payload knows its plaintext, so it can make any block `start` decrypt
to a chosen block as the first one: keep ciphertext blocks `start`.. and send as iv the previous ciphertext
block (the iv itself for block 0) XOR the known plaintext block XOR the chosen one. Everything after that
block is the genuine plaintext, unchanged.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wxlogin.models import PHONE_FIELDS, PROFILE_FIELDS

BLOCK = 16
# Every key either kind of data has: the keys a chosen block would name.
KEYS = tuple(sorted({*PROFILE_FIELDS, *PHONE_FIELDS, "openId", "unionId", "watermark"}))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def opened(plaintext: bytes) -> dict:
    """What a padded plaintext holds, as a lenient JSON reader takes it."""
    return json.loads(plaintext[: -plaintext[-1]])


def parses(plaintext: bytes) -> bool:
    """Whether a padded plaintext is a JSON object with valid padding: the only forgeries worth sending."""
    pad = plaintext[-1]
    if not 1 <= pad <= BLOCK or plaintext[-pad:] != bytes([pad]) * pad:
        return False
    try:
        return isinstance(json.loads(plaintext[:-pad]), dict)
    except ValueError:
        return False


@dataclass(frozen=True)
class Genuine:
    """A payload WeChat made (`encryptedData`, `iv`, ...), and the padded plaintext its owner knows."""

    data: dict
    padded: bytes

    @classmethod
    def of(cls, data: dict, session_key: str) -> Genuine:
        key, iv = base64.b64decode(session_key), base64.b64decode(data["iv"])
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        return cls(data, decryptor.update(base64.b64decode(data["encryptedData"])) + decryptor.finalize())

    @property
    def blocks(self) -> int:
        return len(self.padded) // BLOCK

    @property
    def content(self) -> dict:
        return opened(self.padded)

    def block(self, index: int) -> bytes:
        return self.padded[BLOCK * index : BLOCK * (index + 1)]

    def start_of(self, text: str) -> int:
        """The block at which `text` last starts in the plaintext (it must start on a block)."""
        offset = self.padded.rindex(text.encode())
        assert offset % BLOCK == 0
        return offset // BLOCK

    def forge(self, start: int, chosen: bytes) -> dict:
        """Blocks `start`.. of the ciphertext, with an iv that makes the first of them decrypt to `chosen`."""
        ciphertext = base64.b64decode(self.data["encryptedData"])
        previous = base64.b64decode(self.data["iv"]) if start == 0 else ciphertext[BLOCK * (start - 1) : BLOCK * start]
        iv = bytes(a ^ b ^ c for a, b, c in zip(previous, self.block(start), chosen, strict=True))
        return {"encryptedData": _b64(ciphertext[BLOCK * start :]), "iv": _b64(iv)}

    def forged_plaintext(self, start: int, chosen: bytes) -> bytes:
        return chosen + self.padded[BLOCK * (start + 1) :]

    def candidates(self, start: int, keys: tuple[str, ...] = KEYS, fills: tuple[bytes, ...] = ()) -> set[bytes]:
        """Chosen first blocks worth trying at `start`: the genuine block, the genuine block opening an object,
        and blocks opening an object with each key whose value is, or continues into, what follows: a string
        value after the genuine block's own tail (or each of `fills`), any other after spaces (or `fills`)."""
        block = self.block(start)
        chosen = {block, b"{" + block[1:]}
        for key in keys:
            string, other = f'{{"{key}":"'.encode(), f'{{"{key}":'.encode()
            if len(string) <= BLOCK:
                chosen.add(string + block[len(string) :])
                chosen |= {string + fill * (BLOCK - len(string)) for fill in fills}
            if len(other) <= BLOCK:
                chosen |= {other + fill * (BLOCK - len(other)) for fill in (b" ", *fills)}
        return chosen

    def forgeries(self, keys: tuple[str, ...] = KEYS, fills: tuple[bytes, ...] = ()):
        """(start, chosen) for every start block and candidate whose plaintext parses, in a stable order."""
        for start in range(self.blocks):
            for chosen in sorted(self.candidates(start, keys, fills)):
                if parses(self.forged_plaintext(start, chosen)):
                    yield start, chosen
