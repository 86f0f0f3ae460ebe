"""Writes: each event of a request goes into a pack (``packs``), or, with a caller-chosen ``event_id``, into
an item of its own (``items``), which is what deduplicates it against every other batch of its caller role.

Order. Events of one request at one full timestamp get increasing log ids in the order they came (``ids``).

Packed events have log ids derived, under the stage's shard key, from (caller role, service, content or OTLP
record digest, full timestamp) and their place in the request, so an identical resend builds identical packs
and meets its own keys: each pack is one conditional put, written whole or not at all. Events the server
stamps have random ids, and a resend of them is another event, as it always was.
"""
import dataclasses
import hashlib
from dataclasses import dataclass

from chalicelib import ids
from chalicelib.errors import StorageUnavailable
from chalicelib.repository import items as item_layout
from chalicelib.repository import packs
from chalicelib.repository.calls import parallel
from chalicelib.repository.items import DIGEST, Identified
from chalicelib.repository.keys import RANGE_KEY


@dataclass
class WriteOutcome:
    """What happened to one event of a request.

    ``stored`` is true when the event is in the table, written now or before
    (``repeat``: an earlier send with the same identity stored it, and this
    one wrote nothing). ``conflict``: an earlier send with the same identity
    stored other content, and this one wrote nothing. ``item`` is the event's
    own item as this request built it, or ``packed`` what it was built from
    (event, ingestion time, caller): from what this caller sent, so a repeat
    never answers with stored content.
    """

    log_id: str | None = None
    stored: bool = False
    repeat: bool = False
    conflict: bool = False
    error: str | None = None
    item: dict | None = None
    # The content digest of the event stored under this identity, when known.
    stored_digest: str | None = None
    packed: tuple | None = None

    @property
    def event(self):
        """The event as the API returns it (built on demand: batches only need log ids)."""
        if not self.stored:
            return None
        if self.packed is not None:
            return packs.sent_event(self.packed[0], self.log_id, *self.packed[1:])
        return item_layout.to_event(self.item)


def _identity(event):
    """What names an event with an ``event_id`` within a request (None without one): a second one is a resend."""
    if event.event_id is None:
        return None
    if event.server_stamped:
        return event.service_name, event.event_id
    return event.service_name, event.event_id, event.timestamp_ms, event.sub_ms_ns


def caller_key(caller_arn):
    """A short, stable token for the caller role behind ``caller_arn`` (idempotency is per role)."""
    role = ids.caller_role(caller_arn)
    return hashlib.sha256(role.encode("utf-8")).hexdigest()[:16]


