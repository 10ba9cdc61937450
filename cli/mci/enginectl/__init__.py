"""Control of the trading engine a profile declares in `engine:` (start, health, pause, stop).

    control = EngineControl(profile, state_dir)
    info = control.start(token)          # idempotent: a live engine is returned, not started twice
    control.wait_healthy()               # UnavailableError with the probe and the log's tail
    control.pause()                      # stop accepting new operations
    control.stop()                       # TERM to the process group, KILL after the grace; confirmed gone

See control.py for the files it keeps in `<state_dir>/engines/`.
"""

from mci.enginectl.control import EngineControl
from mci.enginectl.info import EngineInfo, PauseInfo, StopInfo

__all__ = ["EngineControl", "EngineInfo", "PauseInfo", "StopInfo"]
