"""Runs django-helpdesk's ``get_email`` (``helpdesk.email.process_email``) once against an IMAP mailbox and
prints ``{"seconds": …, "tickets": …, "followups": …}`` as JSON. Executed by ``tests.perf.bench_email``
with the interpreter of a separate virtualenv that has django-helpdesk installed; it never runs inside the
project's own environment (Django is not a dependency of ``inbox``).

Usage: <helpdesk-venv>/bin/python tests/perf/helpdesk_runner.py HOST PORT USER PASSWORD WORKDIR
"""

# This file is executed by another interpreter; it is not part of the inbox package and is not type-checked.
# mypy: ignore-errors

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path


def configure(workdir: Path) -> None:
    from django.conf import settings

    # helpdesk builds ticket URLs with reverse("helpdesk:…"): mount its URLs under that namespace
    (workdir / "bench_urls.py").write_text(
        "from django.urls import include, path\n"
        "urlpatterns = [path('helpdesk/', include('helpdesk.urls', namespace='helpdesk'))]\n"
    )
    sys.path.insert(0, str(workdir))

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only-secret",
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(workdir / "helpdesk.db")}},
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.sites",
            "django.contrib.humanize",
            "rest_framework",
            "account",
            "pinax.invitations",
            "pinax.teams",
            "reversion",
            "helpdesk",
        ],
        SITE_ID=1,
        USE_TZ=True,
        MEDIA_ROOT=str(workdir / "media"),
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        ROOT_URLCONF="bench_urls",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
            }
        ],
        LOGGING_CONFIG=None,
    )
    import django

    django.setup()


def main() -> None:
    host, port, user, password, workdir = sys.argv[1:6]
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    configure(work)
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from helpdesk.email import process_email
    from helpdesk.models import FollowUp, Queue, Ticket

    Queue.objects.create(
        title="Shop",
        slug="shop",
        email_address="shop@romashka.ru",
        allow_email_submission=True,
        email_box_type="imap",
        email_box_host=host,
        email_box_port=int(port),
        email_box_ssl=False,
        email_box_user=user,
        email_box_pass=password,
        email_box_imap_folder="INBOX",
        email_box_interval=0,
        logging_type="debug" if os.environ.get("HELPDESK_DEBUG") else "none",
    )
    if os.environ.get("HELPDESK_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    started = time.perf_counter()
    process_email(quiet=not os.environ.get("HELPDESK_DEBUG"))
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {"seconds": seconds, "tickets": Ticket.objects.count(), "followups": FollowUp.objects.count()}
        )
    )


if __name__ == "__main__":
    main()
