"""The daemon as a service: wiring, threads, signals, sd_notify, journald logging.

``daemon.Daemon`` builds every route's parts (``wiring`` makes the LivePerson clients), runs
their threads and the intake's ``step(now)``, takes the instance lock and reports to systemd
(``notify``). ``logs`` is the one-line, redacting log handler; ``status`` the STATUS= line and
the lock probe that ``syncd status`` uses. Imports everything below it; nothing imports it but
``cli`` and ``demo``.
"""
