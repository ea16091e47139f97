"""The daemon as a service: wiring, threads, signals, sd_notify, journald logging.

``daemon.Daemon`` builds every route's parts (``route_start``; ``wiring`` makes the LivePerson
clients), runs their threads and the intake's ``step(now)``, stops them (``route_stop``), takes
the instance lock and reports to systemd (``reporting``, ``notify``). ``logs`` is the one-line
log handler (``log_redaction`` keeps secrets out); ``status`` the STATUS= line and the lock
probe that ``syncd status`` uses. Imports everything below it; nothing imports it but
``cli`` and ``demo``.
"""
