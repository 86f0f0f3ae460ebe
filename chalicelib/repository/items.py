"""The one-item-per-event layout: events with a caller-chosen ``event_id`` are written in it, and every event
written before packs was; reads merge it with packs (``reads``).

Idempotency. An event with an ``event_id`` and its own ``timestamp`` has a
log id derived from (caller role, service, event id, full timestamp), keyed
with the stage's shard key: a resend names the same key. An event with an
``event_id`` but no timestamp claims (caller role, service, event id) with a
conditional put of a small claim item. Either way the event is written with a
conditional put, after a consistent read of the keys a resend may have stored
already: a stored event is never written again (events are append-only), two
first sends that race store one event, and a resend whose content differs
from the stored event's is a ``conflict`` that writes nothing.
"""
import hashlib
import json
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import events as ev
from chalicelib.repository import keys
from chalicelib.repository.calls import UNSTORED, is_transient, key_of, parallel
from chalicelib.repository.keys import DIGEST, GUARD_OF, HASH_KEY, RANGE_KEY, TTL_ATTRIBUTE


def digest(item):
    """What a resend must repeat: every field the caller sends but those of its identity (service, event id and,
    where the caller gave it, the timestamp), as sent: metadata compared as its JSON text, key order included."""
    parts = [item["level"]["S"], item["log_type"]["S"], item["message"]["S"], item.get("metadata", {}).get("S", "{}")]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class _Result:
    """What became of an event known by its identity: ``state`` "stored" (written now), "repeat" (the same
    content was there), "conflict" (other content was there) or None with ``error`` (not stored; safe to resend)."""

    item: dict
    state: str | None = None
    error: str | None = None
    stored_digest: str | None = None


@dataclass
class Identified:
    """An event known by its identity, and the log id of the identity's home key (where a resend looks)."""

    item: dict
    home: str
    unread: bool = False  # the home key is known to be new (a claim this request made)

    @property
    def home_key(self):
        return {HASH_KEY: self.item[HASH_KEY], RANGE_KEY: {"S": self.home}}




