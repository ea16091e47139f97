"""The inbound side: files agents send into a route's conversation land in its inbox.

``recorder`` records what arrives as inbound rows; ``receiver`` keeps the route's
conversation subscribed and downloads what was recorded;
``writer`` writes each file atomically under a fresh safe name, never replacing one.
"""
