"""A throw-away certificate authority, so the provider simulators can speak HTTPS.

The product refuses `http://` provider URLs unless `AllowInsecureHttp=true`, and verifies TLS
against the trust store `requests` uses. Testing that path for real needs a server certificate
the functions trust: `TestCA` makes a CA and a certificate for 127.0.0.1 / localhost at test
time (nothing is committed or downloaded), writes the CA to a PEM file for
``REQUESTS_CA_BUNDLE``, and gives the simulators a server-side `ssl.SSLContext`.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=2)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@dataclass(frozen=True)
class TestCA:
    """A CA certificate (`ca_file`) and one server certificate signed by it (`cert_file`, `key_file`)."""

    __test__ = False  # not a pytest test class, despite the name

    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, folder: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> TestCA:
        folder.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(_name("paysweep test CA"))
            .issuer_name(_name("paysweep test CA"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(hosts[0]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        found = cls(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
        found.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        found.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        found.key_file.write_bytes(_pem_key(key))
        found.key_file.chmod(0o600)
        return found

    def server_context(self) -> ssl.SSLContext:
        """What a simulator serves HTTPS with (TLS 1.2 at least, like the providers' servers)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        return context
