"""Queries per request on the hot paths, authentication included.

With its API key remembered by the process (see authentication.py), a page
costs one query whatever its size or depth; retrieving a message costs one,
and so does creating one: the key is confirmed inside that query. A process's
first request with a key costs one more, the lookup. Other writes are counted
as statements, without the BEGIN and COMMIT that frame their transaction.
"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from threads_app.authentication import APIKeyAuthentication
from threads_app.models import APIKey, Message, Thread
from threads_app.store import keys, messages, threads

from .conftest import url
from .test_api import make_thread, post

pytestmark = pytest.mark.django_db

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries
            if not q["sql"].upper().startswith(TRANSACTION_CONTROL)]


def count(api, method: str, path: str, body=None, status: int = 200) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        if body is None:
            response = getattr(api, method)(path)
        else:
            response = post(api, path, body)
    assert response.status_code == status, response.content
    return statements(captured)


@pytest.fixture
def long_thread(api, user):
    """A thread of 150 messages, and a warm API key (remembered, its `last_used_at` written)."""
    thread = Thread.objects.create(owner=user)
    now = timezone.now()
    Message.objects.bulk_create(
        Message(thread=thread, role="user", created_at=now, completed_at=now,
                content=[{"type": "text", "text": {"value": str(i), "annotations": []}}])
        for i in range(150)
    )
    api.get(url("thread-detail", thread_id=thread.public_id))
    ids = list(Message.objects.filter(thread=thread).values_list("public_id", flat=True))
    return thread.public_id, ids


@pytest.mark.parametrize("limit", [1, 20, 100])
def test_a_page_is_one_query_at_any_size(api, long_thread, limit):
    thread_id, ids = long_thread
    path = url("message-list", thread_id=thread_id) + f"?limit={limit}"
    assert len(count(api, "get", path)) == 1
    deep = path + f"&after={ids[75]}&before={ids[10]}"
    assert len(count(api, "get", deep)) == 1


def test_the_first_request_with_a_key_looks_it_up(api, long_thread, settings):
    APIKeyAuthentication.remembered.by_digest.clear()
    path = url("message-list", thread_id=long_thread[0])
    lookup, page = count(api, "get", path)
    assert "threads_app_apikey" in lookup
    assert len(count(api, "get", path)) == 1


STATEMENTS = (messages.message_page_sql, messages.message_sql, threads.thread_sql,
              messages.insert_message_sql, keys.usable_key_sql, keys.find_key_sql)


def misses() -> dict[str, int]:
    """How often each of the store's statements had its SQL text built."""
    return {statement.__name__: statement.cache_info().misses for statement in STATEMENTS}


@pytest.mark.parametrize("remembered", [True, False])
def test_list_and_retrieve_build_their_sql_once(api, long_thread, settings, remembered):
    """Whether the key is remembered or looked up on every request (cache off), the second
    request of a shape builds no SQL text: it runs what the first built (threads_app/store/)."""
    if not remembered:
        settings.THREADS_APP = {"API_KEY_CACHE_SECONDS": 0}
        APIKeyAuthentication.remembered.by_digest.clear()
    thread_id, ids = long_thread
    paths = [
        url("message-list", thread_id=thread_id) + "?limit=20",
        url("message-list", thread_id=thread_id) + f"?limit=20&after={ids[75]}",
        url("message-detail", thread_id=thread_id, message_id=ids[3]),
        url("thread-detail", thread_id=thread_id),
    ]
    for path in paths:
        assert api.get(path).status_code == 200
    assert post(api, url("message-list", thread_id=thread_id), {"role": "user", "content": "x"})
    built = misses()
    for path in paths:
        assert api.get(path).status_code == 200
    assert post(api, url("message-list", thread_id=thread_id), {"role": "user", "content": "x"})
    assert misses() == built


def test_a_key_looked_up_on_every_request_is_one_query_of_sql_built_once(
    api, long_thread, settings
):
    """With the key cache off, each request looks its key up (with its user) in one query,
    which runs the store's SQL: built for the first lookup, then reused."""
    settings.THREADS_APP = {"API_KEY_CACHE_SECONDS": 0}
    APIKeyAuthentication.remembered.by_digest.clear()
    path = url("message-list", thread_id=long_thread[0])
    assert len(count(api, "get", path)) == 2
    before = keys.find_key_sql.cache_info()
    lookup, page = count(api, "get", path)
    assert "threads_app_apikey" in lookup and "auth_user" in lookup
    after = keys.find_key_sql.cache_info()
    assert (after.misses, after.hits) == (before.misses, before.hits + 1)


def test_a_remembered_key_is_confirmed_by_sql_built_once(api):
    """Endpoints that confirm the key with a query of its own run the store's, built once."""
    api.post(url("thread-list"), {}, format="json")
    path = url("thread-list")
    assert api.get(path).status_code == 200
    built = keys.usable_key_sql.cache_info().misses
    with CaptureQueriesContext(connection) as captured:
        assert api.get(path).status_code == 200
    assert any("threads_app_apikey" in sql for sql in statements(captured))
    assert keys.usable_key_sql.cache_info().misses == built


