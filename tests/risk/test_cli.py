"""`mci risk check` and `mci risk limits` as the real CLI in a subprocess: the paper broker, offline accounts,
Kite's instrument CSV, bad input (exit 2, WHAT/WHY/HOW, no traceback), and the Kite simulator through the
real kiteconnect client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal as D
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]
AT = "2026-11-23T10:00:00+05:30"  # a Monday in session; the CLI's clock starts here (--at) and ticks
SIGNAL = AT  # the clock ticks on from AT, so the signal is as old as the process: well under 5s

# Kite's instrument dump: the header and column order of GET /instruments (CSV).
KITE_CSV = """instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange
408065,1594,INFY,INFOSYS,0.0,,0.0,0.05,1,EQ,NSE,NSE
2953217,11536,TCS,TATA CONSULTANCY SERV LT,0.0,,0.0,0.05,1,EQ,NSE,NSE
13238786,51714,NIFTY26NOVFUT,NIFTY,0.0,2026-11-26,0.0,0.1,75,FUT,NFO-FUT,NFO
"""


def entry(**changes) -> dict:
    """BUY 10 INFY near the paper market (₹1,510 ± a few %): risk ₹200.00, reward ₹400.00."""
    return {
        "exchange": "NSE",
        "symbol": "INFY",
        "side": "BUY",
        "quantity": 10,
        "price": "1510.00",
        "stop_loss": "1490.00",
        "target": "1550.00",
        "signal_time": SIGNAL,
        **changes,
    }


@pytest.fixture
def mci(mci_home):
    """Like conftest's run_mci (MCI_HOME, NO_COLOR, no MCI_* leaking in), plus stdin."""

    def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 60):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MCI_", "KITE_"))}
        full_env.update({"MCI_HOME": str(mci_home), "NO_COLOR": "1", **(env or {})})
        return subprocess.run(
            [sys.executable, "-m", "mci", *args],
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=full_env,
            cwd=ROOT,
            timeout=timeout,
        )

    return run


def lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def rule_names(verdict: dict) -> list[str]:
    return [f["rule"] for f in verdict["failures"]]


