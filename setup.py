"""Build hook: compile the Babel catalogs (``locales/*/LC_MESSAGES/messages.po``) into the package.

The compiled ``*.mo`` files are not kept in git; a wheel carries them as ``inbox/locales/…`` so that an
installed ``inbox`` finds its translations without the source tree. Everything else is in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithCatalogs(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the catalogs compiled in the source tree
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        source = HERE / "locales"
        for po in sorted(source.glob("*/LC_MESSAGES/messages.po")):
            target = Path(self.build_lib) / "inbox" / "locales" / po.relative_to(source).with_suffix(".mo")
            target.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=po.parent.parent.name)
            with target.open("wb") as out:
                write_mo(out, catalog)


setup(cmdclass={"build_py": BuildPyWithCatalogs})
