"""System checks: the host's settings, its installed apps and its databases.

Every ID this module has ever used, with what it meant. IDs are never reused:
a retired check keeps its line here, marked retired.

    threads_app.E001  THREADS_APP is not a dict
    threads_app.E002  DEFAULT_PAGE_SIZE is not a positive integer
    threads_app.E003  MAX_PAGE_SIZE is not a positive integer
    threads_app.E004  DEFAULT_PAGE_SIZE is larger than MAX_PAGE_SIZE
    threads_app.E005  MAX_MESSAGES_PER_THREAD_CREATE is not an integer >= 0
    threads_app.E006  MAX_TEXT_LENGTH is not a positive integer
    threads_app.E007  AUTHENTICATION_CLASSES is not a non-empty list of dotted paths
    threads_app.E008  an AUTHENTICATION_CLASSES entry cannot be imported or cannot authenticate
    threads_app.E009  API_KEY_LAST_USED_INTERVAL is not an integer >= 0
    threads_app.E010  MAX_BODY_SIZE is not a positive integer
    threads_app.E011  IDEMPOTENCY_KEY_RETENTION is not a positive integer
    threads_app.E012  IDEMPOTENCY_IN_FLIGHT_TIMEOUT is not a positive integer
    threads_app.E013  THROTTLE_RATE is neither None nor a rate such as "100/min"
    threads_app.E014  THROTTLE_CACHE names no cache in CACHES
    threads_app.E015  an app the models depend on is missing from INSTALLED_APPS
    threads_app.E016  OWNER_FUNCTION is not the dotted path of an importable callable
    threads_app.E017  API_KEY_CACHE_SECONDS is not an integer >= 0
    threads_app.E018  MAX_ITEM_SIZE is not a positive integer
    threads_app.E019  MAX_PAGE_BYTES is not a positive integer
    threads_app.E020  REPLICA_DATABASES is not a list of DATABASES aliases other than the primary
    threads_app.E021  PRIMARY_DATABASE names no database in DATABASES
    threads_app.E022  REPLICA_CACHE names no cache in CACHES
    threads_app.E023  READ_YOUR_WRITES_SECONDS is not a positive integer
    threads_app.E024  replicas are set, and the primary or a replica is not PostgreSQL
    threads_app.E025  TOMBSTONE_RETENTION is neither None nor a positive integer
    threads_app.E026  the routers send our models to a database that is not SQLite or PostgreSQL
    threads_app.W001  THREADS_APP has a key that is no setting (a typo?)
    threads_app.W002  throttling counts in a cache that each process keeps for itself
    threads_app.W003  SQLite database without WAL journal
    threads_app.W004  SQLite database without IMMEDIATE transactions
    threads_app.W005  SQLite database with a busy timeout under 5 seconds
    threads_app.W006  replicas are set, and REPLICA_CACHE is kept by each process for itself
    threads_app.W007  replicas are set, and DATABASE_ROUTERS has no PrimaryReplicaRouter
    threads_app.W008  replicas are set, and MIDDLEWARE has no ReadYourWritesMiddleware

Nothing checks ``ATOMIC_REQUESTS``: our views open their own transactions,
which become savepoints inside a request-wide one, so either value is safe.
"""

import re
from collections.abc import Callable, Iterable
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import connections, router
from django.db.utils import ConnectionDoesNotExist
from django.utils.module_loading import import_string

from .conf import DEFAULTS

# Settings that must be integers, with their least value and the ID of their check.
INTEGER_SETTINGS: dict[str, tuple[int, str]] = {
    "DEFAULT_PAGE_SIZE": (1, "threads_app.E002"),
    "MAX_PAGE_SIZE": (1, "threads_app.E003"),
    # Zero is allowed: a host may refuse messages in `POST /threads` altogether.
    "MAX_MESSAGES_PER_THREAD_CREATE": (0, "threads_app.E005"),
    "MAX_TEXT_LENGTH": (1, "threads_app.E006"),
    "MAX_ITEM_SIZE": (1, "threads_app.E018"),
    "MAX_PAGE_BYTES": (1, "threads_app.E019"),
    # Zero writes `last_used_at` on every request.
    "API_KEY_LAST_USED_INTERVAL": (0, "threads_app.E009"),
    # Zero looks the key up on every request.
    "API_KEY_CACHE_SECONDS": (0, "threads_app.E017"),
    "MAX_BODY_SIZE": (1, "threads_app.E010"),
    "IDEMPOTENCY_KEY_RETENTION": (1, "threads_app.E011"),
    "IDEMPOTENCY_IN_FLIGHT_TIMEOUT": (1, "threads_app.E012"),
    "READ_YOUR_WRITES_SECONDS": (1, "threads_app.E023"),
}

