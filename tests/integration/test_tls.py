"""TLS on every listener: ``spanscope serve --tls-cert/--tls-key`` (docs/security.md).

The test makes its own certificate authority and a server certificate for 127.0.0.1 and
localhost with the ``cryptography`` package, starts the real server with them (through
``SPANSCOPE_TLS_CERT`` / ``SPANSCOPE_TLS_KEY``), and sends spans the way users do: the OTel
SDK's own OTLP/HTTP and OTLP/gRPC exporters trusting that CA, Zipkin JSON over httpx; then
reads them back over HTTPS from the API and through the CLI. A client speaking plain HTTP
or plain gRPC to a TLS port, or one that does not trust the CA, gets nothing. A bad pair of
files stops ``spanscope serve`` at start with a message naming the file and the problem.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from typer.testing import CliRunner

from spanscope.cli import app

if TYPE_CHECKING:
    from tests.support.server import RunningServer

WAIT_S = 20.0


# --- a CA and a server certificate, made here -------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_key: Path
    """A valid key that is not the certificate's."""


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_pki(folder: Path) -> Pki:
    now = datetime.datetime.now(datetime.UTC)
    ca_key, ca_name = _key(), x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),  # fmt: skip
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = _key()
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    pki = Pki(folder / "ca.pem", folder / "cert.pem", folder / "key.pem", folder / "other.pem")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(_pem_key(server_key))
    pki.other_key.write_bytes(_pem_key(_key()))
    return pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_server(
    pki: Pki,
    tmp_path_factory: pytest.TempPathFactory,
    spanscope_launcher: Callable[..., RunningServer],
) -> Iterator[RunningServer]:
    launch = spanscope_launcher
    env = {"SPANSCOPE_TLS_CERT": str(pki.cert), "SPANSCOPE_TLS_KEY": str(pki.key)}
    server = launch(tmp_path_factory.mktemp("tls") / "data", env, ca_file=pki.ca)
    yield server
    code = server.stop()
    assert code == 0, f"spanscope serve exited with {code} on SIGTERM:\n{server.log()}"


