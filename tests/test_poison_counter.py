"""The one bounded failure counter that both bearers (modem, SMPP) use for poison SMS."""

from lwm2m_sms.deadletters import PoisonCounter


def test_the_limit_th_failure_is_poison_and_forgotten():
    counter: PoisonCounter[str] = PoisonCounter(limit=3)
    assert [counter.failed("a") for _ in range(2)] == [1, 2]
    assert not counter.poisoned(2) and len(counter) == 1
    assert counter.poisoned(counter.failed("a"))
    assert len(counter) == 0  # dead-lettered: nothing remembered
    assert counter.failed("a") == 1  # the same bytes again start a new count


def test_a_message_taken_after_all_is_forgotten():
    counter: PoisonCounter[str] = PoisonCounter()
    counter.failed("a")
    counter.forget("a")
    counter.forget("never seen")
    assert len(counter) == 0 and counter.failed("a") == 1


def test_bounded_oldest_forgotten_first():
    counter: PoisonCounter[int] = PoisonCounter(limit=3, max_entries=2)
    for key in (1, 2, 3):
        counter.failed(key)
    assert len(counter) == 2
    assert counter.failed(1) == 1  # 1 was the oldest: forgotten
    assert counter.failed(3) == 2
