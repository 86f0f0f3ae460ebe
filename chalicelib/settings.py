"""Every environment variable the service reads, in one place.

Values are read lazily, on first use inside a request, never at import:
Chalice's test client applies a stage's environment only while a request
runs, and a cold start should not pay for settings it does not need.
A required variable that is missing or malformed raises
``SettingsError`` naming it.
"""
import os

TABLE_NAME = "LOG_TABLE_NAME"
RETENTION_DAYS = "LOG_RETENTION_DAYS"
SERVICE_SHARDS = "SERVICE_SHARDS"
TIMELINE_SHARDS = "TIMELINE_SHARDS"
SEVERITY_SHARDS = "SEVERITY_SHARDS"
CURSOR_KEY = "CURSOR_SIGNING_KEY"
CURSOR_KEY_PREVIOUS = "CURSOR_SIGNING_KEY_PREVIOUS"
CURSOR_KEY_PARAMETER = "CURSOR_KEY_PARAMETER"
SHARD_KEY = "SHARD_KEY"
SHARD_KEY_PARAMETER = "SHARD_KEY_PARAMETER"
WRITE_MAX_ATTEMPTS = "WRITE_MAX_ATTEMPTS"
STORAGE_READ_TIMEOUT_S = "STORAGE_READ_TIMEOUT_S"
ARCHIVE_BUCKET = "ARCHIVE_BUCKET"

# Every variable the API function reads. Tests compare this with what the
# stage config and Terraform pass to it.
ALL = (
    TABLE_NAME,
    RETENTION_DAYS,
    SERVICE_SHARDS,
    TIMELINE_SHARDS,
    SEVERITY_SHARDS,
    CURSOR_KEY,
    CURSOR_KEY_PREVIOUS,
    CURSOR_KEY_PARAMETER,
    SHARD_KEY,
    SHARD_KEY_PARAMETER,
    WRITE_MAX_ATTEMPTS,
    STORAGE_READ_TIMEOUT_S,
)
# What only the archive function reads (every function of a stage gets ``ALL``'s; this one also its own).
ARCHIVE_ONLY = (ARCHIVE_BUCKET,)

DEFAULT_SHARDS = 16
DEFAULT_SEVERITY_SHARDS = 8
DEFAULT_WRITE_MAX_ATTEMPTS = 6


class SettingsError(RuntimeError):
    """A required setting is missing or has a value the service cannot use."""


def _required(name):
    value = os.environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is not set")
    return value


def _int(name, default, low, high):
    raw = os.environ.get(name, "").strip()
    if not raw:
        if default is None:
            raise SettingsError(f"environment variable {name} is not set")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"environment variable {name} must be between {low} and {high}, got {value}")
    return value


def table_name():
    return _required(TABLE_NAME)


def archive_bucket():
    """The S3 bucket of the archive (``chalicelib.archiving``); only the archive function needs it."""
    return _required(ARCHIVE_BUCKET)


def retention_days():
    return _int(RETENTION_DAYS, None, 1, 3653)


def service_shards():
    """Write shards per service; only ever raise it (reads cover 0..n-1)."""
    return _int(SERVICE_SHARDS, DEFAULT_SHARDS, 1, 256)


def timeline_shards():
    """Write shards of the all-services timeline; only ever raise it."""
    return _int(TIMELINE_SHARDS, DEFAULT_SHARDS, 1, 256)


def severity_shards():
    """Write shards per level of the WARN/ERROR/FATAL indexes; only ever raise it."""
    return _int(SEVERITY_SHARDS, DEFAULT_SEVERITY_SHARDS, 1, 256)


def write_max_attempts():
    return _int(WRITE_MAX_ATTEMPTS, DEFAULT_WRITE_MAX_ATTEMPTS, 1, 20)


def storage_read_timeout_s():
    """Seconds one DynamoDB call may wait for its answer (the local emulator is far slower than DynamoDB)."""
    return _int(STORAGE_READ_TIMEOUT_S, 5, 1, 60)


def cursor_key_source():
    """Where the cursor signing key comes from: ("value", key) or ("parameter", name).

    Local and test stages set the key itself; deployed stages name an SSM
    SecureString parameter so the secret never sits in config or state files
    in clear text.
    """
    return _secret_source(CURSOR_KEY, CURSOR_KEY_PARAMETER)


def previous_cursor_key():
    """The key that signed cursors before ``CURSOR_SIGNING_KEY`` (local and test stages), or None.

    Deployed stages keep the previous key as the SSM parameter's previous version instead.
    """
    return _key(CURSOR_KEY_PREVIOUS) or None


def _key(name):
    value = os.environ.get(name, "").strip()
    if value and len(value) < 16:
        raise SettingsError(f"environment variable {name} must be at least 16 characters")
    return value


def shard_key_source():
    """Where the key of derived log ids (and so of their shards) comes from: ("value", key) or ("parameter", name).

    Like the cursor key: local and test stages set it, deployed stages name an
    SSM SecureString. Unlike it, it is never rotated: a resend must name the
    key its first send wrote for as long as the event is kept.
    """
    return _secret_source(SHARD_KEY, SHARD_KEY_PARAMETER)


def _secret_source(value_name, parameter_name):
    """("value", the key ``value_name`` holds), or else ("parameter", the SSM name ``parameter_name`` holds)."""
    value = _key(value_name)
    if value:
        return ("value", value)
    parameter = os.environ.get(parameter_name, "").strip()
    if parameter:
        return ("parameter", parameter)
    raise SettingsError(f"set {value_name} or {parameter_name}")
