"""The stderr sink is added on the first record stderr shows (issue 19: a scan that only logs INFO to the file
does not pay for it), and then every such record reaches stderr, whichever way it was logged."""

from __future__ import annotations

import logging

from testing.observability import log_lines


def test_stderr_gets_its_records_however_they_come_the_file_gets_all(mci_home, capsys):
    from mci.observability import logs

    logs.set_verbosity(0, False)
    logs.event("INFO", "only in the file")
    assert logs._stderr_handler is None and capsys.readouterr().err == ""

    logging.getLogger("mci.watch").warning("a stdlib warning")  # the first record stderr shows
    logs.event("WARNING", "an mci warning")
    logs.event("DEBUG", "below stderr")
    logs.get().error("a direct error")
    err = capsys.readouterr().err
    assert "a stdlib warning" in err and "an mci warning" in err and "a direct error" in err
    assert "only in the file" not in err and "below stderr" not in err
    assert err.count("an mci warning") == 1  # one stderr sink, never two

    logs.set_verbosity(1, False)  # -v: configured again, and INFO is now shown
    logs.event("INFO", "now shown")
    assert "now shown" in capsys.readouterr().err
    messages = [line["message"] for line in log_lines(mci_home)]
    for message in (
        "only in the file",
        "a stdlib warning",
        "an mci warning",
        "below stderr",
        "a direct error",
        "now shown",
    ):
        assert message in messages
    logs.set_verbosity(0, False)
