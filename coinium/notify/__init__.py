"""Tooling notifications over ZeroMQ, as bitcoind publishes them.

`zmq_publisher.ZmqNotifier` is a chain and mempool listener that publishes the five bitcoind
topics (``hashblock``, ``hashtx``, ``rawblock``, ``rawtx``, ``sequence``) on PUB sockets, each
message three frames ``[topic, body, 4-byte little-endian sequence]``. `watch.watch_command` is
``coinium watch``: a subscriber that prints every notification and flags lost messages.
"""
