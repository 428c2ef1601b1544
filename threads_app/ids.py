"""Object IDs: a type prefix and 24 random characters, as OpenAI's were."""

import secrets
import string

ALPHABET = string.ascii_letters + string.digits
RANDOM_LENGTH = 24

THREAD_PREFIX = "thread"
MESSAGE_PREFIX = "msg"


def new_id(prefix: str) -> str:
    """Return a fresh ID of the given type; 24 characters of base62 carry 142 bits."""
    return prefix + "_" + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))


def new_thread_id() -> str:
    return new_id(THREAD_PREFIX)


def new_message_id() -> str:
    return new_id(MESSAGE_PREFIX)
