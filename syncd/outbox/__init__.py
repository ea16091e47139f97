"""The outbound pipeline: from a scan in an outbox folder to a published ``hosted/file`` event.

``watcher`` notices entries (the only watchdog importer); ``intake`` settles, journals and
claims them; ``preparer`` runs the image step; ``sender`` uploads and publishes, FIFO per
route and exactly once; ``reconcile`` repairs the folders against the state at start-up;
``quarantine`` moves files into ``failed/``; ``retry`` puts failed files back.
"""
