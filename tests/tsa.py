"""A local RFC 3161 TSA for tests: `openssl ts -reply` behind a loopback HTTP server.

The test creates its own CA and TSA certificate (EKU timeStamping, critical), so
nothing is downloaded and the trust anchor is known to the test only. Each POST
of an application/timestamp-query body is answered by running the real openssl
binary; `stop()` closes the port, so later verification provably needs no TSA.

By hand (a rehearsal, a demo; never an election: the CA key is a test key):
    python -m tests.tsa DIR [--port 8318]
prints the URL and the CA file to name in the ceremony root, and serves until Ctrl-C.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "freeze tests")])


def make_pki(directory: Path, label: str = "tsa") -> tuple[Path, Path, Path]:
    """CA cert, TSA cert and TSA key (PEM) under `directory`."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{label} test root CA")).issuer_name(_name(f"{label} test root CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{label} test TSA")).issuer_name(ca_cert.subject)
        .public_key(tsa_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / f"{label}-ca.pem", directory / f"{label}.pem", directory / f"{label}.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(tsa_cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(tsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return ca_path, cert_path, key_path


class LocalTsa:
    def __init__(self, directory: Path, label: str = "tsa", port: int = 0) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca, self.cert, self.key = make_pki(self.dir, label)
        (self.dir / "serial").write_text("01\n")
        self.config = self.dir / "tsa.cnf"
        # no "certs =": openssl would add the CA unsorted to the CMS SET OF
        # certificates, which strict DER parsers (rfc3161-client) reject
        self.config.write_text(
            "[ tsa ]\ndefault_tsa = tsa_config\n\n[ tsa_config ]\n"
            f"serial = {self.dir}/serial\ncrypto_device = builtin\n"
            f"signer_cert = {self.cert}\nsigner_key = {self.key}\n"
            "signer_digest = sha256\ndefault_policy = 1.3.6.1.4.1.4146.2.3\n"
            "other_policies = 1.3.6.1.4.1.4146.2.2\ndigests = sha256, sha384, sha512\n"
            "accuracy = secs:1\nordering = yes\ntsa_name = yes\n"
            "ess_cert_id_chain = no\ness_cert_id_alg = sha256\n"
        )
        self.requests = 0
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_error(415)
                    return
                tsa.requests += 1
                with tempfile.TemporaryDirectory() as tmp:
                    q, r = Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
                    q.write_bytes(body)
                    res = subprocess.run(
                        ["openssl", "ts", "-reply", "-config", str(tsa.config), "-queryfile", str(q),
                         "-out", str(r)], capture_output=True, check=False)
                    if res.returncode != 0:
                        self.send_error(500)
                        return
                    reply = r.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/tsr"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _main() -> None:
    import argparse
    import time

    ap = argparse.ArgumentParser(prog="python -m tests.tsa",
                                 description="A test RFC 3161 TSA on 127.0.0.1 (openssl ts -reply).")
    ap.add_argument("directory", type=Path, help="where the test CA, TSA certificate and key are written")
    ap.add_argument("--port", type=int, default=8318)
    args = ap.parse_args()
    tsa = LocalTsa(args.directory, port=args.port)
    print(f"TSA url: {tsa.url}\nCA certificate (for the root spec's timestamp_authorities): {tsa.ca}",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        tsa.stop()


if __name__ == "__main__":
    _main()