def expires_at(timestamp_ms, retention_ms):
    return {"N": str((timestamp_ms + retention_ms) // 1000)}


def is_event_item(item):
    """Whether ``item`` is an event item (not a pack, a guard or a claim): only event items carry an event time."""
    return "ts" in item


def to_event(item):
    """An event item as the API returns the event."""
    return {
        "log_id": item[RANGE_KEY]["S"],
        "service_name": item["service_name"]["S"],
        "level": item["level"]["S"],
        "log_type": item["log_type"]["S"],
        "message": item["message"]["S"],
        "timestamp": ev.format_time(int(item["ts"]["N"])),
        "metadata": json.loads(item["metadata"]["S"]) if "metadata" in item else {},
        "event_id": item["event_id"]["S"] if "event_id" in item else None,
        "ingested_at": ev.format_time(int(item["ingested_at"]["N"])),
        "ingested_by": item["ingested_by"]["S"] if "ingested_by" in item else None,
    }


def stored_bytes(item):
    """What an event item holds of its event, in bytes: its message and metadata as stored (UTF-8)."""
    return sum(len(item[name]["S"].encode("utf-8", "surrogatepass")) for name in ("message", "metadata")
               if name in item)


class ItemLayout:
    """Writes events one item each, at most once per identity, and reads such items back."""

    def __init__(self, calls, shard_key, retention_ms, shards):
        self._calls = calls
        self._shard_key = shard_key
        self._retention_ms = retention_ms
        # (service, timeline, severity) shard counts.
        self._shards = shards

    def expires_at(self, timestamp_ms):
        return expires_at(timestamp_ms, self._retention_ms)

    def event_item(self, event, log_id, ingested_at_ms, ingested_by):
        item = {
            **keys.partitions(log_id, event.service_name, event.level, self._shards, event.level in ev.SEVERE_LEVELS),
            RANGE_KEY: {"S": log_id},
            "service_name": {"S": event.service_name},
            "level": {"S": event.level},
            "log_type": {"S": event.log_type},
            "message": {"S": event.message},
            "ts": {"N": str(event.timestamp_ms)},
            "ingested_at": {"N": str(ingested_at_ms)},
            TTL_ATTRIBUTE: self.expires_at(event.timestamp_ms),
        }
        if event.metadata is not None:
            item["metadata"] = {"S": event.metadata_json}
        if event.event_id is not None:
            item["event_id"] = {"S": event.event_id}
            item[DIGEST] = {"S": digest(item)}
        if ingested_by:
            item["ingested_by"] = {"S": ingested_by}
        return item

    def claim(self, caller, item, now_ms):
        """Claim an event id for the log id in ``item``: ``(log id, None)``, or ``(None, error)``.

        The log id is ``item``'s when the claim is new, or when the earlier
        claim has expired with its event; otherwise the earlier claim's.
        """
        log_id = item[RANGE_KEY]["S"]
        claim = {
            HASH_KEY: {"S": keys.claim_partition(caller, item["service_name"]["S"], item["event_id"]["S"])},
            RANGE_KEY: {"S": keys.CLAIM_SK},
            "log_id": {"S": log_id},
            TTL_ATTRIBUTE: item[TTL_ATTRIBUTE],
        }
        try:
            self._calls.client.put_item(
                TableName=self._calls.table,
                Item=claim,
                ConditionExpression="attribute_not_exists(#pk) OR #ttl <= :now",
                ExpressionAttributeNames={"#pk": HASH_KEY, "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": {"N": str(now_ms // 1000)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return log_id, None
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return error.response["Item"]["log_id"]["S"], None
            if not is_transient(error):
                raise
        except BotoCoreError:
            pass
        return None, UNSTORED

    def store_identified(self, identified):
        """Store events known by their identity, each at most once; ``{index: _Result}``.

        Each event's identity has a home key: the event itself when it is the
        first at its full timestamp in its request, else a small guard naming
        its log id. One consistent read of the home keys finds what a resend
        stored, whatever its place in its request; every write is conditional,
        so two sends never both store.
        """
        results = {}
        to_read = {index: entry.home_key for index, entry in identified.items() if not entry.unread}
        found, unchecked = self._calls.read_keys(to_read, (DIGEST, GUARD_OF))
        results.update({index: _Result(identified[index].item, error=UNSTORED) for index in unchecked})
        pointed = {}
        for index, stored in found.items():
            if GUARD_OF in stored:
                pointed[index] = stored[GUARD_OF]["S"]
            else:
                results[index] = self._compared(identified[index].item, stored)
        # A guard names where its event is: read it there, or write it there if its first send could not.
        for index, log_id in pointed.items():
            identified[index] = Identified(self._with_log_id(identified[index].item, log_id), log_id, unread=True)
        found, unchecked = self._calls.read_keys({index: identified[index].home_key for index in pointed}, (DIGEST,))
        results.update({index: _Result(identified[index].item, error=UNSTORED) for index in unchecked})
        results.update({index: self._compared(identified[index].item, stored) for index, stored in found.items()})
        absent = [(index, entry) for index, entry in identified.items() if index not in results]
        results.update(parallel(lambda pair: (pair[0], self._put_identified(pair[1])), absent))
        return results

    def _put_identified(self, entry):
        """Write an event whose home key was free: its guard first if it has one, each only if still free."""
        item = entry.item
        if entry.home_key != key_of(item):
            guard = {**entry.home_key, GUARD_OF: item[RANGE_KEY], TTL_ATTRIBUTE: item[TTL_ATTRIBUTE]}
            taken, error = self._calls.put_if_absent(guard)
            if error is not None:
                return _Result(item, error=error)
            if taken is not None and taken.get(GUARD_OF) != item[RANGE_KEY]:
                # Another send took the identity first (a guard met again is our own, after a lost answer).
                return self._after_lost_race(item, taken)
        return self._put_event(item)

    def _put_event(self, item):
        taken, error = self._calls.put_if_absent(item)
        if error is not None:
            return _Result(item, error=error)
        if taken is not None:
            return self._after_lost_race(item, taken)
        return _Result(item, "stored", stored_digest=item[DIGEST]["S"])

    def _after_lost_race(self, item, taken):
        """What to answer when another send stored an identity's home key between our read and our write."""
        if GUARD_OF not in taken:
            return self._compared(item, taken)
        mine = self._with_log_id(item, taken[GUARD_OF]["S"])
        found, unchecked = self._calls.read_keys({0: key_of(mine)}, (DIGEST,))
        if unchecked:
            return _Result(mine, error=UNSTORED)
        # The guard's event may not be written yet (its send is still under way, or died): write it, at most
        # once (a guard's event has a place above 0, where no guard can be, so this ends here).
        return self._compared(mine, found[0]) if 0 in found else self._put_event(mine)

    def _compared(self, item, stored):
        """This send's event against the event ``stored`` under its identity: a repeat or a conflict, answered
        under that event's log id."""
        item = self._with_log_id(item, stored[RANGE_KEY]["S"])
        if DIGEST in stored:
            theirs = stored[DIGEST]["S"]
        else:  # stored before events carried a digest: read the whole event once
            found, unchecked = self._calls.read_keys({0: key_of(stored)}, None)
            if unchecked or 0 not in found:
                return _Result(item, error=UNSTORED)
            theirs = digest(found[0])
        return _Result(item, "repeat" if theirs == item[DIGEST]["S"] else "conflict", stored_digest=theirs)

    @staticmethod
    def _with_log_id(item, log_id):
        """``item`` under another log id of the same identity: ids of one identity share their entropy, and so
        every shard, so only the sort key moves."""
        return {**item, RANGE_KEY: {"S": log_id}}