def test_the_cursor_is_resolved_inside_the_page_query(api, long_thread):
    thread_id, ids = long_thread
    queries = count(api, "get", url("message-list", thread_id=thread_id) + f"?after={ids[75]}")
    page_query = queries[-1]
    assert ids[75] in page_query and "threads_app_tombstone" in page_query


def test_an_empty_page_costs_one_more_query(api, long_thread):
    thread_id, ids = long_thread
    path = url("message-list", thread_id=thread_id) + f"?order=asc&after={ids[-1]}"
    assert len(count(api, "get", path)) == 4  # the key, the thread, then the cursor, checked
    empty_thread = make_thread(api)["id"]
    assert len(count(api, "get", url("message-list", thread_id=empty_thread))) == 3


def test_a_missing_thread_or_cursor_costs_the_checks_only(api, long_thread):
    thread_id, _ = long_thread
    missing = url("message-list", thread_id="thread_" + "x" * 24)
    assert len(count(api, "get", missing, status=404)) == 3
    unknown = url("message-list", thread_id=thread_id) + "?after=msg_" + "x" * 24
    assert len(count(api, "get", unknown, status=400)) == 4


def test_retrieve_message_is_one_query(api, long_thread):
    thread_id, ids = long_thread
    path = url("message-detail", thread_id=thread_id, message_id=ids[3])
    assert len(count(api, "get", path)) == 1


def test_retrieve_thread_is_one_query(api, long_thread):
    """The thread is found and the remembered key confirmed in one statement."""
    thread_id, _ = long_thread
    path = url("thread-detail", thread_id=thread_id)
    assert api.get(path).status_code == 200  # the key is remembered from here on
    queries = count(api, "get", path)
    assert len(queries) == 1
    assert "threads_app_apikey" in queries[0] and "threads_app_thread" in queries[0]


def test_create_message_is_one_statement(api, long_thread):
    """The thread is found (and locked, on PostgreSQL) and the key confirmed by the INSERT
    itself: no BEGIN, no COMMIT."""
    thread_id, _ = long_thread
    with CaptureQueriesContext(connection) as captured:
        response = post(api, url("message-list", thread_id=thread_id),
                        {"role": "user", "content": "hello"})
    assert response.status_code == 200, response.content
    queries = [q["sql"] for q in captured.captured_queries]
    assert len(queries) == 1
    insert = queries[0]
    assert insert.startswith("WITH") and "INSERT INTO" in insert
    assert "threads_app_thread" in insert
    assert "threads_app_apikey" in insert


def test_create_message_in_a_missing_thread_writes_nothing(api, long_thread):
    missing = url("message-list", thread_id="thread_" + "x" * 24)
    before = Message.objects.count()
    assert len(count(api, "post", missing, {"role": "user", "content": "x"}, status=404)) == 3
    assert Message.objects.count() == before


def test_create_thread_inserts_its_messages_in_one_statement(api, long_thread):
    messages = [{"role": "user", "content": str(i)} for i in range(10)]
    queries = count(api, "post", url("thread-list"), {"messages": messages})
    assert len(queries) <= 3


def test_list_threads_is_one_query(api, long_thread):
    make_thread(api)
    assert len(count(api, "get", url("thread-list"))) == 2


def test_the_key_is_written_at_most_once_per_interval(api, long_thread):
    """`last_used_at` is written when a process looks the key up, if it is older than that."""
    thread_id, _ = long_thread
    APIKey.objects.update(last_used_at=timezone.now() - timedelta(hours=1))
    path = url("message-list", thread_id=thread_id)
    APIKeyAuthentication.remembered.by_digest.clear()
    assert [len(count(api, "get", path)) for _ in range(2)] == [3, 1]
    APIKeyAuthentication.remembered.by_digest.clear()  # another process, say
    assert len(count(api, "get", path)) == 2


def test_the_lean_read_path_answers_what_the_model_path_does(api, user):
    """List and retrieve build messages from rows and stored JSON text; create from instances."""
    thread_id = make_thread(api)["id"]
    body = {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "ünïcode \u2028 and \"quotes\""},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ],
        "attachments": [{"file_id": "file_1", "tools": [{"type": "file_search"}]}],
        "metadata": {"b": "2", "a": "1"},
    }
    created = post(api, url("message-list", thread_id=thread_id), body).json()
    listed = api.get(url("message-list", thread_id=thread_id)).json()["data"]
    retrieved = api.get(url("message-detail", thread_id=thread_id, message_id=created["id"]))
    assert listed == [created]
    assert retrieved.json() == created
    assert list(retrieved.json()["metadata"]) == ["b", "a"]  # as written, not re-sorted


def test_ids_are_found_by_their_unique_index_alone():
    """No pattern index is kept up beside a unique one (migration 0004): equality needs none."""
    if connection.vendor != "postgresql":
        pytest.skip("Django adds pattern indexes on PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename LIKE 'threads\\_app\\_%%' "
            "AND indexdef LIKE '%%varchar_pattern_ops%%'"
        )
        assert cursor.fetchall() == []
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned
        # Unique within its thread (migration 0005), led by the ID: a probe by ID alone.
        assert "threads_app_message_id" in (
            Message.objects.filter(public_id="msg_x").explain()
        )
        assert "threads_app_thread_public_id_key" in (
            Thread.objects.filter(public_id="thread_x").explain()
        )


