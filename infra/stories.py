"""A command's story: every step of its life, in order, kept in Redis for
``GET /commands/{id}/events`` to stream.

A story is a Redis list per command, appended to and never trimmed, so an
entry's place in it (1, 2, ...) is its id for good: what a client resumes
from with ``Last-Event-ID``.  A small hash keeps its bookkeeping.  (A list
of a few entries is a few hundred bytes; a Redis stream, whose entry ids
would serve as well, costs about 5 KB from its first entry.)
Its entries are written in the same atomic round trips as what they tell:

- ``accepted`` with the command's queueing (infra/commandbus.py);
- ``committed``, each ``follow_up`` sent and the command's ``status`` with
  its handover (infra/handover.py, or ``CommandStatuses.finish``);
- ``projected`` with the read model's progress (workers/projector.py).

A command a process manager sent belongs to the chain of the command that
began it (``origin_id``): its steps are told in its own story and in the
origin's, so that an order's story runs on to its confirmation.

A story ends (an ``end`` entry, carrying the command's final status) once
nothing it waits for is left: each command of the chain it tells of has
a final status, and each commit told of is projected; an ended story
takes nothing more.  Every entry has a mark, so a step told twice (a
message delivered again, the outbox sweep) is kept once; a step told
before the one it follows (a projection the catch-up made before the
commit's handover) still counts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis

from infra.keys import Keys
from infra.steps import Step

if TYPE_CHECKING:
    from infra.commits import Commit
    from infra.messages import CommandEnvelope

#: A story takes at most this many entries, then only its ``end`` (an
#: order of the largest size tells fewer): a chain that somehow never ends
#: cannot grow one without bound.
MAX_ENTRIES = 2_000

#: The entries a story may hold, in the order of a command's life (``end``
#: closes it).
ACCEPTED, COMMITTED, FOLLOW_UP, PROJECTED, STATUS, END = (
    "accepted",
    "committed",
    "follow_up",
    "projected",
    "status",
    "end",
)
EVENTS = (ACCEPTED, COMMITTED, FOLLOW_UP, PROJECTED, STATUS, END)

#: A step (infra/steps.py): add entries to one story.  ``K``: the story
#: (a list of ``<event> <data>``), its state (a hash) and, for a command's
#: outcome, its status record (infra/statuses.py).  ``A``: the TTL, the
#: entry cap, then seven arguments per entry: its event, its data, its
#: mark, what it waits for (space-separated items), the item it completes
#: ('' if none), whether it is the story's own command's final status
#: ('1'), and the status the record must hold for it to be told ('' if
#: any): an outcome the record did not take (a ``failed`` after a commit
#: was recorded ``succeeded``) is not told either.
#: In the state: ``m:<mark>`` for every entry kept, ``i:<item>`` open or
#: closed, ``#pending`` the items open, ``#final`` the final status; once
#: the ``end`` entry is written, only ``#ended``: an ended story takes no
#: more entries (a command's later outcome, a dead letter retried after it
#: ``failed``, is its status's to tell).
STORY = """
if redis.call('HEXISTS', K[2], '#ended') == 1 then return 0 end
local completed = false
for i = 3, #A, 7 do
  local told = true
  if A[i + 6] ~= '' then
    local record = redis.call('GET', K[3])
    told = record ~= false and cjson.decode(record)['status'] == A[i + 6]
  end
  if told and redis.call('HSETNX', K[2], 'm:' .. A[i + 2], 1) == 1 then
    for item in string.gmatch(A[i + 3], '%S+') do
      if redis.call('HSETNX', K[2], 'i:' .. item, 'open') == 1 then
        redis.call('HINCRBY', K[2], '#pending', 1)
      end
    end
    if A[i + 4] ~= '' then
      local state = redis.call('HGET', K[2], 'i:' .. A[i + 4])
      if state == 'open' then redis.call('HINCRBY', K[2], '#pending', -1) end
      if state ~= 'closed' then redis.call('HSET', K[2], 'i:' .. A[i + 4], 'closed') end
      completed = true
    end
    if A[i + 5] == '1' then redis.call('HSET', K[2], '#final', A[i + 1]) end
    if redis.call('LLEN', K[1]) < tonumber(A[2]) then redis.call('RPUSH', K[1], A[i] .. ' ' .. A[i + 1]) end
  end
