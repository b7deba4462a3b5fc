"""Finding secrets in what a sweep writes: a scanner for every spelling of a secret, and a
stand-in X-Ray daemon that keeps the trace documents the functions send.

The scanner looks for
- each secret value in the spellings a log line, a JSON document, a URL or a repr would give it
  (as is, JSON-escaped, repr-escaped, percent-encoded, Base64, hex);
- a private key by any 40-character piece of its Base64 body (standard or URL-safe alphabet) or of
  its DER in hex, found inside longer runs of such characters, in the text as it is, percent-decoded,
  or with JSON's escapes undone; pieces lying wholly in the key's public part (the PKCS#8 header,
  modulus and public exponent: what every key of a size, or the public key, shows too) are left out;
- any PEM private-key armour at all ("PRIVATE KEY-----");
- values derived from secrets that only a provider may see (KICC `msgAuthValue`, TeemoPay `sign`),
  whole or by any 40-character piece.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, unquote

from cryptography.hazmat.primitives import serialization

WINDOW = 40
"""Characters of a key's Base64 body (or hex of its DER) that count as a leak of the key."""

_BASE64_RUN = re.compile(rf"[A-Za-z0-9+/=_-]{{{WINDOW},}}")
_HEX_RUN = re.compile(rf"[0-9A-Fa-f]{{{WINDOW},}}")
_PEM_ARMOUR = re.compile(r"PRIVATE\s+KEY-----")


@dataclass(frozen=True)
class Finding:
    where: str
    secret: str
    spelling: str
    context: str

    def __str__(self) -> str:
        return f"{self.secret} ({self.spelling}) in {self.where}: ...{self.context}..."


def spellings(value: str) -> dict[str, str]:
    """How a value looks once a logger, a JSON encoder, a URL or a repr has been at it."""
    raw = value.encode("utf-8")
    forms = {
        "as is": value,
        "JSON-escaped": json.dumps(value)[1:-1],
        "JSON-escaped twice": json.dumps(json.dumps(value))[1:-1],
        "repr": repr(value)[1:-1],
        "percent-encoded": quote(value, safe=""),
        "form-encoded": quote_plus(value),
        "Base64": base64.b64encode(raw).decode("ascii").rstrip("="),
        "hex": raw.hex(),
    }
    return {name: form for name, form in forms.items() if form}


def windows(text: str, size: int = WINDOW) -> set[str]:
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def der_of(key_text: str) -> bytes:
    """The DER bytes of a PKCS#8 private key or an X.509 public key, PEM or bare Base64."""
    lines = [line.strip() for line in key_text.strip().splitlines() if line.strip() and not line.startswith("-----")]
    return base64.b64decode("".join(lines))


def private_part_offset(der: bytes) -> int:
    """Where the private part of a PKCS#8 RSA key's DER begins: after the public exponent."""
    key = serialization.load_der_private_key(der, password=None)
    numbers = key.private_numbers().public_numbers  # type: ignore[union-attr]
    modulus = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    at = der.find(modulus)
    if at < 0:
        raise ValueError("the modulus is not in the key's DER")
    exponent = at + len(modulus)  # INTEGER tag, length, value
    if der[exponent] != 0x02:
        raise ValueError("no public exponent after the modulus")
    return exponent + 2 + der[exponent + 1]