# DRF reads a rate as a count, a slash, and a period of which only the first
# letter counts ("100/min", "5000/hour", "10/s").
RATE_PATTERN = re.compile(r"[1-9][0-9]*/[smhd][a-z]*")

# Caches whose content lives in one process only: counters kept there multiply
# the allowed rate by the number of workers (or, for the dummy cache, count nothing).
PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)

# Apps whose models ours point at: the owner is a user, and auth needs content types.
REQUIRED_APPS = ("django.contrib.auth", "django.contrib.contenttypes")

# Python's sqlite3 waits 5 seconds for a lock by default; a shorter wait turns
# writers queueing behind one another into "database is locked" errors.
SQLITE_MIN_BUSY_TIMEOUT = 5.0

SettingCheck = Callable[[dict[str, Any]], list[CheckMessage]]


def configured_settings() -> dict[str, Any] | None:
    """The host's ``THREADS_APP``, or None if it is not a dict."""
    value = getattr(settings, "THREADS_APP", None)
    if value is None:
        return {}
    return value if isinstance(value, dict) else None


def effective(configured: dict[str, Any], name: str) -> Any:
    return configured.get(name, DEFAULTS[name])


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_integers(configured: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name, (least, check_id) in INTEGER_SETTINGS.items():
        value = effective(configured, name)
        if not is_integer(value) or value < least:
            messages.append(
                Error(
                    f"THREADS_APP['{name}'] is {value!r}; it must be an integer of at "
                    f"least {least}.",
                    hint=f"Set it to an integer such as {DEFAULTS[name]!r} (the default), "
                    "or remove the key.",
                    id=check_id,
                )
            )
    return messages


def is_valid_integer(configured: dict[str, Any], name: str) -> bool:
    value = effective(configured, name)
    return is_integer(value) and value >= INTEGER_SETTINGS[name][0]


def check_page_sizes(configured: dict[str, Any]) -> list[CheckMessage]:
    default = effective(configured, "DEFAULT_PAGE_SIZE")
    largest = effective(configured, "MAX_PAGE_SIZE")
    both_valid = is_valid_integer(configured, "DEFAULT_PAGE_SIZE") and is_valid_integer(
        configured, "MAX_PAGE_SIZE"
    )
    if both_valid and default > largest:
        return [
            Error(
                f"THREADS_APP['DEFAULT_PAGE_SIZE'] ({default}) is larger than "
                f"THREADS_APP['MAX_PAGE_SIZE'] ({largest}).",
                hint="A list without `limit` would return more than a caller may ask for; "
                "lower DEFAULT_PAGE_SIZE or raise MAX_PAGE_SIZE.",
                id="threads_app.E004",
            )
        ]
    return []


def check_authentication_classes(configured: dict[str, Any]) -> list[CheckMessage]:
    value = effective(configured, "AUTHENTICATION_CLASSES")
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(item, str) for item in value)
    ):
        return [
            Error(
                f"THREADS_APP['AUTHENTICATION_CLASSES'] is {value!r}; it must be a "
                "non-empty list of dotted paths to DRF authentication classes.",
                hint="For example ['threads_app.authentication.APIKeyAuthentication'] (the "
                "default), or your site's own classes.",
                id="threads_app.E007",
            )
        ]
    messages: list[CheckMessage] = []
    for dotted_path in value:
        try:
            authentication_class = import_string(dotted_path)
        except ImportError as error:
            problem = f"cannot be imported ({error})"
        else:
            if callable(getattr(authentication_class, "authenticate", None)):
                continue
            problem = "has no authenticate() method"
        messages.append(
            Error(
                f"THREADS_APP['AUTHENTICATION_CLASSES'] names {dotted_path!r}, which {problem}.",
                hint="Give the full dotted path of a class with DRF's authentication "
                "interface (a subclass of rest_framework.authentication.BaseAuthentication).",
                id="threads_app.E008",
            )
        )
    return messages


