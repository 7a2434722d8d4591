"""The built wheel is a working product: a fresh venv (no source tree, no editable install) runs
`inbox serve` on SQLite, speaks Russian from the catalogs compiled into the package, and receives a Telegram
message from the emulator."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.emulators.telegram import DEFAULT_TOKEN, TelegramEmulator, text_update
from tests.services import free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that would let Python see the source tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "INBOX_"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    env.update(extra)
    return env


def build_and_install(tmp: Path) -> Path:
    """Build the wheel from the repository and pip-install it (with its dependencies) into a new venv."""
    dist = tmp / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(REPO)],
        cwd=tmp,
        env=clean_env(),
    )
    wheels = list(dist.glob("inbox-*.whl"))
    assert len(wheels) == 1, wheels
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    for needed in (
        "inbox/locales/ru/LC_MESSAGES/messages.mo",
        "inbox/locales/en/LC_MESSAGES/messages.mo",
        "inbox/web/templates/login.html",
        "inbox/web/static/htmx.min.js",
        "inbox/migrations/env.py",
        "inbox/migrations/versions/0001_core.py",
    ):
        assert needed in names, f"{needed} is not in the wheel"
    # Every file of the package that is not Python (templates, static files of the web and of each channel
    # package, the Alembic config) is package data: a new one outside package-data fails here.
    data = [
        path.relative_to(REPO).as_posix()
        for path in (REPO / "inbox").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".py", ".pyc")
    ]
    assert any(name.startswith("inbox/channels/widget/") for name in data), data
    assert not [name for name in data if name not in names], "package data missing from the wheel"
    venv = tmp / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    # The new venv gets no pip of its own (bootstrapping one takes seconds and the test never uses it): the
    # test's pip installs into it by its interpreter, and leaves byte-compiling to the first import.
    run([base_python, "-m", "venv", "--without-pip", str(venv)], cwd=tmp, env=clean_env())
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-compile",
            str(wheels[0]),
        ],
        cwd=tmp,
        env=clean_env(),
    )
    return venv


def start_serve(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (cwd / "serve.log").open("wb")
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)


async def test_wheel_installs_and_serves(tmp_path: Path) -> None:
    venv = await asyncio.to_thread(build_and_install, tmp_path)
    work = tmp_path / "site"
    work.mkdir()
    env = clean_env(
        INBOX_DATABASE_URL=f"sqlite+aiosqlite:///{work / 'inbox.sqlite3'}",
        INBOX_DATA_DIR=str(work / "data"),
    )
    where = run(
        [str(venv / "bin" / "python"), "-c", "import inbox; print(inbox.__file__)"], cwd=work, env=env
    )
    assert where.strip().startswith(str(venv)), where  # the installed package, not the source tree
    inbox = str(venv / "bin" / "inbox")
    emu = TelegramEmulator()
    await emu.start()
    port = free_port()
    proc: subprocess.Popen[bytes] | None = None
    try:
        await asyncio.to_thread(run, [inbox, "db", "upgrade"], cwd=work, env=env)
        await asyncio.to_thread(
            run,
            [
                inbox,
                "manager",
                "create",
                "--email",
                "owner@shop.example",
                "--name",
                "Owner",
                "--password",
                "wheel-pass-123",
                "--role",
                "admin",
            ],
            cwd=work,
            env=env,
        )
        await asyncio.to_thread(
            run,
            [
                inbox,
                "channel",
                "add",
                "telegram",
                "--name",
                "shop",
                "--token",
                DEFAULT_TOKEN,
                "--api-base",
                emu.base_url,
            ],
            cwd=work,
            env=env,
        )
        proc = start_serve([inbox, "serve", "--port", str(port)], work, env)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for _ in range(600):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, (work / "serve.log").read_text()
                await asyncio.sleep(0.1)
            page = await client.get("/login")
            assert "Пароль" in page.text  # the Russian catalog from inside the wheel
            loader = await client.get("/widget.js")  # a channel package's static file, from the wheel
            assert loader.status_code == 200 and "javascript" in loader.headers["content-type"], loader.text
            csrf = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
            done = await client.post(
                "/login",
                data={"email": "owner@shop.example", "password": "wheel-pass-123", "_csrf_token": csrf},
            )
            assert done.status_code in (302, 303), done.text
            emu.queue_update(text_update(4242, "Привет из колёсика"))
            for _ in range(300):
                inbox_page = await client.get("/")
                if 'href="/threads/' in inbox_page.text:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(
                    "the Telegram message did not reach the inbox:\n"
                    + (work / "serve.log").read_text()[-3000:]
                )
            link = inbox_page.text.split('href="/threads/', 1)[1].split("?", 1)[0].split('"', 1)[0]
            thread_page = await client.get(f"/threads/{link}")
            assert "Привет из колёсика" in thread_page.text, thread_page.text[-2000:]
            # The bot (on by default) answered from the installed package: its texts and keyboards load.
            replies = await emu.wait_for_requests("sendMessage", timeout=30)
            assert replies[0].params["chat_id"] in (4242, "4242"), replies[0].params
    finally:
        if proc is not None:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 15)
        await emu.stop()