class SecretScanner:
    def __init__(self) -> None:
        self._literals: list[tuple[str, str, str]] = []  # (secret name, spelling name, text)
        self._base64_pieces: dict[str, str] = {}  # 40-character piece -> secret name
        self._hex_pieces: dict[str, str] = {}

    # -- what is secret ---------------------------------------------------------------------

    def add_value(self, name: str, value: str) -> None:
        """A secret string: found in any of its spellings."""
        if len(value) < 6:
            raise ValueError(f"{name}: a secret this short cannot be told apart from ordinary text")
        for spelling, text in spellings(value).items():
            self._literals.append((name, spelling, text))

    def add_private_key(self, name: str, key_text: str) -> None:
        """A PKCS#8 private key (PEM or bare Base64): the text as configured and the Base64 body
        as values, plus any 40-character piece of its Base64 body or of the hex of its DER that
        reaches into the private part. The part before it (the PKCS#8 header, the same for every
        key of a size, and the modulus and public exponent, which the public key publishes) is
        not secret, so a piece lying wholly inside it is no leak."""
        der = der_of(key_text)
        self.add_value(f"{name} (as configured)", key_text)
        body = base64.b64encode(der).decode("ascii")
        self.add_value(f"{name} (Base64 body)", body)
        private_from = private_part_offset(der)
        for alphabet in (body, base64.urlsafe_b64encode(der).decode("ascii")):
            for i in range(len(alphabet) - WINDOW + 1):
                if (i + WINDOW) * 3 // 4 > private_from:  # the piece's last byte is private
                    self._base64_pieces[alphabet[i : i + WINDOW]] = name
        hex_der = der.hex()
        for i in range(len(hex_der) - WINDOW + 1):
            if (i + WINDOW) // 2 > private_from:
                self._hex_pieces[hex_der[i : i + WINDOW]] = name

    def add_derived(self, name: str, values: Iterable[str]) -> None:
        """Values computed from a secret for a provider (signatures, HMACs): whole or in pieces."""
        for value in values:
            self.add_value(name, value)
            if _HEX_RUN.fullmatch(value):
                self._hex_pieces.update(dict.fromkeys(windows(value.lower()), name))
            else:
                self._base64_pieces.update(dict.fromkeys(windows(value), name))

    @property
    def secret_names(self) -> set[str]:
        return {name for name, _, _ in self._literals} | set(self._base64_pieces.values()) | set(self._hex_pieces.values())

    # -- looking ----------------------------------------------------------------------------

    def scan(self, where: str, text: str) -> list[Finding]:
        findings: list[Finding] = []
        armour = _PEM_ARMOUR.search(text)
        if armour:
            findings.append(Finding(where, "a PEM private key", "PEM armour", _around(text, armour.start(), 16)))
        for variant_name, variant in _variants(text):
            for name, spelling, needle in self._literals:
                at = variant.find(needle)
                if at >= 0:
                    findings.append(Finding(where, name, spelling + variant_name, _around(variant, at, len(needle))))
            findings.extend(_pieces_in(where, variant_name, variant, _BASE64_RUN, self._base64_pieces, "Base64"))
            findings.extend(_pieces_in(where, variant_name, variant, _HEX_RUN, self._hex_pieces, "hex"))
        return _distinct(findings)


def _pieces_in(
    where: str, variant_name: str, text: str, runs: re.Pattern[str], pieces: dict[str, str], kind: str
) -> Iterator[Finding]:
    for run in runs.finditer(text):
        chunk = run.group() if kind == "Base64" else run.group().lower()
        for i in range(len(chunk) - WINDOW + 1):
            name = pieces.get(chunk[i : i + WINDOW])
            if name is not None:
                yield Finding(where, name, f"{kind} piece{variant_name}", _around(text, run.start(), len(chunk)))
                break


def _variants(text: str) -> Iterator[tuple[str, str]]:
    yield "", text
    decoded = unquote(text)
    if decoded != text:
        yield " (percent-decoded)", decoded
    unescaped = text.replace("\\/", "/").replace("\\\\n", "").replace("\\n", "").replace("\\r", "")
    if unescaped != text:
        yield " (JSON escapes undone)", unescaped


def _around(text: str, at: int, length: int, margin: int = 60) -> str:
    return text[max(0, at - margin) : at + min(length, 120) + margin].replace("\n", "\\n")


def _distinct(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for finding in findings:
        key = (finding.where, finding.secret, finding.spelling.split(" (")[0])
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique


# ----------------------------------------------------------------------------------------
# Traces
# ----------------------------------------------------------------------------------------


class XRayDaemon:
    """A UDP listener standing in for the X-Ray daemon: keeps every document the SDK sends.

    Point a function at it with `AWS_XRAY_DAEMON_ADDRESS=daemon.address`; in Lambda mode the SDK
    streams each subsegment as it closes (`{"format":"json","version":1}` header line + JSON).
    """

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)  # no drops in bursts
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self._lock = threading.Lock()
        self._packets: list[bytes] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="xray-daemon", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self._socket.getsockname()
        return f"{host}:{port}"

    def _receive(self) -> None:
        while not self._stopping.is_set():
            try:
                packet, _ = self._socket.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._packets.append(packet)

    @property
    def packets(self) -> list[bytes]:
        with self._lock:
            return list(self._packets)

    def documents(self) -> list[dict[str, object]]:
        """The trace documents received so far (the header line of each packet dropped)."""
        documents = []
        for packet in self.packets:
            _, _, body = packet.decode("utf-8", errors="replace").partition("\n")
            try:
                documents.append(json.loads(body))
            except ValueError:
                documents.append({"unparsed": body})
        return documents

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=2)
        self._socket.close()
