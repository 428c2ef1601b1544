"""System checks: each ID fires on the configuration it names, and only then."""

from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from threads_app import checks
from threads_app.conf import DEFAULTS

SQLITE = "django.db.backends.sqlite3"
GOOD_SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
LOCAL_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SHARED_CACHE = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "t"},
}


def ids() -> list[str]:
    """The IDs our registered checks report under the current settings."""
    return [message.id for message in run_checks(tags=["threads_app"])]


def test_the_suite_settings_raise_nothing():
    assert ids() == []


def test_every_setting_has_a_check():
    assert set(checks.SETTING_CHECKS) == set(DEFAULTS)


def test_every_id_is_listed_in_the_module_comment():
    used = {
        word.strip("\"',.():")
        for line in Path(checks.__file__).read_text(encoding="utf-8").splitlines()
        for word in line.split()
        if word.strip("\"',.():").startswith("threads_app.")
        and word.strip("\"',.():")[12:13] in ("E", "W")
    }
    listed = {
        line.split()[0]
        for line in checks.__doc__.splitlines()
        if line.strip().startswith("threads_app.")
    }
    assert used == listed


@override_settings(THREADS_APP=[("DEFAULT_PAGE_SIZE", 10)])
def test_threads_app_must_be_a_dict():
    assert ids() == ["threads_app.E001"]


@override_settings(THREADS_APP={"DEFAULT_PAGE_SZE": 10})
def test_an_unknown_key_is_a_warning_naming_it():
    [message] = run_checks(tags=["threads_app"])
    assert message.id == "threads_app.W001" and "DEFAULT_PAGE_SZE" in message.msg
    assert "DEFAULT_PAGE_SIZE" in message.hint


@pytest.mark.parametrize("name", sorted(checks.INTEGER_SETTINGS))
def test_integer_settings_refuse_wrong_types_and_out_of_range(name):
    least, check_id = checks.INTEGER_SETTINGS[name]
    # Keep the page sizes apart so that E004 cannot join in.
    base = {"DEFAULT_PAGE_SIZE": 1, "MAX_PAGE_SIZE": 1000}
    for bad in ("20", 2.5, True, None, least - 1):
        with override_settings(THREADS_APP={**base, name: bad}):
            assert ids() == [check_id], bad
    with override_settings(THREADS_APP={**base, name: least}):
        assert ids() == []


@override_settings(THREADS_APP={"DEFAULT_PAGE_SIZE": 50, "MAX_PAGE_SIZE": 10})
def test_default_page_size_above_the_maximum():
    assert ids() == ["threads_app.E004"]


@pytest.mark.parametrize(
    "value", ["threads_app.authentication.APIKeyAuthentication", [], [42], None]
)
def test_authentication_classes_must_be_a_list_of_paths(value):
    with override_settings(THREADS_APP={"AUTHENTICATION_CLASSES": value}):
        assert ids() == ["threads_app.E007"]


def test_authentication_classes_must_import_and_authenticate():
    paths = [
        "threads_app.authentication.APIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "threads_app.nowhere.Authentication",
        "threads_app.models.Thread",
    ]
    with override_settings(THREADS_APP={"AUTHENTICATION_CLASSES": paths}):
        messages = run_checks(tags=["threads_app"])
    assert [m.id for m in messages] == ["threads_app.E008", "threads_app.E008"]
    assert "threads_app.nowhere.Authentication" in messages[0].msg
    assert "threads_app.models.Thread" in messages[1].msg


@pytest.mark.parametrize(
    "value", [None, "threads_app.ownership.nowhere", "threads_app.conf.DEFAULTS"]
)
def test_owner_function_must_be_an_importable_callable(value):
    with override_settings(THREADS_APP={"OWNER_FUNCTION": value}):
        assert ids() == ["threads_app.E016"]


@pytest.mark.parametrize("rate", ["100", "0/min", "ten/min", "100/week", 100, "100/min "])
def test_throttle_rate_must_be_a_rate(rate):
    with override_settings(THREADS_APP={"THROTTLE_RATE": rate}, CACHES=SHARED_CACHE):
        assert ids() == ["threads_app.E013"]


