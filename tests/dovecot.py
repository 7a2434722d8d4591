"""A real dovecot IMAP server for tests, run from a short temporary directory.

Dovecot refuses to run its login and internal processes as root. When the tests run as root (CI and the
developers' machines here), the fixture uses a dedicated unprivileged system user ``inboxmail``, created
with ``useradd`` the first time; as any other user it runs as that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests import services

DOVECOT = "/usr/sbin/dovecot"
SERVICE_USER = "inboxmail"


def _service_user() -> tuple[str, int, int]:
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return entry.pw_name, entry.pw_uid, entry.pw_gid
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SERVICE_USER)
    return entry.pw_name, entry.pw_uid, entry.pw_gid


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl CLI); returns (cert, key) paths."""
    if shutil.which("openssl") is None:
        services.missing("openssl (to make a test certificate)")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class Dovecot:
    def __init__(self, user: str = "shop", password: str = "secret", tls: bool = False) -> None:
        if not Path(DOVECOT).exists():
            services.missing("dovecot (/usr/sbin/dovecot, Debian dovecot-imapd)")
        self.user = user
        self.password = password
        self.run_as, self.uid, self.gid = _service_user()
        self.root = Path(tempfile.mkdtemp(prefix="dv", dir="/tmp"))
        self.port = services.free_port()
        self.tls_port = services.free_port() if tls else 0
        self.cert: Path | None = None
        if tls:
            self.cert, self.key = make_certificate(self.root)
        self.process: subprocess.Popen[bytes] | None = None
        self._counter = 0
        self._groups: list[int] = []
        self._write_config()

    @property
    def conf(self) -> Path:
        return self.root / "dovecot.conf"

    def maildir(self, folder: str = "INBOX") -> Path:
        base = self.root / "mail" / self.user
        return base if folder == "INBOX" else base / f".{folder}"

    def _write_config(self) -> None:
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir()
        (self.root / "passwd").write_text(
            f"{self.user}:{{PLAIN}}{self.password}:{self.uid}:{self.gid}::{self.root / 'home'}\n"
        )
        self.conf.write_text(
            f"""protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
{self._ssl_settings()}
auth_failure_delay = 0
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {self.run_as}
default_internal_group = {self.run_as}
default_login_user = {self.run_as}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{self.root}/mail/%u
mailbox_list_index = no
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.root}/passwd
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
"""
        )
        self._chown(self.root)

    def _ssl_settings(self) -> str:
        if self.cert is None:
            return "ssl = no"
        return f"ssl = yes\nssl_cert = <{self.cert}\nssl_key = <{self.key}"

    def _chown(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        os.chown(path, self.uid, self.gid)
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                for name in dirnames + filenames:
                    with contextlib.suppress(FileNotFoundError):
                        os.chown(os.path.join(dirpath, name), self.uid, self.gid)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: cleanup() ends exactly the processes it started
        )
        self._groups.append(self.process.pid)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"dovecot exited: {err}\n{self.log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.05)
        raise RuntimeError(f"dovecot did not open port {self.port}\n{self.log()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None
        # wait until the port is closed, so a restart can bind it again
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and services.port_open("127.0.0.1", self.port):
            time.sleep(0.05)

    def kill(self) -> None:
        """Crash the server: SIGKILL to the process groups of the dovecots we started (this also ends
        imap processes that outlive a stopped master for a few seconds)."""
        for pgid in self._groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait()
            if self.process.stderr:
                self.process.stderr.close()
            self.process = None

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def deliver(self, raw: bytes, folder: str = "INBOX") -> Path:
        """Drop a letter into the maildir the way an MDA does (tmp/ then rename into new/)."""
        base = self.maildir(folder)
        for sub in ("cur", "new", "tmp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        if folder != "INBOX":
            (base / "maildirfolder").touch()
        self._counter += 1
        name = f"{time.time_ns()}.P{os.getpid()}Q{self._counter}.test"
        tmp = base / "tmp" / name
        tmp.write_bytes(raw.replace(b"\r\n", b"\n"))
        final = base / "new" / name
        os.rename(tmp, final)
        if os.geteuid() == 0:
            for path in (
                self.root / "mail",
                self.maildir("INBOX"),
                base,
                base / "cur",
                base / "new",
                base / "tmp",
                final,
            ):
                os.chown(path, self.uid, self.gid)
            if folder != "INBOX":
                os.chown(base / "maildirfolder", self.uid, self.gid)
        return final
