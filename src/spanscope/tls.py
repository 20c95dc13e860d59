"""TLS for every listener: ``spanscope serve --tls-cert cert.pem --tls-key key.pem``.

With both files (or ``SPANSCOPE_TLS_CERT`` / ``SPANSCOPE_TLS_KEY``), the API + UI, OTLP/HTTP
and Zipkin answer HTTPS only and OTLP/gRPC needs TLS; ``ports.json`` says ``"tls": true``
and the start line prints ``https://``. Make a certificate to try it (docs/security.md)::

    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \\
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout key.pem -out cert.pem
    spanscope serve --tls-cert cert.pem --tls-key key.pem

:func:`load_server_tls` reads and checks the pair once, before anything binds, so a typo
exits at start with a sentence naming the file and the problem (missing, unreadable, not
PEM, encrypted key, key not matching the certificate) rather than a listener failing later
with OpenSSL's ``PEM lib``. Clients: :func:`client_verify` is what the CLI passes to httpx
(``--ca-file`` / ``SPANSCOPE_CA_FILE``; else the system store, or ``SSL_CERT_FILE``).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

CA_FILE_ENV = "SPANSCOPE_CA_FILE"


@dataclass(frozen=True, slots=True)
class ServerTls:
    """A checked certificate chain and its private key, as paths and PEM bytes (gRPC
    takes bytes, uvicorn takes paths)."""

    cert_file: Path
    key_file: Path
    cert_pem: bytes
    key_pem: bytes


class TlsConfigError(ValueError):
    """``str(error)`` names the flag, the file and what is wrong with it."""


def load_server_tls(cert: Path | None, key: Path | None) -> ServerTls | None:
    """None without TLS; the checked pair with both; :class:`TlsConfigError` otherwise."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        given, missing = ("--tls-cert", "--tls-key") if key is None else ("--tls-key", "--tls-cert")
        raise TlsConfigError(
            f"{given} {cert or key} was given without {missing}: TLS needs both the "
            f"certificate and its private key (or neither, for plain HTTP)"
        )
    cert_pem = _read("--tls-cert", cert)
    key_pem = _read("--tls-key", key)
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise TlsConfigError(
            f"--tls-cert {cert}: no PEM certificate in it (expected a "
            "'-----BEGIN CERTIFICATE-----' block; convert DER with "
            "`openssl x509 -inform der -in FILE -out cert.pem`)"
        )
    try:  # parses every certificate in the file, not only the framing
        ssl.create_default_context(cadata=cert_pem.decode("ascii", "replace"))
    except ssl.SSLError as exc:
        raise TlsConfigError(
            f"--tls-cert {cert}: the PEM certificate does not parse ({exc})"
        ) from None
    if b"PRIVATE KEY-----" not in key_pem:
        raise TlsConfigError(
            f"--tls-key {key}: no PEM private key in it (expected a "
            "'-----BEGIN PRIVATE KEY-----' block)"
        )
    asked_password = []

    def no_password() -> bytes:
        # Without a callback OpenSSL would prompt on the terminal of a server.
        asked_password.append(True)
        return b""

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=no_password)
    except ssl.SSLError as exc:
        if asked_password:
            raise TlsConfigError(
                f"--tls-key {key}: the private key is encrypted with a passphrase; give an "
                "unencrypted one (`openssl pkey -in KEY -out key.pem`), readable only by "
                "the server's user"
            ) from None
        if "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc):
            raise TlsConfigError(
                f"--tls-key {key} does not match the certificate in --tls-cert {cert}: "
                "give the private key the certificate was made for"
            ) from None
        raise TlsConfigError(
            f"--tls-key {key}: cannot load it with --tls-cert {cert} ({exc})"
        ) from None
    return ServerTls(cert, key, cert_pem, key_pem)


def _read(flag: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise TlsConfigError(f"{flag} {path}: is a directory, expected a PEM file") from None
    except OSError as exc:
        raise TlsConfigError(f"{flag} {path}: cannot read it ({exc.strerror})") from None


def client_verify(ca_file: str | Path | None = None) -> ssl.SSLContext | bool:
    """What a client passes as httpx's ``verify``: a context trusting ``ca_file`` (else
    ``$SPANSCOPE_CA_FILE``), or True for the system store (which honours ``SSL_CERT_FILE``).

    A CA file that cannot be read raises :class:`TlsConfigError` naming it."""
    ca = ca_file or os.environ.get(CA_FILE_ENV) or None
    if ca is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca))
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TlsConfigError(
            f"CA file {ca} (--ca-file or {CA_FILE_ENV}): cannot load it ({reason}); give "
            "the PEM certificate of the authority that signed the server's certificate"
        ) from None