@pytest.mark.parametrize("rate", [None, "100/min", "5000/hour", "10/s", "1/day"])
def test_throttle_rate_accepts_what_drf_reads(rate):
    with override_settings(
        THREADS_APP={"THROTTLE_RATE": rate, "THROTTLE_CACHE": "shared"}, CACHES=SHARED_CACHE
    ):
        assert ids() == []


@override_settings(THREADS_APP={"THROTTLE_CACHE": "redis"}, CACHES=LOCAL_CACHE)
def test_throttle_cache_must_exist():
    assert ids() == ["threads_app.E014"]


def test_throttling_in_a_per_process_cache_is_a_warning():
    with override_settings(THREADS_APP={"THROTTLE_RATE": "100/min"}, CACHES=LOCAL_CACHE):
        assert ids() == ["threads_app.W002"]
    # Without a rate nothing is counted, so the cache does not matter.
    with override_settings(THREADS_APP={"THROTTLE_RATE": None}, CACHES=LOCAL_CACHE):
        assert ids() == []


def test_missing_contenttypes_app_is_an_error():
    # Changing INSTALLED_APPS rebuilds the app registry; run the check function
    # itself, since registration happened in the real registry.
    with override_settings(INSTALLED_APPS=["django.contrib.auth", "threads_app"]):
        messages = checks.check_installed_apps()
    assert [m.id for m in messages] == ["threads_app.E015"]
    assert "django.contrib.contenttypes" in messages[0].msg


def sqlite(options: dict | None, name: str = "site.sqlite3") -> dict:
    return {"default": {"ENGINE": SQLITE, "NAME": name, "OPTIONS": options or {}}}


# The connections were made from the original DATABASES; no test here queries.
database_override = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


@database_override
@pytest.mark.parametrize(
    "missing, expected",
    [
        ("init_command", "threads_app.W003"),
        ("transaction_mode", "threads_app.W004"),
    ],
)
def test_sqlite_without_wal_or_immediate_transactions(missing, expected):
    options = {k: v for k, v in GOOD_SQLITE_OPTIONS.items() if k != missing}
    with override_settings(DATABASES=sqlite(options)):
        assert ids() == [expected]


@database_override
@pytest.mark.parametrize("timeout, warned", [(0, True), (1.5, True), (5, False), (20, False)])
def test_sqlite_busy_timeout(timeout, warned):
    with override_settings(DATABASES=sqlite({**GOOD_SQLITE_OPTIONS, "timeout": timeout})):
        assert ids() == (["threads_app.W005"] if warned else [])


@database_override
def test_sqlite_with_default_options_gets_all_three_warnings_and_good_options_none():
    with override_settings(DATABASES=sqlite({"timeout": 1})):
        assert ids() == ["threads_app.W003", "threads_app.W004", "threads_app.W005"]
    with override_settings(DATABASES=sqlite(GOOD_SQLITE_OPTIONS)):
        assert ids() == []
    with override_settings(DATABASES=sqlite({}, name=":memory:")):
        assert ids() == []


class ArchiveRouter:
    """Sends threads_app to the 'archive' database."""

    def db_for_read(self, model, **hints):
        return "archive" if model._meta.app_label == "threads_app" else None

    db_for_write = db_for_read


@database_override
def test_only_the_databases_our_models_are_routed_to_are_checked():
    databases = {
        "default": sqlite({}, name="other.sqlite3")["default"],
        "archive": {"ENGINE": "django.db.backends.postgresql", "NAME": "archive"},
    }
    with override_settings(DATABASES=databases, DATABASE_ROUTERS=[f"{__name__}.ArchiveRouter"]):
        assert ids() == []
    databases["archive"] = sqlite({})["default"]
    with override_settings(DATABASES=databases, DATABASE_ROUTERS=[f"{__name__}.ArchiveRouter"]):
        messages = run_checks(tags=["threads_app"])
    assert [m.id for m in messages] == ["threads_app.W003", "threads_app.W004"]
    assert all("'archive'" in m.msg for m in messages)


