"""Real files in tmp_path for the config tests: a repository with profiles/ and rules/ side by side."""

from __future__ import annotations

from pathlib import Path

from testing import ROOT as REPO

# Line numbers matter: tests assert file:line:column against this text.
PROFILE = """\
version: 1
name: t
broker:
  kind: paper
  capital: 1000000
risk:
  max_risk_per_trade: 2%
  max_daily_loss: 6%
  max_drawdown: 15%
  max_position_loss: 5%
  max_open_positions: 5
  min_risk_reward: 2.0
  price_band: 10%
breakers:
  broker: {fail_max: 5, reset_timeout: 60s}
scan:
  use: scanner/mini
  max_age: 15m
"""

MINI = """\
version: 1
kind: checklist
name: mini
checks:
  - id: token_validity
    kind: token.validity
  - id: balance
    kind: account.balance
    needs: [token_validity]
    params: {min_available: 50000}
    breaker: broker
  - id: hours
    kind: market.hours
    params: {pre_open: "09:00", open: "09:15", close: 15:30}
"""


class Repo:
    def __init__(self, root: Path):
        self.root = root
        (root / "profiles").mkdir()
        (root / "rules" / "scanner").mkdir(parents=True)
        self.rule("scanner/mini", MINI)
        shipped = REPO / "rules" / "scanner" / "twelve-point.yaml"
        if shipped.exists():
            self.rule("scanner/twelve-point", shipped.read_text(encoding="utf-8"))
        else:  # the other engineer's file has not landed: a stand-in, never written to rules/
            self.rule("scanner/twelve-point", MINI.replace("name: mini", "name: twelve-point"))

    def rule(self, name: str, text: str) -> Path:
        path = self.root / "rules" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def profile(self, text: str = PROFILE, name: str = "p.yaml") -> Path:
        path = self.root / "profiles" / name
        path.write_text(text, encoding="utf-8")
        return path
