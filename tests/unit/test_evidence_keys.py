from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from freeze.errors import InputError, NoInputError, UnavailableError, UsageError
from freeze.evidence.keys import PassphraseSource, generate_key_file, load_public_key_file, load_signer


def test_keygen_writes_an_encrypted_pkcs8_key_mode_0600(tmp_path: Path) -> None:
    ref = generate_key_file(tmp_path / "k.pem", b"pw")
    pem = (tmp_path / "k.pem").read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE(os.stat(tmp_path / "k.pem").st_mode) == 0o600
    assert load_public_key_file(tmp_path / "k.pub.pem") == ref


def test_keygen_refuses_unencrypted_without_the_unsafe_flag(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unencrypted"):
        generate_key_file(tmp_path / "k.pem", None)
    generate_key_file(tmp_path / "k.pem", None, unsafe_unencrypted=True)
    with pytest.raises(InputError, match="not passphrase-protected"):
        load_signer(tmp_path / "k.pem", PassphraseSource())


def test_keygen_never_overwrites(tmp_path: Path) -> None:
    generate_key_file(tmp_path / "k.pem", b"pw")
    with pytest.raises(UsageError, match="already exists"):
        generate_key_file(tmp_path / "k.pem", b"pw")


def test_passphrase_from_env_name_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate_key_file(tmp_path / "k.pem", b"s3cret")
    monkeypatch.setenv("MY_PASS", "s3cret")
    assert load_signer(tmp_path / "k.pem", PassphraseSource(env="MY_PASS")).ref.kind == "ed25519"
    (tmp_path / "pass.txt").write_text("s3cret\n")
    load_signer(tmp_path / "k.pem", PassphraseSource(file=tmp_path / "pass.txt"))
    monkeypatch.setenv("MY_PASS", "wrong")
    with pytest.raises(InputError, match="wrong passphrase"):
        load_signer(tmp_path / "k.pem", PassphraseSource(env="MY_PASS"))
    with pytest.raises(UsageError, match="NOPE is not set"):
        load_signer(tmp_path / "k.pem", PassphraseSource(env="NOPE"))


def test_wrong_key_types_are_refused(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")))
    (tmp_path / "pw").write_text("pw")
    with pytest.raises(InputError, match="RSAPrivateKey; freeze signs with Ed25519"):
        load_signer(tmp_path / "rsa.pem", PassphraseSource(file=tmp_path / "pw"))
    (tmp_path / "rsa.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(InputError, match="freeze keys are Ed25519"):
        load_public_key_file(tmp_path / "rsa.pub")
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(InputError, match="not a private key file"):
        load_signer(tmp_path / "junk", PassphraseSource())


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(NoInputError, match="no such file"):
        load_signer(tmp_path / "absent.pem", PassphraseSource())


def test_pkcs11_is_optional_and_says_so() -> None:
    with pytest.raises(UnavailableError, match="python-pkcs11"):
        load_signer(Path("pkcs11:token=t;object=k"), PassphraseSource())


def test_openssh_ed25519_key_signs_sshsig(tmp_path: Path) -> None:
    k = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "id").write_bytes(k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.BestAvailableEncryption(b"pw")))
    (tmp_path / "pw").write_text("pw")
    s = load_signer(tmp_path / "id", PassphraseSource(file=tmp_path / "pw"))
    assert s.ref.kind == "ssh"
    sig = s.sign(b"message")
    assert sig.startswith(b"SSHSIG") and s.ref.verify(sig, b"message") and not s.ref.verify(sig, b"other")


def test_keygen_into_a_missing_directory_is_one_line_before_any_passphrase(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from freeze.cli import main

    # the variable is unset: had the passphrase been asked for first, that would be the error
    code = main(["keygen", str(tmp_path / "absent" / "k.pem"), "--passphrase-env", "FREEZE_TEST_UNSET_VAR"])
    err = capsys.readouterr().err
    assert code == 64, err
    assert err.count("\n") == 1 and "absent is not a directory; create it first" in err
    assert "internal error" not in err and not (tmp_path / "absent").exists()


def _typed(monkeypatch: pytest.MonkeyPatch, answers: list[str]) -> list[str]:
    prompts: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr("getpass.getpass", getpass)
    return prompts


def test_a_mistyped_passphrase_may_be_typed_again_at_a_terminal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate_key_file(tmp_path / "k.pem", b"right")
    prompts = _typed(monkeypatch, ["wrong", "wrong again", "right"])
    assert load_signer(tmp_path / "k.pem", PassphraseSource()).ref.kind == "ed25519"
    assert len(prompts) == 3 and "try 3 of 3" in prompts[2]
    _typed(monkeypatch, ["a", "b", "c", "right"])
    with pytest.raises(InputError, match="wrong passphrase"):
        load_signer(tmp_path / "k.pem", PassphraseSource())


def test_a_passphrase_from_the_environment_gets_one_try(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate_key_file(tmp_path / "k.pem", b"right")
    prompts = _typed(monkeypatch, ["right"])
    monkeypatch.setenv("FREEZE_TEST_PASS", "wrong")
    with pytest.raises(InputError, match="wrong passphrase"):
        load_signer(tmp_path / "k.pem", PassphraseSource(env="FREEZE_TEST_PASS"))
    assert prompts == []


def test_readme_documents_exit_78_and_no_render_option_that_does_not_exist() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## `freeze` exit status", 1)[1].split("###", 1)[0]
    assert "\n| 78 |" in table
    assert "`--render`" not in readme  # freeze zero has --no-render only
