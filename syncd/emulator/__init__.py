"""A faithful local LivePerson, served by aiohttp on one port (HTTP and WebSocket).

Services: Domain API (CSDS), IdP signup, the consumer Messaging Window API WebSocket (``v=3``),
the Swift temp-URL object store, admin login, account-config site settings, and the
``/_emulator/`` control API with an agent console page. Start it with
``syncd.emulator.server.start_emulator(EmulatorSettings(...))`` or ``syncd emulator``.

Modules: ``settings`` (settings, limits), ``tokens`` (JWT), ``tempurl`` (Swift signatures),
``model`` (conversations, sequences), ``subscriptions`` (ExConversation filters), ``events``
(publish validation), ``objects`` (object store), ``site_settings`` (logins, properties),
``faults`` (seeded fault knobs), ``hub`` (fan-out of changes), ``core`` (shared state and
URL signing), ``agent`` (the emulated agent), ``consumer_requests`` (request handlers),
``consumer_ws`` (socket lifecycle; no ordering promise), ``domain_routes``, ``admin_routes``,
``swift_routes``, ``control_routes``, ``console`` and ``console_assets`` (the agent console
page), ``routing``, ``agent_hub``, ``agent_requests``, ``agent_socket`` and ``agent_frames``
(the agent's own Messaging API: rings, notifications, requests), ``server`` (app wiring,
thread runner, auto-close, the ring clock) and ``command`` / ``command_knobs`` (CLI).

Choices made where LivePerson is undocumented (protocol.md §12); each is repeated in the
module that implements it:

1. File-sharing refusals (disabled, oversize, bad type), a second open conversation, unknown or
   foreign dialogs, publishing to a closed dialog and a never-uploaded ``relativePath`` all get
   code 400 with a short string body and type ``StringResponse``.
2. A bad, foreign or expired JWT in the header or path is refused with HTTP 401 at the upgrade;
   a token that expires on an open socket closes it with 4401 (4407 for an anonymous
   consumer); a socket that neither brought a token nor sent ``InitConnection`` within 5 s
   is closed with 4401. ``v`` must be 3 (else 400).
3. Response types: ``GetClockResponse``, ``KeepAliveResponse``, ``cm.RequestConversationResponse``,
   ``cqm.SubscribeExConversationsResponse``, ``GenericSubscribeResponse``,
   ``ms.PublishEventResponse``, ``ms.GenerateURLResponse``, ``StringResponse``.
4. The upload size limit is 3 MiB (3,145,728 bytes); storage objects are not checked against
   the declared size or type, and downloads return the uploaded bytes unchanged.
5. Download URLs are refused with 404 for paths that hold no object, and are given for any
   object of the account (not only the consumer's own conversations).
6. Idle sockets are dropped without a close frame (clients see 1006); binary frames close with
   1003 and frames that are not JSON requests with 1008.
7. ``ExConversationChangeNotification`` DELETE changes carry only ``result.convId``.
8. Replays are sent in notifications of up to 20 changes, right behind the response, unless
   the ``history_delay_ms`` knob sends them late, split, shuffled and partly repeated.
9. Site settings: ``If-Match`` absent → unconditional; boolean properties have ``type`` 1.
10. The IdP signs HS256 (LivePerson: RS256) with a per-emulator secret.
11. The agent accepts each conversation as it is requested (``agent_accept = "auto"``) or
    on the console (``manual``); it resumes a closed conversation by sending into it, and
    ``auto_close_seconds`` closes conversations (closeReason SYSTEM) after consumer
    inactivity. The ExConversation UPSERT carries ``lastContentEventNotification``.
12. ``participant_ids = "distinct"`` gives the consumer an ``originatorId`` unlike its JWT
    ``sub``.
13. A ring of the agent API turns EXPIRED after ``ring_timeout_seconds`` (72 s, as in
    LivePerson's example rings); an expired or rejected ring leaves the conversation waiting
    and it rings again after ``ring_pause_seconds`` (``routing.py``).
"""
