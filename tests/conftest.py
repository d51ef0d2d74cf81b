"""Shared test settings: hypothesis profiles (CI runs the same number of examples), and the
event loop every async test runs on (tests/waiting.py: conditions awaited without sleeps)."""

from hypothesis import HealthCheck, settings

from waiting import WatchingLoop

settings.register_profile(
    "default", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("default")


def pytest_asyncio_loop_factories(config, item):
    return {"watching": WatchingLoop}
