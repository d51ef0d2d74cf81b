"""``lwm2m-sms demo`` end to end: every binding, its bearers and its SMS counts, on a clean
network and on one that loses 10% and duplicates 5% of SMS."""

import json

from lwm2m_sms.cli import main
from lwm2m_sms.cli.demo import DemoOptions, run_demo


def _rows(result, binding):
    first = next(r.endpoint for r in result.rows if r.binding == binding)
    return {r.operation: r for r in result.rows if r.endpoint == first}


async def test_demo_every_binding_passes_with_minimum_sms():
    result = await run_demo(DemoOptions())
    assert result.passed, [r for r in result.rows if not r.ok]
    assert {r.binding for r in result.rows} == {"U", "UQ", "S", "SQ", "US", "UQS"}
    s = _rows(result, "S")  # the S device is on the modem emulator
    # SMS economy: Register, a read and an execute take one SMS each way.
    assert (s["register"].sms_out, s["register"].sms_in) == (1, 1)
    assert (s["read /3/0"].sms_out, s["read /3/0"].sms_in) == (1, 1)
    # execute + 2.04, then the device's Update + 2.04
    assert (s["execute /1/0/8 -> Update"].sms_out, s["execute /1/0/8 -> Update"].sms_in) == (2, 2)
    assert all(r.bearer == "sms" for op, r in s.items() if op != "bootstrap")
    for binding in ("U", "UQ"):
        assert all(r.sms_out == r.sms_in == 0 and r.bearer == "udp"
                   for op, r in _rows(result, binding).items() if op != "bootstrap: smartcard")
    uqs = _rows(result, "UQS")
    wake = uqs["read while asleep: SMS wake-up"]
    assert wake.bearer == "sms+udp" and (wake.sms_out, wake.sms_in) == (1, 1)  # trigger, 2.04
    us = _rows(result, "US")
    assert us["read /3/0"].bearer == "udp" and us["read /3/0/0 by SMS (asked)"].bearer == "sms"
    sq = _rows(result, "SQ")
    assert sq["read while asleep: waits for wake"].bearer == "sms"
    # bootstrap: five commands (Delete, Write /0, Write /1, Discover, Finish), one SMS each
    # way; by the device's request one more each way; from the smartcard none
    pushed = s["bootstrap: server-initiated by SMS"]
    assert (pushed.bearer, pushed.sms_out, pushed.sms_in) == ("sms", 5, 5)
    asked = sq["bootstrap: client-initiated by SMS"]
    assert (asked.bearer, asked.sms_out, asked.sms_in) == ("sms", 6, 6)
    card = _rows(result, "U")["bootstrap: smartcard"]
    assert (card.bearer, card.sms_out, card.sms_in) == ("-", 0, 0)
    # measured, not inferred: the Register's bearer is the address the server recorded
    assert not s["register"].bearer_inferred and s["register"].bearer == "sms"
    assert not uqs["register"].bearer_inferred and uqs["register"].bearer == "udp"
    # no counter sees a device's UDP message to the server: such rows say they are inferred
    assert uqs["bootstrap"].bearer_inferred and uqs["de-register"].bearer_inferred
    assert not s["de-register"].bearer_inferred  # its SMS were counted


async def test_demo_survives_loss_and_duplication():
    clean = await run_demo(DemoOptions())
    impaired = await run_demo(DemoOptions(loss=10, duplicate=5, seed=3))
    assert impaired.passed, [r for r in impaired.rows if not r.ok]
    assert impaired.smsc["lost"] > 0 and impaired.smsc["duplicated"] > 0
    assert impaired.smsc["submitted"] > clean.smsc["submitted"]
    assert {r.operation for r in impaired.rows if r.operation.startswith("bootstrap: ")} == {
        "bootstrap: server-initiated by SMS", "bootstrap: client-initiated by SMS", "bootstrap: smartcard"}


def test_demo_command_exits_zero(capsys):
    assert main(["demo", "--devices", "7", "--no-modem"]) == 0
    out = capsys.readouterr().out
    assert "binding UQS" in out and "fleet" in out
    assert out.strip().splitlines()[-1].startswith("demo: ")
    assert "udp*" in out and "* inferred:" in out


def test_demo_json_is_json_only_and_two_runs_are_alike(capsys):
    def run_json() -> dict:
        assert main(["demo", "--json", "--no-modem", "--seed", "7"]) == 0
        captured = capsys.readouterr()
        assert "demo: 46/46 operations passed" in captured.err  # the summary goes to stderr
        return json.loads(captured.out)  # stdout is the JSON document and nothing else

    def alike(doc: dict) -> list:
        return [(r["endpoint"], r["operation"], r["bearer"], r["bearer_inferred"], r["ok"], r["sms_out"], r["sms_in"])
                for r in doc["rows"]]

    first, second = run_json(), run_json()
    assert first["passed"] and alike(first) == alike(second)
    assert any(r["bearer_inferred"] for r in first["rows"])
