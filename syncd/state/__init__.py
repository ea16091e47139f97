"""The state database, and the only SQL: every file's journey as committed transitions.

``store.StateStore`` is the one entry point (open, lock, migrate, transactions); ``schema``
holds the tables and migrations; ``model`` the row types and states; ``outbound``,
``inbound`` and ``routes`` the records of each table; ``base`` what they share; ``files``
the database's path rules (lock file name, permissions).
"""
