"""The server process's GC set-up: start-up objects frozen, thresholds set."""

import gc

import pytest

from lwm2m_sms.gc_tuning import SERVER_THRESHOLDS, tune_for_server


@pytest.fixture
def restore_gc():
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def test_tune_for_server_freezes_and_sets_thresholds(restore_gc):
    tune_for_server()
    assert gc.get_threshold() == SERVER_THRESHOLDS
    assert gc.get_freeze_count() > 0
