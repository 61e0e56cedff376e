"""Certificates for the mutual-TLS tests, made with `cryptography`: a CA, Gateway's server
certificate and client certificates (one from the CA, one from a stranger)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Pem:
    cert: str
    key: str


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(subject: str, *, issuer: Pem | None, ca: bool = False, server: bool = False) -> Pem:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    issuer_key = serialization.load_pem_private_key(issuer.key.encode(), None) if issuer else key
    issuer_name = x509.load_pem_x509_certificate(issuer.cert.encode()).subject if issuer else _name(subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    cert = builder.sign(issuer_key, hashes.SHA256())
    return Pem(
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )


@dataclass
class Certificates:
    ca: Pem
    server: Pem
    client: Pem
    stranger: Pem

    def server_context(self) -> ssl.SSLContext:
        """Gateway's side: its certificate, and a client certificate signed by the CA required."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=self.ca.cert)
        with tempfile.TemporaryDirectory() as folder:
            cert, key = os.path.join(folder, "c.pem"), os.path.join(folder, "k.pem")
            for path, text in ((cert, self.server.cert), (key, self.server.key)):
                with open(path, "w") as handle:
                    handle.write(text)
            context.load_cert_chain(cert, key)
        return context


def make_certificates() -> Certificates:
    ca = _issue("test gateway CA", issuer=None, ca=True)
    other_ca = _issue("someone else's CA", issuer=None, ca=True)
    return Certificates(
        ca=ca,
        server=_issue("localhost", issuer=ca, server=True),
        client=_issue("hummingbot-client", issuer=ca),
        stranger=_issue("stranger", issuer=other_ca),
    )
