"""The LivePerson client, consumer side of the Messaging Window API.

``protocol`` is sans-IO (frames in, values out); ``session`` is the only websocket-client
importer and ``http`` the only requests importer; ``domains`` resolves services through CSDS;
``identity`` gets and keeps the route's consumer token; ``consumer_link`` keeps one connected,
subscribed socket per route; ``consumer`` is the API the outbox and inbox use; ``storage``
PUTs and GETs Swift temp URLs; ``admin`` logs in and sets the file-sharing site setting.
"""