def check_throttling(configured: dict[str, Any]) -> list[CheckMessage]:
    rate = effective(configured, "THROTTLE_RATE")
    cache_alias = effective(configured, "THROTTLE_CACHE")
    messages: list[CheckMessage] = []
    rate_is_valid = rate is None or (isinstance(rate, str) and RATE_PATTERN.fullmatch(rate))
    if not rate_is_valid:
        messages.append(
            Error(
                f"THREADS_APP['THROTTLE_RATE'] is {rate!r}; it must be None (no throttling) "
                "or a rate such as '100/min'.",
                hint="Write a positive count, a slash, and a period: s, min, hour or day.",
                id="threads_app.E013",
            )
        )
    if not isinstance(cache_alias, str) or cache_alias not in settings.CACHES:
        messages.append(
            Error(
                f"THREADS_APP['THROTTLE_CACHE'] is {cache_alias!r}, which names no cache "
                "in CACHES.",
                hint=f"Use one of {sorted(settings.CACHES)}, or add that cache to CACHES.",
                id="threads_app.E014",
            )
        )
    elif (
        rate is not None
        and rate_is_valid
        and settings.CACHES[cache_alias]["BACKEND"] in PER_PROCESS_CACHES
    ):
        messages.append(
            Warning(
                f"Throttling counts requests in the cache {cache_alias!r}, whose backend "
                f"keeps its content in each process; with N worker processes a key "
                "can make N times THROTTLE_RATE requests.",
                hint="Point THREADS_APP['THROTTLE_CACHE'] at a shared cache (Redis, "
                "Memcached or django.core.cache.backends.db.DatabaseCache).",
                id="threads_app.W002",
            )
        )
    return messages


def check_tombstone_retention(configured: dict[str, Any]) -> list[CheckMessage]:
    value = effective(configured, "TOMBSTONE_RETENTION")
    if value is None or (is_integer(value) and value >= 1):
        return []
    return [
        Error(
            f"THREADS_APP['TOMBSTONE_RETENTION'] is {value!r}; it must be None (keep "
            "tombstones for ever) or a number of seconds of at least 1.",
            hint=f"Set it to an integer such as {DEFAULTS['TOMBSTONE_RETENTION']!r} (30 days, "
            "the default), or None.",
            id="threads_app.E025",
        )
    ]


def check_owner_function(configured: dict[str, Any]) -> list[CheckMessage]:
    value = effective(configured, "OWNER_FUNCTION")
    problem = None
    if not isinstance(value, str):
        problem = "is not a dotted path"
    else:
        try:
            function = import_string(value)
        except ImportError as error:
            problem = f"cannot be imported ({error})"
        else:
            if not callable(function):
                problem = "is not callable"
    if problem is None:
        return []
    return [
        Error(
            f"THREADS_APP['OWNER_FUNCTION'] is {value!r}, which {problem}.",
            hint="Give the dotted path of a function that takes the request and returns "
            "the user who owns its threads; the default is "
            f"{DEFAULTS['OWNER_FUNCTION']!r}.",
            id="threads_app.E016",
        )
    ]


def names_a_subclass(dotted_paths: Any, base_path: str) -> bool:
    """Whether one of ``dotted_paths`` (or of the objects listed) is ``base_path`` or a subclass."""
    base = import_string(base_path)
    for entry in dotted_paths or ():
        try:
            found = import_string(entry) if isinstance(entry, str) else type(entry)
        except ImportError:
            continue
        if isinstance(found, type) and issubclass(found, base):
            return True
    return False