class MySQLRouter:
    """Reads threads_app's models where Django would, writes API keys to the 'mysql' database
    (tests/settings.py), whose backend says it is MySQL and never connects."""

    def db_for_read(self, model, **hints):
        return None

    def db_for_write(self, model, **hints):
        return "mysql" if model._meta.model_name == "apikey" else None


def test_a_database_the_app_does_not_run_on_is_an_error():
    """Every model of the app is looked at, for reads and for writes, not only messages."""
    with override_settings(DATABASE_ROUTERS=[f"{__name__}.MySQLRouter"]):
        messages = run_checks(tags=["threads_app"])
    assert [m.id for m in messages] == ["threads_app.E026"]
    assert "'mysql'" in messages[0].msg and "is mysql" in messages[0].msg
    assert ids() == []  # the suite's own databases, once the router is gone


@pytest.mark.parametrize("value", ["2592000", 0, -1, 2.5, True, []])
def test_tombstone_retention_is_none_or_positive_seconds(value):
    with override_settings(THREADS_APP={"TOMBSTONE_RETENTION": value}):
        assert ids() == ["threads_app.E025"]


@pytest.mark.parametrize("value", [None, 1, 86400])
def test_tombstone_retention_accepts_none_and_seconds(value):
    with override_settings(THREADS_APP={"TOMBSTONE_RETENTION": value}):
        assert ids() == []


def test_every_setting_and_check_id_is_documented():
    page = (Path(__file__).resolve().parent.parent / "docs" / "settings.md").read_text()
    listed = {line.split()[0] for line in checks.__doc__.splitlines() if "threads_app." in line}
    for name in [*DEFAULTS, *listed]:
        assert f"`{name}`" in page, name


POSTGRES = "django.db.backends.postgresql"
# A site that reads from a replica as docs/scaling.md sets it up.
REPLICA_SITE = {
    "DATABASES": {"default": {"ENGINE": POSTGRES, "NAME": "threads"},
                  "replica": {"ENGINE": POSTGRES, "NAME": "threads", "PORT": 5433}},
    "DATABASE_ROUTERS": ["threads_app.routers.PrimaryReplicaRouter"],
    "MIDDLEWARE": ["threads_app.routers.ReadYourWritesMiddleware"],
    "CACHES": SHARED_CACHE,
    "THREADS_APP": {"REPLICA_DATABASES": ["replica"], "REPLICA_CACHE": "shared"},
}


@database_override
def test_a_site_with_a_replica_as_documented_raises_nothing():
    with override_settings(**REPLICA_SITE):
        assert ids() == []


@pytest.mark.parametrize("changes, expected", [
    ({"REPLICA_DATABASES": ["nowhere"]}, "threads_app.E020"),
    ({"REPLICA_DATABASES": "replica"}, "threads_app.E020"),
    ({"REPLICA_DATABASES": ["default"]}, "threads_app.E020"),
    ({"PRIMARY_DATABASE": "primary"}, "threads_app.E021"),
    ({"REPLICA_CACHE": "nowhere"}, "threads_app.E022"),
    ({"REPLICA_CACHE": "default"}, "threads_app.W006"),
])
@database_override
def test_replica_settings(changes, expected):
    with override_settings(**{**REPLICA_SITE,
                              "THREADS_APP": {**REPLICA_SITE["THREADS_APP"], **changes}}):
        assert ids() == [expected]


@pytest.mark.parametrize("changes, expected", [
    ({"DATABASES": {**REPLICA_SITE["DATABASES"],
                    "replica": {"ENGINE": "django.db.backends.mysql", "NAME": "threads"}}},
     "threads_app.E024"),
    ({"DATABASE_ROUTERS": []}, "threads_app.W007"),
    ({"MIDDLEWARE": []}, "threads_app.W008"),
])
@database_override
def test_a_replica_needs_postgresql_the_router_and_the_middleware(changes, expected):
    with override_settings(**{**REPLICA_SITE, **changes}):
        assert ids() == [expected]
