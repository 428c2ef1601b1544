"""Signals a host can connect to, to react to changes to threads and messages.

The API and the admin send each once the change has committed (never for a
write that rolled back), with the model class as sender and these arguments:

- ``thread_created``, ``thread_updated``: ``thread``, ``request``
- ``thread_deleted``: ``thread`` (no longer in the database), ``request``
- ``message_created``, ``message_updated``: ``message``, ``request``
- ``message_deleted``: ``message`` (no longer in the database), ``request``

``thread_created`` is sent before the ``message_created`` of the messages it
was created with. A conversation is a thread and its items are messages
(``message.type`` tells which kind), so the Conversations API sends these too.
"""

from django.dispatch import Signal

thread_created = Signal()
thread_updated = Signal()
thread_deleted = Signal()
message_created = Signal()
message_updated = Signal()
message_deleted = Signal()
