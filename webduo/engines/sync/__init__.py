"""The synchronous engine: HTTP/1.1 on the ``socket`` module alone.

Read it in this order: ``parser`` (sans-IO bytes -> requests or protocol errors), ``writer``
(response -> one ``bytes``), ``responder`` (request -> App -> bytes, nothing escapes),
``worker`` (one process: a selector loop moving bytes, blocking request handling), ``prefork``
(the master for ``--workers N``) and ``server`` (the listening socket and ``serve``).
"""
