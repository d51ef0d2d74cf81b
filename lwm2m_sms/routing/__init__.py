"""MSISDN routing: per-endpoint binding, queue mode, the SMS wake-up trigger, and trust.

``binding``, ``presence``, ``queue`` and ``trust`` are sans-IO (the queue keeps its state in
SQLite); ``router`` is the asyncio part that sits between the LwM2M server core and the
aiocoap context and decides, per request, which bearer it goes on and when.
"""
