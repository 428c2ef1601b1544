"""Deleting threads and messages, leaving a tombstone where each stood.

The API and the admin both delete through these functions, so a cursor naming
a deleted object keeps working whichever door the deletion came through.
Callers run them inside a transaction that holds the thread's row lock
(``select_for_update``), the same lock that serializes writes into a thread.
"""

from .models import Message, Thread, Tombstone


def delete_thread(thread: Thread) -> None:
    """Delete ``thread`` and its messages; keep its place among its owner's threads."""
    # The thread's own message tombstones go: no cursor can reach them now.
    Tombstone.objects.filter(container=thread.public_id).delete()
    Tombstone.objects.create(
        public_id=thread.public_id,
        container=Tombstone.owner_container(thread.owner_id),
        seq=thread.seq,
    )
    # Messages have no relations of their own, so Django deletes them with one
    # DELETE … WHERE thread_id = …, without loading them.
    thread.delete()


def delete_message(thread: Thread, message: Message) -> None:
    """Delete ``message`` of ``thread``; keep its place in the thread's list."""
    Tombstone.objects.create(
        public_id=message.public_id, container=thread.public_id, seq=message.seq
    )
    message.delete()
