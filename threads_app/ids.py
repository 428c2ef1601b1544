"""Object IDs: a type prefix, "_" and 24 random characters, as OpenAI's were.

The prefixes of every object are here, written without the separator;
:func:`id_start` gives what an ID of the type begins with. Items other than
messages have their prefixes beside their schemas, in ``items.ITEM_TYPES``.
"""

import secrets
import string

ALPHABET = string.ascii_letters + string.digits
RANDOM_LENGTH = 24
SEPARATOR = "_"
# Most characters an ID may have, prefix included: ours, a client's for its
# items, and those an import brings.
ID_MAX_LENGTH = 64

THREAD_PREFIX = "thread"
MESSAGE_PREFIX = "msg"
# A conversation is a thread under another name: conv_<S> is thread_<S>.
CONVERSATION_PREFIX = "conv"

# Every prefix, and every character after the separator, as regular expressions:
# what the API's checks and its OpenAPI document say an ID of any type looks like.
PREFIX_PATTERN = "[a-z]+"
ALPHABET_PATTERN = "[A-Za-z0-9]"


def id_start(prefix: str) -> str:
    """What every ID of the type ``prefix`` begins with: ``thread_`` for ``thread``."""
    return prefix + SEPARATOR


def id_pattern(prefix: str) -> str:
    """A pattern of the IDs of one type; ``prefix`` may be a pattern itself."""
    return "^" + id_start(prefix)


# The largest multiple of the alphabet's size that a byte can hold: bytes from
# it up are dropped, so that every character is equally likely.
UNBIASED_BYTES = 256 - 256 % len(ALPHABET)


def new_id(prefix: str) -> str:
    """Return a fresh ID of the given type; 24 characters of base62 carry 142 bits.

    The characters come from one read of the system's randomness, not one read
    each (``secrets.choice``): 24 reads were 6% of the instructions of creating
    a message (1.88 million; callgrind, bench/).
    """
    chars: list[str] = []
    while len(chars) < RANDOM_LENGTH:
        chars += [ALPHABET[byte % len(ALPHABET)]
                  for byte in secrets.token_bytes(RANDOM_LENGTH + 8) if byte < UNBIASED_BYTES]
    return id_start(prefix) + "".join(chars[:RANDOM_LENGTH])


def new_thread_id() -> str:
    return new_id(THREAD_PREFIX)


def new_message_id() -> str:
    return new_id(MESSAGE_PREFIX)


def conversation_id(thread_id: str) -> str:
    """The conversation ID of the thread ``thread_id``."""
    return id_start(CONVERSATION_PREFIX) + thread_id.removeprefix(id_start(THREAD_PREFIX))


def thread_id(conversation_id: str) -> str:
    """The thread ID of the conversation ``conversation_id``."""
    return id_start(THREAD_PREFIX) + conversation_id.removeprefix(id_start(CONVERSATION_PREFIX))