def check_replicas(configured: dict[str, Any]) -> list[CheckMessage]:
    replicas = effective(configured, "REPLICA_DATABASES")
    primary = effective(configured, "PRIMARY_DATABASE")
    cache_alias = effective(configured, "REPLICA_CACHE")
    if not isinstance(primary, str) or primary not in settings.DATABASES:
        return [Error(
            f"THREADS_APP['PRIMARY_DATABASE'] is {primary!r}, which names no database "
            "in DATABASES.",
            hint=f"Use one of {sorted(settings.DATABASES)}.",
            id="threads_app.E021",
        )]
    if (not isinstance(replicas, list | tuple)
            or not all(alias in settings.DATABASES and alias != primary for alias in replicas)):
        return [Error(
            f"THREADS_APP['REPLICA_DATABASES'] is {replicas!r}; it must be a list of aliases "
            "in DATABASES, of streaming replicas of PRIMARY_DATABASE.",
            hint="For example ['replica'], with DATABASES['replica'] pointing at the replica; "
            "[] (the default) reads from the primary only.",
            id="threads_app.E020",
        )]
    if not isinstance(cache_alias, str) or cache_alias not in settings.CACHES:
        return [Error(
            f"THREADS_APP['REPLICA_CACHE'] is {cache_alias!r}, which names no cache in CACHES.",
            hint=f"Use one of {sorted(settings.CACHES)}, or add that cache to CACHES.",
            id="threads_app.E022",
        )]
    if not replicas:
        return []
    messages: list[CheckMessage] = []
    engines = {alias: settings.DATABASES[alias].get("ENGINE") for alias in [primary, *replicas]}
    others = sorted(alias for alias, engine in engines.items()
                    if engine != "django.db.backends.postgresql")
    if others:
        messages.append(Error(
            f"Reads from replicas need PostgreSQL streaming replication; {others} "
            "is another database.",
            hint="Point PRIMARY_DATABASE and REPLICA_DATABASES at PostgreSQL, or set "
            "REPLICA_DATABASES to [].",
            id="threads_app.E024",
        ))
    if settings.CACHES[cache_alias]["BACKEND"] in PER_PROCESS_CACHES:
        messages.append(Warning(
            f"Where each client's last write ended is kept in the cache {cache_alias!r}, "
            "whose backend keeps its content in each process: a client's next request, "
            "answered by another worker, can read a replica that lacks its write.",
            hint="Point THREADS_APP['REPLICA_CACHE'] at a cache every worker shares (Redis, "
            "Memcached, the database cache, or a file-based cache on one machine).",
            id="threads_app.W006",
        ))
    if not names_a_subclass(settings.DATABASE_ROUTERS, "threads_app.routers.PrimaryReplicaRouter"):
        messages.append(Warning(
            "THREADS_APP['REPLICA_DATABASES'] is set, but no router reads from them.",
            hint="Add 'threads_app.routers.PrimaryReplicaRouter' to DATABASE_ROUTERS.",
            id="threads_app.W007",
        ))
    if not names_a_subclass(settings.MIDDLEWARE, "threads_app.routers.ReadYourWritesMiddleware"):
        messages.append(Warning(
            "Reads go to replicas, but nothing tells the router who wrote what: a client "
            "that writes and then reads in its next request can miss its own write.",
            hint="Add 'threads_app.routers.ReadYourWritesMiddleware' to MIDDLEWARE.",
            id="threads_app.W008",
        ))
    return messages


# Which check looks at which setting; a test holds this to every key of DEFAULTS.
SETTING_CHECKS: dict[str, SettingCheck] = {
    **{name: check_integers for name in INTEGER_SETTINGS},
    "AUTHENTICATION_CLASSES": check_authentication_classes,
    "OWNER_FUNCTION": check_owner_function,
    "TOMBSTONE_RETENTION": check_tombstone_retention,
    "THROTTLE_RATE": check_throttling,
    "THROTTLE_CACHE": check_throttling,
    "REPLICA_DATABASES": check_replicas,
    "PRIMARY_DATABASE": check_replicas,
    "REPLICA_CACHE": check_replicas,
}

# Checks that look at more than one setting run once, after the ones above.
CROSS_SETTING_CHECKS: tuple[SettingCheck, ...] = (check_page_sizes,)