end
if completed and tonumber(redis.call('HGET', K[2], '#pending') or '0') <= 0 then
  local final = redis.call('HGET', K[2], '#final')
  if final then
    redis.call('RPUSH', K[1], 'end ' .. final)
    -- Closed: nothing more is told, so only that is kept.
    redis.call('DEL', K[2])
    redis.call('HSET', K[2], '#ended', 1)
  end
end
redis.call('EXPIRE', K[1], A[1])
redis.call('EXPIRE', K[2], A[1])
return 1
"""


@dataclass(frozen=True)
class Entry:
    """One step as a story tells it."""

    event: str
    data: dict[str, Any]
    #: Unique in a story: a step told again is kept once.
    mark: str
    #: Items the story waits for from now on (a command's final status, a
    #: commit's projection).
    waits_for: tuple[str, ...] = ()
    #: The item this step settles.
    completes: str = ""
    #: The story's own command's final status (what ``end`` repeats).
    final: bool = False
    #: Told only if the command's status record holds this status.
    recorded: str = ""

    def args(self) -> list[str]:
        return [
            self.event,
            json.dumps(self.data, separators=(",", ":")),
            self.mark,
            " ".join(self.waits_for),
            self.completes,
            "1" if self.final else "0",
            self.recorded,
        ]


@dataclass(frozen=True)
class Told:
    """An entry as read back: its id (its place in the story, from 1: what
    ``Last-Event-ID`` gives back), event and data."""

    id: int
    event: str
    data: dict[str, Any] = field(default_factory=dict)


def command_item(command_id: str) -> str:
    return f"command:{command_id}"


def projection_item(stream_id: str, version: int) -> str:
    return f"projected:{stream_id}@{version}"


class Stories:
    def __init__(self, client: redis.Redis, *, namespace: str, ttl_s: int, max_entries: int = MAX_ENTRIES):
        self._redis = client
        self._keys = Keys(namespace)
        self._ttl_s = ttl_s
        self._max_entries = max_entries

    # Writing.
    def step(self, story_id: str, entries: Sequence[Entry], *, status_of: str | None = None) -> Step:
        """Add ``entries`` to ``story_id``'s story, as a step; ``status_of``:
        the command whose status record an entry's ``recorded`` is checked
        against (it runs after the step that writes that record)."""
        keys = (self._keys.story(story_id), self._keys.story_state(story_id))
        if status_of is not None:
            keys += (self._keys.command(status_of),)
        return Step(
            "story",
            STORY,
            keys=keys,
            args=(self._ttl_s, self._max_entries, *(arg for entry in entries for arg in entry.args())),
        )

    def accepted(self, envelope: CommandEnvelope) -> Step:
        """A command taken from a client: its story begins."""
        data = {
            "command_id": envelope.command_id,
            "type": envelope.type,
            "stream_id": envelope.stream_id,
            "submitted_at": envelope.submitted_at,
        }
        entry = Entry(ACCEPTED, data, f"accepted:{envelope.command_id}", (command_item(envelope.command_id),))
        return self.step(envelope.command_id, [entry])

    def handed_over(
        self,
        envelope: CommandEnvelope,
        status: str,
        *,
        commit: Commit | None = None,
        follow_ups: Sequence[CommandEnvelope] = (),
        version: int | None = None,
        error: dict[str, str] | None = None,
    ) -> list[Step]:
        """What a command's decision tells: its commit, the commands it
        sent, its final status; in its own story and its origin's, and the
        beginning of each follow-up's own."""
        command_id = envelope.command_id

        def told(story: str) -> list[Entry]:
            entries = []
            if commit is not None:
                entries.append(
                    Entry(
                        COMMITTED,
                        {
                            "command_id": command_id,
                            "type": envelope.type,
                            "stream_id": commit.stream_id,
                            "stream_type": commit.stream_type,
                            "version_from": commit.version_from,
                            "version_to": commit.version_to,
                            "events": [{"type": e["type"], "version": e["version"]} for e in commit.events],
                        },
                        f"committed:{command_id}",
                        (projection_item(commit.stream_id, commit.version_to),),
                    )
                )
            for sent in follow_ups:
                entries.append(
                    Entry(
                        FOLLOW_UP,
                        {
                            "command_id": command_id,
                            "follow_up": {
                                "command_id": sent.command_id,
                                "type": sent.type,
                                "stream_id": sent.stream_id,
                            },
                        },
                        f"follow_up:{sent.command_id}",
                        # The origin's story runs on until every command of
                        # its chain has ended.
                        (command_item(sent.command_id),) if sent.origin == story else (),
                    )
                )
            data = {
                "command_id": command_id,
                "type": envelope.type,
                "status": status,
                "version": version,
                "error": error,
            }
            mark, item = f"status:{command_id}:{status}", command_item(command_id)
            entries.append(Entry(STATUS, data, mark, (), item, final=story == command_id, recorded=status))
            return entries

        steps = []
        for story in dict.fromkeys([command_id, envelope.origin]):
            steps.append(self.step(story, told(story), status_of=command_id))
        for sent in follow_ups:
            data = {
                "command_id": sent.command_id,
                "type": sent.type,
                "stream_id": sent.stream_id,
                "caused_by": command_id,
            }
            entry = Entry(ACCEPTED, data, f"accepted:{sent.command_id}", (command_item(sent.command_id),))
            steps.append(self.step(sent.command_id, [entry]))
        return steps

    def projected(self, read_model: str, stream_id: str, commits: Iterable[Projected]) -> list[Step]:
        """``commits`` of the stream are in ``read_model``: in each one's
        command's story, and its origin's."""
        by_story: dict[str, list[Entry]] = {}
        for commit in commits:
            if not commit.command_id:
                continue  # a notification of an earlier release names none
            item = projection_item(stream_id, commit.version)
            data = {
                "command_id": commit.command_id,
                "read_model": read_model,
                "stream_id": stream_id,
                "version": commit.version,
            }
            entry = Entry(PROJECTED, data, f"projected:{read_model}:{stream_id}@{commit.version}", (), item)
            for story in dict.fromkeys([commit.command_id, commit.origin_id or commit.command_id]):
                by_story.setdefault(story, []).append(entry)
        return [self.step(story, entries) for story, entries in by_story.items()]

    # Reading.
    def last(self, story_id: str) -> Told | None:
        """The story's newest entry, if it has one."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.llen(self._keys.story(story_id))
        pipe.lindex(self._keys.story(story_id), -1)
        length, entry = pipe.execute()
        return told(length, entry) if entry is not None else None

    def read(self, story_id: str, after: int = 0, *, count: int = 500) -> list[Told]:
        """The story's entries after the one with id ``after`` (from its
        beginning if 0), at most ``count``."""
        entries = self._redis.lrange(self._keys.story(story_id), after, after + count - 1)
        return [told(after + i, entry) for i, entry in enumerate(entries, start=1)]


@dataclass(frozen=True)
class Projected:
    """A commit a read model applied: the command that made it, its chain's
    origin, and the version it took the stream to."""

    command_id: str
    origin_id: str | None
    version: int


def told(entry_id: int, entry: bytes | str) -> Told:
    event, _, data = (entry.decode() if isinstance(entry, bytes) else entry).partition(" ")
    return Told(entry_id, event, json.loads(data or "{}"))