def assert_usage_error(done, *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "WHAT:" in done.stderr and "WHY:" in done.stderr and "HOW:" in done.stderr, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


# ---------------------------------------------------------------- the paper broker (the default profile)


def test_one_accepted_order_in_a_file_exits_0(run_mci, tmp_path):
    order = tmp_path / "order.json"
    order.write_text(json.dumps(entry(), indent=2))  # one pretty-printed document
    done = run_mci("risk", "check", str(order), "--at", AT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(
        "ACCEPTED  BUY 10 NSE:INFY LIMIT @ 1510.00 (notional ₹15,100.00, risk ₹200.00, "
        "reward ₹400.00, risk:reward 2.00)"
    )


def test_json_lines_on_stdin_one_verdict_per_line_and_exit_2_on_a_line_that_is_not_an_order(mci):
    stream = (
        "\n".join(
            [
                json.dumps(entry()),
                json.dumps(entry(stop_loss="1530.00")),  # a BUY's stop above its entry
                "{not json",
                "",
                json.dumps(entry(symbol="NOSUCH")),
                json.dumps(entry(target="1549.95", signal_time="2026-11-23T10:00:30+05:30")),
            ]
        )
        + "\n"
    )
    done = mci("risk", "check", "-", "--at", AT, "-o", "json", stdin=stream)
    assert done.returncode == 2, done.stdout + done.stderr  # bad input outranks a rejection; every line is judged
    verdicts = lines(done.stdout)
    assert [v["line"] for v in verdicts] == [1, 2, 3, 5, 6]
    assert [v["accepted"] for v in verdicts] == [True, False, False, False, False]
    assert rule_names(verdicts[0]) == []
    assert rule_names(verdicts[1]) == ["stop_side"]
    assert rule_names(verdicts[2]) == ["json"] and verdicts[2]["failures"][0]["what"] == "line 3 is not JSON"
    assert set(rule_names(verdicts[3])) == {"unknown_symbol", "price_band"}
    assert set(rule_names(verdicts[4])) == {"min_risk_reward", "signal_time"}
    assert all(f["what"] and f["why"] and f["how"] for v in verdicts for f in v["failures"])
    assert "Traceback" not in done.stderr


def test_a_rejection_in_text_lists_each_rule_with_what_why_how(mci):
    done = mci("risk", "check", "-", "--at", AT, stdin=json.dumps(entry(target="1500.00")) + "\n")
    assert done.returncode == 1
    assert "REJECTED  BUY 10 NSE:INFY LIMIT @ 1510.00: 1 rule(s) failed" in done.stdout
    assert "[target_side] WHAT: target ₹1,500.00 is on the wrong side of the entry ₹1,510.00" in done.stdout
    assert "WHY: a BUY target must be above the entry" in done.stdout and "HOW:" in done.stdout


def test_arbitrary_json_values_are_rejections_not_crashes(mci):
    stream = (
        "\n".join(
            [
                "42",
                "[]",
                '"BUY"',
                "null",
                json.dumps({"price": float("nan")}),
                '{"exchange": "NSE", "symbol": "INFY", "side": "BUY", "quantity": 1e400, "price": Infinity}',
                json.dumps(entry(quantity=10**30)),
                json.dumps(entry(price="1e30")),
            ]
        )
        + "\n"
    )
    done = mci("risk", "check", "-", "--at", AT, "-o", "json", stdin=stream)
    assert done.returncode == 1, done.stdout + done.stderr
    verdicts = lines(done.stdout)
    assert [v["line"] for v in verdicts] == list(range(1, 9))
    assert not any(v["accepted"] for v in verdicts)
    assert all(v["failures"] for v in verdicts)
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("indent", [1, None], ids=["pretty-printed", "on one line"])
def test_an_array_document_is_one_verdict_per_order(run_mci, tmp_path, indent):
    orders = tmp_path / "orders.json"
    orders.write_text(json.dumps([entry(), entry(quantity=5)], indent=indent))
    done = run_mci("risk", "check", str(orders), "--at", AT, "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [v["order"] for v in lines(done.stdout)] == [
        "BUY 10 NSE:INFY LIMIT @ 1510.00",
        "BUY 5 NSE:INFY LIMIT @ 1510.00",
    ]


def test_a_pretty_printed_array_reports_the_line_each_order_starts_on(mci):
    rest = json.dumps({k: v for k, v in entry().items() if k != "exchange"})
    stream = "[\n  " + json.dumps(entry()) + ',\n\n  {"exchange": "NSE",\n   ' + rest[1:] + "\n]\n"
    done = mci("risk", "check", "-", "--at", AT, "-o", "json", stdin=stream)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [v["line"] for v in lines(done.stdout)] == [2, 4]


@pytest.mark.parametrize("duplicate", ['"quantity": 10, "quantity": 100000', '"quantity": 100000, "quantity": 10'])
def test_a_key_given_twice_is_refused_never_judged_on_one_of_its_values(mci, duplicate):
    order = json.dumps(entry()).replace('"quantity": 10', duplicate)
    for stdin in (order + "\n", json.dumps(entry()) + "\n" + order + "\n", "[\n" + order + "\n]\n"):
        done = mci("risk", "check", "-", "--at", AT, "-o", "json", stdin=stdin)
        assert done.returncode == 2, done.stdout + done.stderr
        bad = [v for v in lines(done.stdout) if not v["accepted"]]
        assert len(bad) == 1 and rule_names(bad[0]) == ["json"]
        assert "'quantity' appears twice" in bad[0]["failures"][0]["why"]


def test_a_batch_file_is_judged_at_one_instant_so_later_orders_do_not_go_stale(mci_home, tmp_path):
    # A named file is a batch, judged at the instant it starts. A FIFO makes that instant observable without
    # depending on how fast the machine is: the first order is judged, then 6 s pass (max_signal_age is 5s)
    # before the second, identical one is written. A clock that ticked during the batch would call it stale.
    fifo = tmp_path / "batch.fifo"
    os.mkfifo(fifo)
    order = json.dumps(entry(signal_time=AT)) + "\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCI_", "KITE_"))}
    env.update({"MCI_HOME": str(mci_home), "NO_COLOR": "1"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "mci", "risk", "check", str(fifo), "--at", AT, "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        with open(fifo, "w", encoding="utf-8") as writer:
            writer.write(order)
            writer.flush()
            first = json.loads(proc.stdout.readline())
            assert first["accepted"] is True, first  # start-up took under 5 s: the signal was fresh
            time.sleep(6)
            writer.write(order)
        second = json.loads(proc.stdout.readline())
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        proc.kill()
    assert second == {**first, "line": 2}


def test_the_help_example_is_accepted_as_written(run_mci, mci_home):
    import re

    text = run_mci("risk", "check", "--help").stdout
    example = re.search(r"Example:\s+(echo '.*?\| mci risk check -)", text, re.S).group(1)
    command = " ".join(part.strip() for part in example.splitlines())
    assert "$(date -Iseconds)" in command
    # Rehearsed at AT (in session): the example's signal is stamped "now" by the shell, so here it is AT.
    command = command.replace("$(date -Iseconds)", AT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCI_", "KITE_"))}
    env.update({"MCI_HOME": str(mci_home), "NO_COLOR": "1", "MCI_AT": AT})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ACCEPTED  BUY 10 NSE:INFY LIMIT @ 1500"), done.stdout


@pytest.mark.parametrize("stdin", ["", "\n  \n"], ids=["empty", "blank lines"])
def test_empty_input_exits_2(mci, stdin):
    assert_usage_error(mci("risk", "check", "-", "--at", AT, stdin=stdin), "no order to check")


def test_an_unreadable_order_file_exits_2(run_mci, tmp_path):
    assert_usage_error(run_mci("risk", "check", str(tmp_path / "missing.json")), "cannot read")


# ---------------------------------------------------------------- offline: --account, --capital, --ltp, --instruments


def write_account(tmp_path: Path, **changes) -> Path:
    data = {
        "capital": "1000000",
        "day_pnl": "-59800.00",
        "positions": [{"instrument": "NSE:INFY", "product": "MIS", "quantity": 100, "pnl": "-59800.00"}],
        "last_prices": {"NSE:INFY": "1500.00", "NSE:TCS": "3000.00"},
        "instruments": {
            "NSE:INFY": {"tick_size": "0.05", "lot_size": 1},
            "NSE:TCS": {"tick_size": "0.05", "lot_size": 1},
        },
        "orders": [{"placed_at": "2026-11-23T09:30:00+05:30", "filled": True}],
        **changes,
    }
    path = tmp_path / "account.json"
    path.write_text(json.dumps(data))
    return path


def test_account_json_offline_day_loss_room_and_an_exit(mci, tmp_path):
    account = write_account(tmp_path)
    stream = (
        "\n".join(
            [
                # ₹200.00 of room left: ₹200.00 of risk is exactly the limit, ₹200.50 is over.
                json.dumps(entry(symbol="TCS", price="3000.00", stop_loss="2980.00", target="3040.00")),
                json.dumps(entry(symbol="TCS", price="3000.00", stop_loss="2979.95", target="3045.00")),
                # Selling the INFY held needs no stop, target or signal time, whatever the day's loss.
                json.dumps(
                    {
                        "exchange": "NSE",
                        "symbol": "INFY",
                        "side": "SELL",
                        "quantity": 100,
                        "order_type": "MARKET",
                        "market_protection": -1,
                    }
                ),
            ]
        )
        + "\n"
    )
    done = mci("risk", "check", "-", "--account", str(account), "--at", AT, "-o", "json", stdin=stream)
    assert done.returncode == 1, done.stdout + done.stderr
    first, second, exit_ = lines(done.stdout)
    assert first["accepted"] and first["facts"]["risk"] == "₹200.00"
    assert rule_names(second) == ["max_daily_loss"]
    assert "₹200.00 of daily loss room is left" in second["failures"][0]["why"]
    assert exit_["accepted"] and exit_["exit"]


def test_day_pnl_flag_overrides_the_account_file(mci, tmp_path):
    account = write_account(tmp_path)
    order = json.dumps(entry(symbol="TCS", price="3000.00", stop_loss="2980.00", target="3040.00")) + "\n"
    done = mci(
        "risk", "check", "-", "--account", str(account), "--day-pnl", "-59800.05", "--at", AT, "-o", "json", stdin=order
    )
    assert done.returncode == 1 and rule_names(lines(done.stdout)[0]) == ["max_daily_loss"]


def test_capital_ltp_and_kite_instrument_csv(mci, tmp_path):
    csv = tmp_path / "instruments.csv"
    csv.write_text(KITE_CSV)
    nifty = {
        "exchange": "NFO",
        "symbol": "NIFTY26NOVFUT",
        "product": "NRML",
        "price": "26000.00",
        "stop_loss": "25900.00",
        "target": "26200.00",
    }
    stream = (
        "\n".join(
            json.dumps(o)
            for o in [
                entry(**nifty, quantity=75),
                entry(**nifty, quantity=76),
                entry(**{**nifty, "price": "26000.05", "target": "26300.00"}, quantity=75),
                entry(price="1500.00", stop_loss="1480.00", target="1540.00"),
                entry(symbol="INFYY"),
            ]
        )
        + "\n"
    )
    done = mci(
        "risk",
        "check",
        "-",
        "--capital",
        "₹10,00,000",
        "--ltp",
        "NFO:NIFTY26NOVFUT=26000",
        "--ltp",
        "nse:infy=1500.00",
        "--instruments",
        str(csv),
        "--at",
        AT,
        "-o",
        "json",
        stdin=stream,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    verdicts = lines(done.stdout)
    assert [rule_names(v) for v in verdicts[:4]] == [[], ["lot_size"], ["tick_size"], []]
    assert verdicts[0]["facts"]["risk"] == "₹7,500.00"
    assert set(rule_names(verdicts[4])) == {"unknown_symbol", "price_band"}


def test_capital_without_an_instrument_list_cannot_verify_the_symbol(mci):
    done = mci(
        "risk",
        "check",
        "-",
        "--capital",
        "1000000",
        "--ltp",
        "NSE:INFY=1500",
        "--at",
        AT,
        "-o",
        "json",
        stdin=json.dumps(entry(price="1500.00", stop_loss="1480.00", target="1540.00")) + "\n",
    )
    assert done.returncode == 1 and rule_names(lines(done.stdout)[0]) == ["unknown_symbol"]
    assert "--instruments" in lines(done.stdout)[0]["failures"][0]["how"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--capital", "1000000", "--ltp", "NSE:INFY=abc"], ["--ltp 'NSE:INFY=abc' is not EXCHANGE:SYMBOL=PRICE"]),
        (["--capital", "1000000", "--ltp", "INFY=1500"], ["is not EXCHANGE:SYMBOL=PRICE"]),
        (["--capital", "1000000", "--ltp", "NSE:INFY=-1"], ["is not EXCHANGE:SYMBOL=PRICE"]),
        (["--capital", "1000000", "--ltp", "NSE:INFY=NaN"], ["is not EXCHANGE:SYMBOL=PRICE"]),
        (["--capital", "lots"], ["--capital 'lots' is not an amount"]),
        (["--capital", "0"], ["--capital must be above ₹0"]),
        (["--capital", "1000000", "--day-pnl", "a loss"], ["--day-pnl 'a loss' is not an amount"]),
        (["--day-pnl", "-100"], ["--day-pnl without an offline account"]),
    ],
    ids=[
        "ltp text",
        "ltp no exchange",
        "ltp negative",
        "ltp NaN",
        "capital text",
        "capital 0",
        "day-pnl text",
        "day-pnl alone",
    ],
)
def test_bad_flags_exit_2_with_what_why_how(mci, args, words):
    assert_usage_error(mci("risk", "check", "-", *args, stdin=json.dumps(entry()) + "\n"), *words)


def test_an_unreadable_or_malformed_account_exits_2(mci, tmp_path):
    stdin = json.dumps(entry()) + "\n"
    assert_usage_error(
        mci("risk", "check", "-", "--account", str(tmp_path / "nope.json"), stdin=stdin), "cannot read the account file"
    )
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{capital: 1000000")
    assert_usage_error(
        mci("risk", "check", "-", "--account", str(garbled), stdin=stdin), "cannot read the account file"
    )
    for changes, words in [
        ({"capital": "-5"}, "capital is not a positive finite amount"),
        ({"capitol": "1"}, "unknown field(s): capitol"),
        ({"positions": [{"instrument": "NSE:INFY", "quantity": 1.5}]}, ".quantity is not a whole number"),
        ({"last_prices": {"NSE:INFY": "NaN"}}, "last_prices[NSE:INFY] is not a positive finite amount"),
        ({"instruments": {"NSE:INFY": {"lot_size": 0}}}, ".lot_size is not a whole number ≥ 1"),
        ({"orders": [{"placed_at": "09:30"}]}, "placed_at is not an ISO-8601 instant"),
    ]:
        account = write_account(tmp_path, **changes)
        assert_usage_error(mci("risk", "check", "-", "--account", str(account), stdin=stdin), words)


def test_a_bad_instrument_csv_exits_2(mci, tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text(KITE_CSV.replace(",0.05,1,EQ,NSE,NSE\n", ",0.05,one,EQ,NSE,NSE\n", 1))
    assert_usage_error(
        mci("risk", "check", "-", "--capital", "1000000", "--instruments", str(csv), stdin=json.dumps(entry()) + "\n"),
        "cannot read the instrument list",
    )
    assert_usage_error(
        mci(
            "risk",
            "check",
            "-",
            "--capital",
            "1000000",
            "--instruments",
            str(tmp_path / "none.csv"),
            stdin=json.dumps(entry()) + "\n",
        ),
        "cannot read the instrument list",
    )
    not_csv = tmp_path / "o.json"
    not_csv.write_text("[]\n")  # not Kite's CSV: never silently an empty instrument list
    assert_usage_error(
        mci(
            "risk",
            "check",
            "-",
            "--capital",
            "1000000",
            "--instruments",
            str(not_csv),
            stdin=json.dumps(entry()) + "\n",
        ),
        "has no exchange, tradingsymbol, tick_size, lot_size column",
    )
    header_only = tmp_path / "empty.csv"
    header_only.write_text(KITE_CSV.splitlines()[0] + "\n")
    assert_usage_error(
        mci(
            "risk",
            "check",
            "-",
            "--capital",
            "1000000",
            "--instruments",
            str(header_only),
            stdin=json.dumps(entry()) + "\n",
        ),
        "lists no instrument",
    )


# ---------------------------------------------------------------- mci risk limits


def test_limits_in_rupees_for_a_capital(run_mci):
    done = run_mci("risk", "limits", "--capital", "500000")
    assert done.returncode == 0, done.stdout + done.stderr  # the full-book warning does not fail
    assert "risk limits of paper on capital ₹500,000.00" in done.stdout
    assert [line.split() for line in done.stdout.splitlines() if line.strip().startswith("max_risk_per_trade")] == [
        ["max_risk_per_trade", "2%", "₹10,000.00"]
    ]
    assert [line.split() for line in done.stdout.splitlines() if line.strip().startswith("max_daily_loss")] == [
        ["max_daily_loss", "6%", "₹30,000.00"]
    ]
    assert "WARNING: 5 positions each losing 2% would breach the 6% daily loss" in done.stdout


def test_limits_as_json(run_mci):
    done = run_mci("risk", "limits", "--capital", "₹10,00,000", "-o", "json")
    data = json.loads(done.stdout)
    rupees = {row["name"]: row["rupees"] for row in data["limits"]}
    assert rupees["max_risk_per_trade"] == "₹20,000.00" and rupees["max_daily_loss"] == "₹60,000.00"
    assert rupees["max_drawdown"] == "₹150,000.00 at the open"
    assert [p["level"] for p in data["problems"]] == ["warning"]


def test_limits_with_a_bad_capital_exits_2(run_mci):
    assert_usage_error(run_mci("risk", "limits", "--capital", "abc"), "--capital 'abc' is not an amount")


def test_limits_read_the_capital_from_the_paper_broker(run_mci):
    done = run_mci("risk", "limits", "--at", AT)
    assert done.returncode == 0 and "on capital ₹1,000,000.00" in done.stdout and "₹20,000.00" in done.stdout


# ---------------------------------------------------------------- the Kite simulator, through kiteconnect


@pytest.fixture
def kite_sim(tmp_path):
    """The simulator in a thread with a NIFTY future (lot 75, tick ₹0.10) next to INFY, prices pinned."""
    from mci.brokers.sim.admin import SimClock
    from mci.brokers.sim.exchange import Exchange
    from mci.brokers.sim.kite_server import serve
    from mci.brokers.sim.limits import parse_rate_limits
    from mci.brokers.sim.universe import Instrument

    universe = [
        Instrument("INFY", 408065, 1594, "INFOSYS", D("1510.00")),
        Instrument(
            "NIFTY26NOVFUT", 13238786, 51714, "NIFTY", D("26000.00"), exchange="NFO", tick_size=D("0.10"), lot_size=75
        ),
    ]
    exchange = Exchange(
        tmp_path / "sim.db",
        SimClock(datetime.fromisoformat(AT), frozen=True),
        seed=7,
        capital=D("1000000"),
        universe=universe,
    )
    exchange.set_price("NSE", "INFY", D("1500.00"))
    exchange.set_price("NFO", "NIFTY26NOVFUT", D("26000.00"))
    server = serve(
        "127.0.0.1",
        0,
        exchange,
        api_key="sim-key",
        api_secret="sim-secret",
        rate_limits=parse_rate_limits("order=off,place=off"),
    )
    yield server
    server.shutdown()
    exchange.close()


def test_check_reads_instruments_and_last_prices_from_the_kite_simulator(mci, kite_sim):
    import requests

    url = kite_sim.url
    profile = str(ROOT / "profiles" / "kite-sim.yaml")
    env = {"KITE_API_KEY": "sim-key", "KITE_API_SECRET": "sim-secret", "MCI_SIM_URL": url, "MCI_AT": AT}
    login = requests.get(
        f"{url}/connect/login", params={"api_key": "sim-key", "v": 3}, allow_redirects=False, timeout=5
    )
    done = mci("token", "login", login.headers["Location"], "-p", profile, env=env)
    assert done.returncode == 0, done.stdout + done.stderr

    nifty = {
        "exchange": "NFO",
        "symbol": "NIFTY26NOVFUT",
        "product": "NRML",
        "price": "26000.00",
        "stop_loss": "25900.00",
        "target": "26200.00",
    }
    stream = (
        "\n".join(
            json.dumps(o)
            for o in [
                entry(**nifty, quantity=75),  # a lot of 75, on the ₹0.10 tick: only the simulator's CSV says so
                entry(**nifty, quantity=76),
                entry(**{**nifty, "price": "26000.05", "target": "26300.00"}, quantity=75),
                entry(price="1650.00", stop_loss="1630.00", target="1700.00"),  # +10% of the simulator's ₹1,500.00
                entry(price="1650.05", stop_loss="1630.00", target="1700.00"),
                entry(symbol="TCS"),  # not in this simulator's list
            ]
        )
        + "\n"
    )
    done = mci("risk", "check", "-", "-p", profile, "-o", "json", stdin=stream, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    verdicts = lines(done.stdout)
    assert [rule_names(v) for v in verdicts[:5]] == [[], ["lot_size"], ["tick_size"], [], ["price_band"]]
    assert verdicts[0]["facts"]["risk"] == "₹7,500.00"
    assert "₹1,500.00" in verdicts[4]["failures"][0]["what"]  # the simulator's last price
    assert set(rule_names(verdicts[5])) == {"unknown_symbol", "price_band"}
    assert "sim-secret" not in done.stdout + done.stderr
