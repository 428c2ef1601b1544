"""Object IDs: OpenAI's shape, unique, and every character equally likely."""

from collections import Counter

from threads_app.ids import ALPHABET, RANDOM_LENGTH, new_message_id, new_thread_id


def test_ids_have_openai_shape():
    for make, prefix in ((new_thread_id, "thread_"), (new_message_id, "msg_")):
        object_id = make()
        assert object_id.startswith(prefix)
        random_part = object_id.removeprefix(prefix)
        assert len(random_part) == RANDOM_LENGTH and set(random_part) <= set(ALPHABET)


def test_ids_are_unique_and_characters_uniform():
    ids = [new_message_id().removeprefix("msg_") for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    counts = Counter("".join(ids))
    assert set(counts) == set(ALPHABET)
    # 120,000 characters over 62: about 1935 each, with a standard deviation near 44.
    # A byte taken modulo 62 without dropping the top 8 values would give the first
    # eight characters a quarter more (5 byte values to 4), about 400 each.
    expected = len(ids) * RANDOM_LENGTH / len(ALPHABET)
    assert all(abs(count - expected) < 5 * 44 for count in counts.values()), counts
