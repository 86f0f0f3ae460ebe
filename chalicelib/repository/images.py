"""Events from an item's image in the table's stream, as Lambda hands a record to a function (DynamoDB JSON,
binary values as base64 text): what the archive writes (``chalicelib.archiving``)."""
import base64

from chalicelib.repository import items, packs


def events_of_image(image):
    """The events an item holds, as the API answers them: a pack's, oldest first; an event item's one event;
    none for anything else the table holds (identity guards, event id claims)."""
    if packs.is_pack(image):
        item = {**image, packs.PAYLOAD: {"B": base64.b64decode(image[packs.PAYLOAD]["B"])}}
        return [packs.to_event(row, item) for row in packs.rows(item)]
    if items.is_event_item(image):
        return [items.to_event(image)]
    return []