@pytest.fixture(autouse=True)
def _no_requests_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests prefers ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` over the OTLP/HTTP
    exporter's ``certificate_file`` (it sets ``Session.verify``, which the environment
    overrides: psf/requests#3829); hosts that set them would fail these tests for that."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def trusting(pki: Pki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=pki.ca)


# --- spans in, over TLS ------------------------------------------------------------------


def make_spans(service: str) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("tls-test").start_as_current_span("GET /secure") as span:
        span.set_attribute("http.route", "/secure")
    provider.shutdown()
    return list(memory.get_finished_spans())


def fetch_trace(server: RunningServer, pki: Pki, trace_id: str) -> dict[str, Any]:
    """GET the trace over HTTPS until it is stored (the writer batches for ~0.25 s)."""
    deadline = time.monotonic() + WAIT_S
    with httpx.Client(verify=trusting(pki), timeout=10) as http:
        while time.monotonic() < deadline:
            answer = http.get(f"{server.api_url}/api/v1/traces/{trace_id}")
            if answer.status_code == 200:
                return dict(answer.json())
            time.sleep(0.1)
    raise AssertionError(f"trace {trace_id} not stored after {WAIT_S} s: {answer.text}")


def check_stored(server: RunningServer, pki: Pki, sent: list[ReadableSpan], service: str) -> str:
    trace_id = f"{sent[0].context.trace_id:032x}"
    [span] = fetch_trace(server, pki, trace_id)["spans"]
    assert span["name"] == "GET /secure"
    assert span["service"] == service
    assert span["span_id"] == f"{sent[0].context.span_id:016x}"
    return trace_id


def test_ports_json_and_start_line_say_tls(tls_server: RunningServer) -> None:
    ports = json.loads((tls_server.data_dir / "ports.json").read_text())
    assert ports["tls"] is True
    assert tls_server.api_url.startswith("https://")
    line = next(ln for ln in tls_server.log().splitlines() if "spanscope serving on" in ln)
    assert f"https://127.0.0.1:{ports['api']}" in line
    assert f"https://127.0.0.1:{ports['otlp_http']}" in line
    assert f"https://127.0.0.1:{ports['zipkin']}" in line
    assert f"OTLP/gRPC (TLS) 127.0.0.1:{ports['otlp_grpc']}" in line


def test_otlp_http_exporter_trusting_the_ca(tls_server: RunningServer, pki: Pki) -> None:
    sent = make_spans("tls-otlp-http")
    assert tls_server.otlp_http_url.startswith("https://")
    exporter = HttpExporter(
        endpoint=tls_server.otlp_http_url + "/v1/traces", certificate_file=str(pki.ca)
    )
    assert exporter.export(sent) == SpanExportResult.SUCCESS
    exporter.shutdown()
    check_stored(tls_server, pki, sent, "tls-otlp-http")


def test_otlp_grpc_exporter_trusting_the_ca(tls_server: RunningServer, pki: Pki) -> None:
    sent = make_spans("tls-otlp-grpc")
    exporter = GrpcExporter(
        endpoint=f"https://{tls_server.otlp_grpc_endpoint}",
        credentials=grpc.ssl_channel_credentials(pki.ca.read_bytes()),
    )
    assert exporter.export(sent) == SpanExportResult.SUCCESS
    exporter.shutdown()
    check_stored(tls_server, pki, sent, "tls-otlp-grpc")


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_otel_sdk_environment_variables(
    tls_server: RunningServer, pki: Pki, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    """What docs/security.md tells users to set: an https:// endpoint and the CA file."""
    port = tls_server.ports["otlp_grpc" if protocol == "grpc" else "otlp_http"]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"https://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(pki.ca))
    service = f"tls-env-{protocol}"
    sent = make_spans(service)
    exporter = GrpcExporter() if protocol == "grpc" else HttpExporter()
    assert exporter.export(sent) == SpanExportResult.SUCCESS
    exporter.shutdown()
    check_stored(tls_server, pki, sent, service)


def test_zipkin_over_https(tls_server: RunningServer, pki: Pki) -> None:
    trace_id, span_id = "5af7183fb1d4cf5f5af7183fb1d4cf5f", "6b221d5bc9e6496c"
    span = {
        "traceId": trace_id, "id": span_id, "name": "GET /secure", "kind": "SERVER",
        "timestamp": time.time_ns() // 1000, "duration": 1500,
        "localEndpoint": {"serviceName": "tls-zipkin"},
    }  # fmt: skip
    answer = httpx.post(
        tls_server.zipkin_url + "/api/v2/spans", json=[span], verify=trusting(pki), timeout=10
    )
    assert answer.status_code == 202, answer.text
    [stored] = fetch_trace(tls_server, pki, trace_id)["spans"]
    assert stored["service"] == "tls-zipkin" and stored["span_id"] == span_id


# --- who gets nothing ----------------------------------------------------------------------


@pytest.mark.parametrize("port", ["api", "otlp_http", "zipkin"])
def test_plain_http_to_a_tls_port_fails(tls_server: RunningServer, port: str) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{tls_server.ports[port]}/healthz", timeout=10)


@pytest.mark.parametrize("port", ["api", "otlp_http", "zipkin"])
def test_a_client_not_trusting_the_ca_fails_verification(
    tls_server: RunningServer, port: str
) -> None:
    system_store_only = ssl.create_default_context()
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(
            f"https://127.0.0.1:{tls_server.ports[port]}/healthz",
            verify=system_store_only,
            timeout=10,
        )


def _grpc_export(channel: grpc.Channel) -> None:
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    stub.Export(trace_service_pb2.ExportTraceServiceRequest(), timeout=5)


def test_plain_grpc_to_the_tls_port_fails(tls_server: RunningServer) -> None:
    with grpc.insecure_channel(tls_server.otlp_grpc_endpoint) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            _grpc_export(channel)
    assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_grpc_not_trusting_the_ca_fails(tls_server: RunningServer, pki: Pki) -> None:
    other = make_pki(pki.ca.parent / "other-ca")  # a CA that did not sign the server's cert
    credentials = grpc.ssl_channel_credentials(other.ca.read_bytes())
    with grpc.secure_channel(tls_server.otlp_grpc_endpoint, credentials) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            _grpc_export(channel)
    assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    # and the same call trusting the right CA goes through: the failure above was the CA
    good = grpc.ssl_channel_credentials(pki.ca.read_bytes())
    with grpc.secure_channel(tls_server.otlp_grpc_endpoint, good) as channel:
        _grpc_export(channel)


# --- the CLI over HTTPS ----------------------------------------------------------------------


def test_cli_reads_over_https_with_a_ca_file(
    tls_server: RunningServer, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = make_spans("tls-cli")
    exporter = HttpExporter(
        endpoint=tls_server.otlp_http_url + "/v1/traces", certificate_file=str(pki.ca)
    )
    assert exporter.export(sent) == SpanExportResult.SUCCESS
    trace_id = check_stored(tls_server, pki, sent, "tls-cli")
    monkeypatch.delenv("SPANSCOPE_CA_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    runner = CliRunner()
    url = ["--url", tls_server.api_url]

    by_flag = runner.invoke(app, ["--ca-file", str(pki.ca), "trace", trace_id, *url, "--json"])
    assert by_flag.exit_code == 0, by_flag.output
    assert json.loads(by_flag.stdout)["spans"][0]["service"] == "tls-cli"

    rules = runner.invoke(app, ["--ca-file", str(pki.ca), "sampling", "list", *url, "--json"])
    assert rules.exit_code == 0, rules.output
    assert json.loads(rules.stdout) == {"services": {}}  # none set: the API's own answer

    monkeypatch.setenv("SPANSCOPE_CA_FILE", str(pki.ca))
    by_env = runner.invoke(app, ["services", *url, "--json"])
    assert by_env.exit_code == 0, by_env.output
    assert "tls-cli" in json.loads(by_env.stdout)["services"]

    monkeypatch.delenv("SPANSCOPE_CA_FILE")
    untrusted = runner.invoke(app, ["services", *url])
    assert untrusted.exit_code == 1
    assert "certificate" in untrusted.output and "--ca-file" in untrusted.output

    plain = runner.invoke(app, ["services", "--url", tls_server.api_url.replace("https", "http")])
    assert plain.exit_code == 1
    assert "https://" in plain.output, plain.output


# --- a bad pair of files stops the server at start --------------------------------------------


def run_serve(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    data = tmp_path / "data"
    command = [
        sys.executable, "-m", "spanscope", "serve", "--data-dir", str(data),
        "--port", "0", "--otlp-grpc-port", "0", "--otlp-http-port", "0", "--zipkin-port", "0",
        *flags,
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert done.returncode != 0, f"serve started with {flags}:\n{done.stdout}{done.stderr}"
    assert not (data / "ports.json").exists()
    return done


BAD_PAIRS: dict[str, tuple[Callable[[Pki, Path], list[str]], list[str]]] = {
    "key does not match": (
        lambda p, _: ["--tls-cert", str(p.cert), "--tls-key", str(p.other_key)],
        ["does not match the certificate", "other.pem"],
    ),
    "missing cert": (
        lambda p, t: ["--tls-cert", str(t / "nope.pem"), "--tls-key", str(p.key)],
        ["--tls-cert", "nope.pem", "No such file"],
    ),
    "missing key": (
        lambda p, t: ["--tls-cert", str(p.cert), "--tls-key", str(t / "gone.pem")],
        ["--tls-key", "gone.pem", "No such file"],
    ),
    "cert only": (
        lambda p, _: ["--tls-cert", str(p.cert)],
        ["--tls-cert", "without --tls-key"],
    ),
    "key only": (
        lambda p, _: ["--tls-key", str(p.key)],
        ["--tls-key", "without --tls-cert"],
    ),
    "cert is a key": (
        lambda p, _: ["--tls-cert", str(p.key), "--tls-key", str(p.key)],
        ["--tls-cert", "key.pem", "no PEM certificate"],
    ),
    "key is a cert": (
        lambda p, _: ["--tls-cert", str(p.cert), "--tls-key", str(p.cert)],
        ["--tls-key", "cert.pem", "no PEM private key"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_PAIRS))
def test_a_bad_pair_stops_serve_naming_the_file(pki: Pki, tmp_path: Path, case: str) -> None:
    flags, expected = BAD_PAIRS[case]
    done = run_serve(tmp_path, *flags(pki, tmp_path))
    message = done.stderr + done.stdout
    for part in expected:
        assert part in message, message
    assert "Traceback" not in message, message


def test_an_encrypted_key_is_refused_without_a_prompt(pki: Pki, tmp_path: Path) -> None:
    """OpenSSL would ask for the passphrase on the terminal; serve must say so and exit."""
    key = serialization.load_pem_private_key(pki.key.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    done = run_serve(tmp_path, "--tls-cert", str(pki.cert), "--tls-key", str(encrypted))
    assert "encrypted.pem" in done.stderr and "passphrase" in done.stderr, done.stderr


def test_a_garbled_certificate_names_the_parse_error(pki: Pki, tmp_path: Path) -> None:
    garbled = tmp_path / "garbled.pem"
    text = pki.cert.read_text().splitlines()
    garbled.write_text("\n".join([text[0], "not base64 at all!", *text[2:]]) + "\n")
    done = run_serve(tmp_path, "--tls-cert", str(garbled), "--tls-key", str(pki.key))
    assert "--tls-cert" in done.stderr and "garbled.pem" in done.stderr, done.stderr
    assert "does not parse" in done.stderr, done.stderr
