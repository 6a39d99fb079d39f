"""The client: ``connect()`` and its ``Session`` on websockets, and the SDK-shaped ``Client``."""
