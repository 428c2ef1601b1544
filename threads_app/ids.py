"""Object IDs: a type prefix and 24 random characters, as OpenAI's were."""

import secrets
import string

ALPHABET = string.ascii_letters + string.digits
RANDOM_LENGTH = 24

THREAD_PREFIX = "thread"
MESSAGE_PREFIX = "msg"


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
    return prefix + "_" + "".join(chars[:RANDOM_LENGTH])


def new_thread_id() -> str:
    return new_id(THREAD_PREFIX)


def new_message_id() -> str:
    return new_id(MESSAGE_PREFIX)