class Writes:
    """``put_events`` over the two layouts (``items``: an ``ItemLayout``; ``calls``: a ``Calls``)."""

    def __init__(self, calls, items, shard_key, retention_ms, shards, packed):
        self._calls = calls
        self._items = items
        self._shard_key = shard_key
        self._retention_ms = retention_ms
        self._shards = shards
        self._packed = packed

    def put_events(self, events, ingested_by, now_ms, content_ids=False):
        """Store events; returns a ``WriteOutcome`` per input position.

        ``events`` may hold None for positions rejected by validation; they are
        skipped. ``content_ids``: the events' ``event_id`` are digests of their
        content (OTLP), not the caller's, so those with a timestamp are packed
        like events without one. An event whose identity (see ``items``) was stored
        before with the same content, or repeats one earlier in this request,
        gets the first one's log id and writes nothing; with other content it
        is a ``conflict`` and writes nothing either. An event that could not be
        stored within the request's deadline has ``error`` set and is safe to
        resend. Raises ``StorageUnavailable`` if nothing was stored and storage
        was the reason.
        """
        caller = caller_key(ingested_by)
        outcomes = [WriteOutcome() if event is not None else None for event in events]
        fresh, identified, claims, repeats, members = {}, {}, {}, {}, []
        first_of, places = {}, {}
        for index, event in enumerate(events):
            if event is None:
                continue
            identity = _identity(event)
            if identity is not None and identity in first_of:
                repeats[index] = first_of[identity]
                continue
            if identity is not None:
                first_of[identity] = index
            full_time = (event.timestamp_ms, event.sub_ms_ns)
            sequence = places[full_time] = places.get(full_time, -1) + 1
            # An OTLP record without a time keeps its claim: a retried export must find its first log id.
            if self._packed and (event.event_id is None or (content_ids and not event.server_stamped)):
                members.append(self._member(index, event, sequence, caller))
            elif identity is not None and not event.server_stamped:
                home = ids.derived_log_id(self._shard_key, event.timestamp_ms, event.sub_ms_ns, 0,
                                          caller, event.service_name, event.event_id)
                identified[index] = Identified(
                    self._items.event_item(event, ids.with_sequence(home, sequence), now_ms, ingested_by), home)
            elif identity is not None:
                claims[index] = self._items.event_item(
                    event, ids.new_log_id(event.timestamp_ms, event.sub_ms_ns, sequence), now_ms, ingested_by)
            else:
                fresh[index] = self._items.event_item(
                    event, ids.new_log_id(event.timestamp_ms, event.sub_ms_ns, sequence), now_ms, ingested_by)

        claimed = parallel(lambda pair: (pair[0], self._items.claim(caller, pair[1], now_ms)), list(claims.items()))
        for index, (log_id, error) in claimed:
            if error is not None:
                outcomes[index].error = error
            elif log_id == claims[index][RANGE_KEY]["S"]:
                identified[index] = Identified(claims[index], log_id, unread=True)
            else:
                # The event this id was claimed for: its time is the first send's.
                event = dataclasses.replace(events[index], timestamp_ms=ids.time_of(log_id))
                identified[index] = Identified(self._items.event_item(event, log_id, now_ms, ingested_by), log_id)

        for index, result in self._items.store_identified(identified).items():
            outcomes[index] = WriteOutcome(
                log_id=result.item[RANGE_KEY]["S"], stored=result.state in ("stored", "repeat"),
                repeat=result.state == "repeat", conflict=result.state == "conflict", error=result.error,
                item=result.item, stored_digest=result.stored_digest)

        failures = self._calls.write_items(fresh)
        for index, item in fresh.items():
            outcomes[index].log_id = item[RANGE_KEY]["S"]
            outcomes[index].item = item
            outcomes[index].error = failures.get(index)
            outcomes[index].stored = index not in failures

        self._put_packs(members, ingested_by, now_ms, outcomes)

        for index, first in repeats.items():
            # A second copy in one request is judged against what is stored, as a resend would be.
            first_outcome = outcomes[first]
            if first_outcome.stored_digest is None:
                outcomes[index] = first_outcome
                continue
            item = self._items.event_item(events[index], first_outcome.log_id, now_ms, ingested_by)
            if first_outcome.stored_digest == item[DIGEST]["S"]:
                outcomes[index] = WriteOutcome(first_outcome.log_id, stored=True, repeat=True, item=item,
                                               stored_digest=first_outcome.stored_digest)
            else:
                outcomes[index] = WriteOutcome(first_outcome.log_id, conflict=True,
                                               stored_digest=first_outcome.stored_digest)

        valid = [outcome for outcome in outcomes if outcome is not None]
        if valid and all(outcome.error for outcome in valid if not outcome.stored) and not any(
                outcome.stored for outcome in valid):
            raise StorageUnavailable()
        return outcomes

    def _member(self, index, event, sequence, caller):
        """``event`` ready for a pack, under a log id its content derives (random if the server stamped it)."""
        content = packs.content_text(event).encode("utf-8", "surrogatepass")
        if event.server_stamped and event.event_id is None:
            log_id = ids.new_log_id(event.timestamp_ms, event.sub_ms_ns, sequence)
        else:
            digest = hashlib.sha256(content).hexdigest()[:32]
            log_id = ids.derived_log_id(self._shard_key, event.timestamp_ms, event.sub_ms_ns, sequence,
                                        caller, event.service_name, "#" + digest)
        return packs.member(index, event, log_id, content)

    def _put_packs(self, members, ingested_by, now_ms, outcomes):
        """One conditional put per pack, in parallel: a pack met again (an identical resend) writes nothing."""
        written = [pair for pack in packs.groups(members)
                   for pair in packs.items(pack, now_ms, ingested_by, self._shards, self._retention_ms)]
        results = parallel(lambda pair: self._calls.put_if_absent(pair[1], old=False), written)
        for (pack, _), (taken, error) in zip(written, results, strict=True):
            for entry in pack:
                outcomes[entry.index] = WriteOutcome(
                    log_id=entry.log_id, stored=error is None, repeat=taken is not None, error=error,
                    packed=(entry.event, now_ms, ingested_by))