@pytest.fixture
def never_analyzed(db):
    """Empty copies of the thread and message tables that shadow the real ones for this test.

    A temporary table comes first on PostgreSQL's search path, has no statistics until
    ANALYZE, and is never analyzed by autovacuum: a fresh database's tables, whatever
    other tests (or autovacuum) did to the real ones. Dropped at the end of the test's
    transaction.
    """
    if connection.vendor != "postgresql":
        pytest.skip(
            "PostgreSQL's plans follow its statistics, and a table never analyzed has none; "
            "SQLite plans without statistics unless ANALYZE wrote sqlite_stat1"
        )
    with connection.cursor() as cursor:
        for table in (Thread._meta.db_table, Message._meta.db_table):
            cursor.execute(
                f"CREATE TEMPORARY TABLE {table} "
                f"(LIKE public.{table} INCLUDING ALL EXCLUDING INDEXES) ON COMMIT DROP"
            )
            # The real table's indexes, under their own names.
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' "
                           "AND tablename = %s", [table])
            for (definition,) in cursor.fetchall():
                cursor.execute(definition.replace(" ON public.", " ON pg_temp.", 1))
    yield


def plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def page_query(api, path: str, table: str) -> str:
    """The SQL of the query that read the page of ``path``, as sent."""
    with CaptureQueriesContext(connection) as captured:
        response = api.get(path)
    assert response.status_code == 200, response.content
    assert len(response.json()["data"]) == 20
    return next(q["sql"] for q in captured.captured_queries
                if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"])


def test_a_page_is_read_in_index_order_with_or_without_statistics(api, user, never_analyzed):
    """A page of a large thread, and of a caller's many threads, is an index scan of the
    (partition, seq) index with no sort, before and after ANALYZE: never the whole
    thread fetched and sorted (20 ms for a page of 5,855 messages, against 0.8 ms)."""
    now = timezone.now()
    threads = Thread.objects.bulk_create(Thread(owner=user) for _ in range(6000))
    others = Thread.objects.bulk_create(
        Thread(owner=get_user_model().objects.create_user(f"other{i}")) for i in range(50)
    )
    big = threads[0]
    Message.objects.bulk_create(
        (Message(thread=big, role=("user", "assistant")[i % 2], created_at=now,
                 completed_at=now, content=[{"type": "text", "text": {"value": str(i),
                                                                      "annotations": []}}])
         for i in range(6000)),
        batch_size=1000,
    )
    Message.objects.bulk_create(
        (Message(thread=thread, role="user", created_at=now, completed_at=now, content=[])
         for thread in [*threads[1:200], *others] for _ in range(3)),
        batch_size=1000,
    )
    ids = list(Message.objects.filter(thread=big).order_by("seq")
               .values_list("public_id", flat=True))
    thread_ids = [t.public_id for t in threads]
    messages = url("message-list", thread_id=big.public_id)
    pages = {
        messages: Message._meta.db_table,
        messages + "?order=asc": Message._meta.db_table,
        messages + f"?after={ids[3000]}": Message._meta.db_table,
        messages + f"?order=asc&before={ids[3000]}": Message._meta.db_table,
        messages + f"?after={ids[4000]}&before={ids[100]}": Message._meta.db_table,
        url("thread-list"): Thread._meta.db_table,
        url("thread-list") + f"?order=asc&after={thread_ids[10]}": Thread._meta.db_table,
    }
    indexes = {Message._meta.db_table: "threads_app_message_view",
               Thread._meta.db_table: "threads_app_thread_owner"}
    for analyzed in (False, True):
        if analyzed:
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {Thread._meta.db_table}, {Message._meta.db_table}")
        for path, table in pages.items():
            shown = plan(page_query(api, path, table))
            # The page's own scan; the cursor's lookups read the table under an alias.
            read = [line for line in shown.splitlines() if f" on {table}  (" in line]
            assert len(read) == 1 and "Index Scan" in read[0], (analyzed, path, shown)
            assert f"using {indexes[table]} " in read[0], (analyzed, path, shown)
            if table == Message._meta.db_table and ("after=" in path or "before=" in path):
                # The scan starts at the cursor: a bound on seq is a key of the index scan,
                # not a filter (it read from the thread's end to the cursor before).
                scan = shown.splitlines()[shown.splitlines().index(read[0]) + 1]
                assert re.search(r"Index Cond: .*\(seq [<>] ", scan), (analyzed, path, shown)
            # A cursor's probe by its ID may be a bitmap scan of the (ID, thread) index: it
            # reads the one row the ID names. Nothing is sorted, and the page is not a bitmap.
            assert "Sort" not in shown, (analyzed, path, shown)
            probes = [line for line in shown.splitlines() if "Bitmap" in line]
            assert all("Bitmap Index Scan on threads_app_message_id " in line
                       or re.search(rf"Bitmap Heap Scan on {table} \w+ ", line)
                       for line in probes), (analyzed, path, shown)
