"""Marks a failed test on its item, so that fixtures can leave diagnostics behind in their teardown."""

from __future__ import annotations

import pytest

FAILED = pytest.StashKey[bool]()  # set on a test item whose setup, call or teardown failed
