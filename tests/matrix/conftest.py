"""The provider matrix runs only under tests/matrix/provider_matrix.py, which says which provider is deployed."""

from __future__ import annotations

import os

import pytest

if "MATRIX_PROVIDER" not in os.environ or "FUNCTIONS_EMULATOR_HOST" not in os.environ:
    pytest.exit("the provider matrix runs under make provider-matrix (tests/matrix/provider_matrix.py)", 2)
