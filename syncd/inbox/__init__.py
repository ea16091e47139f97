"""The inbound side: files agents send into a route's conversation land in its inbox.

``receiver`` keeps the route's conversation subscribed and downloads what arrives;
``writer`` writes each file atomically under a fresh safe name, never replacing one.
"""