def check_settings(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list:
    configured = configured_settings()
    if configured is None:
        return [
            Error(
                f"THREADS_APP is a {type(settings.THREADS_APP).__name__}; it must be a dict.",
                hint="Write THREADS_APP = {'DEFAULT_PAGE_SIZE': 20, ...}, or leave it out.",
                id="threads_app.E001",
            )
        ]
    messages: list[CheckMessage] = []
    for name in configured:
        if name not in DEFAULTS:
            messages.append(
                Warning(
                    f"THREADS_APP has the key {name!r}, which is no setting of threads_app; "
                    "it is ignored.",
                    hint=f"Check its spelling. The settings are: {', '.join(DEFAULTS)}.",
                    id="threads_app.W001",
                )
            )
    # Each check runs once however many settings it covers, in a stable order.
    for check in dict.fromkeys([*SETTING_CHECKS.values(), *CROSS_SETTING_CHECKS]):
        messages.extend(check(configured))
    return messages


def check_installed_apps(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list:
    return [
        Error(
            f"'{app}' is not in INSTALLED_APPS; threads_app's models need it.",
            hint=f"Add '{app}' to INSTALLED_APPS.",
            id="threads_app.E015",
        )
        for app in REQUIRED_APPS
        if app not in settings.INSTALLED_APPS
    ]


def our_database_aliases() -> list[str]:
    """The databases our models are read from and written to, as the routers decide."""
    from django.apps import apps

    aliases = []
    for model in apps.get_app_config("threads_app").get_models():
        try:
            routed = (router.db_for_read(model), router.db_for_write(model))
        except ConnectionDoesNotExist:
            continue  # a router naming an alias DATABASES lacks (E021 says which)
        for alias in routed:
            if alias not in aliases:
                aliases.append(alias)
    return aliases


def is_in_memory(name: Any) -> bool:
    text = str(name or "")
    return not text or text == ":memory:" or "mode=memory" in text


def sqlite_problems(alias: str, options: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    init_command = re.sub(r"\s+", "", str(options.get("init_command", ""))).lower()
    if "journal_mode=wal" not in init_command:
        messages.append(
            Warning(
                f"The SQLite database {alias!r} is not set to the WAL journal: every write "
                "blocks every reader, and concurrent requests fail with 'database is locked'.",
                hint="Add 'init_command': 'PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;' "
                "to its OPTIONS. (A file already converted stays in WAL; silence "
                "threads_app.W003 then.)",
                id="threads_app.W003",
            )
        )
    if str(options.get("transaction_mode", "")).upper() != "IMMEDIATE":
        messages.append(
            Warning(
                f"The SQLite database {alias!r} begins transactions DEFERRED: a transaction "
                "that reads and then writes can fail half-way with 'database is locked', "
                "and the write is lost.",
                hint="Add 'transaction_mode': 'IMMEDIATE' to its OPTIONS (Django 5.1+).",
                id="threads_app.W004",
            )
        )
    timeout = options.get("timeout", SQLITE_MIN_BUSY_TIMEOUT)
    if not isinstance(timeout, int | float) or timeout < SQLITE_MIN_BUSY_TIMEOUT:
        messages.append(
            Warning(
                f"The SQLite database {alias!r} waits {timeout!r} seconds for a lock: "
                "writers that queue longer fail with 'database is locked'.",
                hint="Set 'timeout': 20 in its OPTIONS.",
                id="threads_app.W005",
            )
        )
    return messages


def vendor_problems(alias: str) -> list[CheckMessage]:
    from .store.database import VENDORS

    try:
        vendor = connections[alias].vendor
    except ConnectionDoesNotExist:
        return []  # Django names the missing alias itself, at the first query
    if vendor in VENDORS:
        return []
    return [
        Error(
            f"The routers send threads_app's models to the database {alias!r}, which is "
            f"{vendor}; threads_app runs on SQLite and PostgreSQL only, and would answer "
            "every request with an error.",
            hint="Point DATABASE_ROUTERS (or DATABASES['default']) at a SQLite or PostgreSQL "
            "database for the app label 'threads_app'.",
            id="threads_app.E026",
        )
    ]


def check_databases(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list:
    messages: list[CheckMessage] = []
    for alias in our_database_aliases():
        messages.extend(vendor_problems(alias))
        config = settings.DATABASES.get(alias) or {}
        if config.get("ENGINE") != "django.db.backends.sqlite3" or is_in_memory(config.get("NAME")):
            # An in-memory database has one connection: no readers to block, no file.
            continue
        messages.extend(sqlite_problems(alias, config.get("OPTIONS") or {}))
    return messages


ALL_CHECKS: tuple[Callable[..., list], ...] = (
    check_settings,
    check_installed_apps,
    check_databases,
)
