"""The purpose use cases run through the consent service on a real container: its fixtures."""

from tests.consent.conftest import clock, svc  # noqa: F401  (fixtures)
