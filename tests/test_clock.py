"""The injectable clock (lwm2m_sms.clock): the fake one moves only when told, wakes sleepers
in deadline order at their own deadlines, and wait_for times out on its time."""

import asyncio

import pytest

from lwm2m_sms.clock import SYSTEM_CLOCK, FakeClock, wait_for


async def test_fake_time_stands_still_until_advanced_and_both_readings_move_together():
    clock = FakeClock(start=10.0, wall_start=1_700_000_000.0)
    assert (clock.now(), clock.wall()) == (10.0, 1_700_000_000.0)
    await clock.advance(2.5)
    assert (clock.now(), clock.wall()) == (12.5, 1_700_000_002.5)
    with pytest.raises(ValueError):
        await clock.advance(-1)


async def test_a_timer_loop_fires_once_per_period_at_its_own_deadlines():
    clock = FakeClock(start=0.0)
    fired = []

    async def every_5_s():
        while True:
            await clock.sleep(5)
            fired.append(clock.now())

    task = asyncio.create_task(every_5_s())
    await clock.sleeping(5)
    await clock.advance(17)
    assert fired == [5, 10, 15] and clock.now() == 17
    task.cancel()


async def test_sleepers_wake_in_deadline_order_and_a_cancelled_one_never():
    clock = FakeClock(start=0.0)
    order = []

    async def nap(name, seconds):
        await clock.sleep(seconds)
        order.append(name)

    tasks = [asyncio.create_task(nap(n, s)) for n, s in (("c", 30), ("a", 10), ("b", 20))]
    await clock.sleeping(30)
    tasks[2].cancel()
    await clock.advance(10)
    await clock.advance(100)
    await asyncio.gather(*tasks, return_exceptions=True)
    assert order == ["a", "c"] and clock.timers() == []


async def test_wait_for_times_out_on_the_clocks_time_not_real_time():
    clock = FakeClock()
    never = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(wait_for(clock, never, 30))
    await clock.sleeping(30)
    await clock.advance(29)
    assert not waiting.done()
    await clock.advance(1)
    with pytest.raises(TimeoutError):
        await waiting
    assert never.cancelled()


async def test_wait_for_returns_the_result_and_disarms_its_timer():
    async def answer(value):
        return value

    clock = FakeClock()
    assert await wait_for(clock, answer("done"), 30) == "done"
    assert clock.timers() == []
    assert await wait_for(SYSTEM_CLOCK, answer(7), 30) == 7
