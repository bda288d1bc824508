"""Delivery streams in Redis: per agent, one stream per priority, read through a consumer group.

Keys of one agent share a hash tag (`{workspace/agent}`), so each Lua script below touches one
slot and runs unchanged on Redis Cluster. An index hash maps message id -> stream entry, which
makes appends idempotent (the relay may append what the share path already did) and lets an ack
find the entry to XACK.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from brain.kit import keys, redis_client
from brain.kit.redis_client import Client

if TYPE_CHECKING:
    from redis.typing import KeyT, StreamIdT

GROUP = "brain"
PRIORITIES = ("low", "normal", "high", "urgent")  # index = the stored smallint
READ_ORDER = (3, 2, 1, 0)  # urgent first

_APPEND = """
-- KEYS: stream, index. ARGV: message id, body, expires ms (0 = never), min id, retry flag, prio
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], 'brain', '0', 'MKSTREAM')
end
local sid = redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[4], '*',
                       'id', ARGV[1], 'm', ARGV[2], 'exp', ARGV[3], 'r', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[6] .. '|' .. sid)
return 1
"""

_READ = """
-- KEYS: index, then the streams urgent..low. ARGV: consumer, count, min idle ms, now ms.
-- Per priority: leases that expired (XAUTOCLAIM) first, then new entries. Expired messages and
-- entries trimmed away are acknowledged and skipped. Returns {entries, last ids}; an entry is
-- {stream position, entry id, message id, body, times delivered, retry flag}.
local consumer, want, idle, now = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local out, last = {}, {}
local function field(fields, name)
  for i = 1, #fields, 2 do if fields[i] == name then return fields[i + 1] end end
end
local function take(pos, key, id, fields, times)
  if not fields then
    redis.call('XACK', key, 'brain', id)
    return
  end
  local exp = tonumber(field(fields, 'exp'))
  local mid = field(fields, 'id')
  if exp > 0 and exp <= now then
    redis.call('XACK', key, 'brain', id)
    redis.call('HDEL', KEYS[1], mid)
    return
  end
  out[#out + 1] = {pos, id, mid, field(fields, 'm'), times, field(fields, 'r')}
end
for pos = 2, #KEYS do
  local key = KEYS[pos]
  if redis.call('EXISTS', key) == 1 then
    if #out < want then
      local claimed = redis.call('XAUTOCLAIM', key, 'brain', consumer, idle, '0-0',
                                 'COUNT', want - #out)
      for _, entry in ipairs(claimed[2]) do
        if entry then
          local info = redis.call('XPENDING', key, 'brain', entry[1], entry[1], 1)
          take(pos, key, entry[1], entry[2], info[1] and info[1][4] or 1)
        end
      end
      if claimed[3] then
        for _, gone in ipairs(claimed[3]) do redis.call('XACK', key, 'brain', gone) end
      end
    end
    if #out < want then
      local fresh = redis.call('XREADGROUP', 'GROUP', 'brain', consumer, 'COUNT', want - #out,
                               'STREAMS', key, '>')
      if fresh then
        for _, entry in ipairs(fresh[1][2]) do take(pos, key, entry[1], entry[2], 1) end
      end
    end
    local tail = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
    last[pos - 1] = tail[1] and tail[1][1] or '0-0'
  else
    last[pos - 1] = '0-0'
  end
end
return {out, last}
"""

_MINE = """
-- KEYS: index, then the streams urgent..low. ARGV: consumer.
-- This consumer's entries still pending (delivered, not acknowledged), with their idle time.
local out = {}
for pos = 2, #KEYS do
  local key = KEYS[pos]
  if redis.call('EXISTS', KEYS[pos]) == 1 then
    local pending = redis.call('XPENDING', key, 'brain', '-', '+', 1000, ARGV[1])
    for _, p in ipairs(pending) do
      local entry = redis.call('XRANGE', key, p[1], p[1])
      if entry[1] then
        local f = entry[1][2]
        local m, mid, r
        for i = 1, #f, 2 do
          if f[i] == 'm' then m = f[i + 1] elseif f[i] == 'id' then mid = f[i + 1]
          elseif f[i] == 'r' then r = f[i + 1] end
        end
        out[#out + 1] = {pos, p[1], mid, m, p[4], r, p[3]}
      end
    end
  end
end
return out
"""

_ACK = """
-- KEYS: index, then the streams low..urgent (by priority index + 1). ARGV: message ids.
local n = 0
for _, mid in ipairs(ARGV) do
  local where = redis.call('HGET', KEYS[1], mid)
  if where then
    local sep = string.find(where, '|', 1, true)
    local prio = tonumber(string.sub(where, 1, sep - 1))
    n = n + redis.call('XACK', KEYS[prio + 2], 'brain', string.sub(where, sep + 1))
    redis.call('HDEL', KEYS[1], mid)
  end
end
return n
"""

_DROP = """
-- KEYS: index, then the streams low..urgent. ARGV: message ids. Erases their entries (purge).
local n = 0
for _, mid in ipairs(ARGV) do
  local where = redis.call('HGET', KEYS[1], mid)
  if where then
    local sep = string.find(where, '|', 1, true)
    local stream = KEYS[tonumber(string.sub(where, 1, sep - 1)) + 2]
    local entry = string.sub(where, sep + 1)
    redis.call('XACK', stream, 'brain', entry)
    n = n + redis.call('XDEL', stream, entry)
    redis.call('HDEL', KEYS[1], mid)
  end
end
return n
"""

_TRIM = """
-- KEYS: index, then the streams. ARGV: min id. Trims the streams and forgets trimmed ids.
local n = 0
for pos = 2, #KEYS do
  if redis.call('EXISTS', KEYS[pos]) == 1 then
    n = n + redis.call('XTRIM', KEYS[pos], 'MINID', ARGV[1])
  end
end
local cursor = '0'
repeat
  local page = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', 500)
  cursor = page[1]
  for i = 1, #page[2], 2 do
    local where = page[2][i + 1]
    local sid = string.sub(where, string.find(where, '|', 1, true) + 1)
    local ms = tonumber(string.sub(sid, 1, string.find(sid, '-', 1, true) - 1))
    if ms < tonumber(string.sub(ARGV[1], 1, string.find(ARGV[1], '-', 1, true) - 1)) then
      redis.call('HDEL', KEYS[1], page[2][i])
    end
  end
until cursor == '0'
return n
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for one recipient's stream."""

    workspace: str
    agent_id: str
    message_id: str
    priority: int
    body: bytes
    expires_ms: int  # 0: never
    retry: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """An entry handed to a consumer."""

    priority: int
    entry_id: str
    message_id: str
    body: bytes
    times_delivered: int
    idle_ms: int = 0

    def as_json(self) -> bytes:
        """The message with `delivery_count` (a message re-appended after Redis lost it counts
        its earlier delivery too)."""
        return self.body[:-1] + b',"delivery_count":' + str(self.times_delivered).encode() + b"}"


def outgoing(workspace: str, agent: str, row: dict[str, Any], body: bytes, retry: bool) -> Outgoing:
    """What to append for one recipient, from a delivery row (message id, priority, expiry)."""
    expires = row["expires_at"]
    return Outgoing(
        workspace=workspace, agent_id=agent, message_id=str(row["message_id"]),
        priority=int(row["priority"]), body=body,
        expires_ms=int(expires.timestamp() * 1000) if expires else 0, retry=retry,
    )  # fmt: skip


def _agent_keys(workspace: str, agent_id: str, order: Sequence[int]) -> list[str]:
    return [keys.message_index(workspace, agent_id)] + [
        keys.message_stream(workspace, agent_id, p) for p in order
    ]


def _delivery(row: list[Any], order: Sequence[int]) -> Delivery:
    pos, entry_id, message_id, body, times, retry = row[:6]
    idle = int(row[6]) if len(row) > 6 else 0
    return Delivery(
        priority=order[int(pos) - 2],
        entry_id=entry_id.decode(),
        message_id=message_id.decode(),
        body=body,
        times_delivered=int(times) + (1 if retry == b"1" else 0),
        idle_ms=idle,
    )


class Streams:
    """The Redis side of messaging; raises redis errors for the caller to translate."""

    def __init__(self, client: Client, blocking: Client, visibility_ms: int, retention_ms: int):
        self.client = client
        self.blocking = blocking
        self.visibility_ms = visibility_ms
        self.retention_ms = retention_ms
        self._append = client.register_script(_APPEND)
        self._read = client.register_script(_READ)
        self._mine = client.register_script(_MINE)
        self._ack = client.register_script(_ACK)
        self._trim = client.register_script(_TRIM)
        self._drop = client.register_script(_DROP)

    def min_id(self, now_ms: int) -> str:
        return f"{max(now_ms - self.retention_ms, 0)}-0"

    async def append(self, item: Outgoing, now_ms: int) -> bool:
        """Append unless already there; True when this call appended it."""
        stream = keys.message_stream(item.workspace, item.agent_id, item.priority)
        args = [
            item.message_id, item.body, item.expires_ms, self.min_id(now_ms),
            1 if item.retry else 0, item.priority,
        ]  # fmt: skip
        index = keys.message_index(item.workspace, item.agent_id)
        return bool(await redis_client.run_script(self.client, self._append, [stream, index], args))

    async def read(
        self, workspace: str, agent_id: str, consumer: str, count: int, now_ms: int
    ) -> tuple[list[Delivery], list[bytes]]:
        """Claim up to `count` entries: expired leases, then new, urgent first, oldest first."""
        result = await redis_client.run_script(
            self.client,
            self._read,
            _agent_keys(workspace, agent_id, READ_ORDER),
            [consumer, count, self.visibility_ms, now_ms],
        )
        entries, last_ids = result
        return [_delivery(row, READ_ORDER) for row in entries], list(last_ids)

    async def wait(
        self, workspace: str, agent_id: str, last_ids: Sequence[bytes], block_ms: int
    ) -> None:
        """Block until any of the agent's streams grows past `last_ids`, or `block_ms` passes."""
        streams: dict[KeyT, StreamIdT] = {
            keys.message_stream(workspace, agent_id, p): last
            for p, last in zip(READ_ORDER, last_ids, strict=True)
        }
        await self.blocking.xread(streams, count=1, block=max(block_ms, 1))

    async def mine(self, workspace: str, agent_id: str, consumer: str) -> list[Delivery]:
        """This consumer's pending entries, with how long ago each was delivered."""
        agent_keys = _agent_keys(workspace, agent_id, READ_ORDER)
        rows = await redis_client.run_script(self.client, self._mine, agent_keys, [consumer])
        return [_delivery(row, READ_ORDER) for row in rows]

    async def ack(self, workspace: str, agent_id: str, message_ids: Sequence[str]) -> int:
        if not message_ids:
            return 0
        agent_keys = _agent_keys(workspace, agent_id, range(4))
        return int(await redis_client.run_script(self.client, self._ack, agent_keys, message_ids))

    async def pending_count(self, workspace: str, agent_ids: Sequence[str]) -> int:
        """Entries delivered and not acknowledged, over these agents' streams."""
        pipe = self.client.pipeline(transaction=False)
        for agent in agent_ids:
            for p in range(4):
                pipe.xpending(keys.message_stream(workspace, agent, p), GROUP)
        total = 0
        for result in await pipe.execute(raise_on_error=False):
            if isinstance(result, dict):
                total += int(result.get("pending", 0))
        return total

    async def forget(self, workspace: str, agents: Sequence[str]) -> None:
        """Delete the agents' streams and their index (their messages are gone from PostgreSQL)."""
        for agent in agents:
            await self.client.delete(*_agent_keys(workspace, agent, range(len(PRIORITIES))))

    async def drop(self, workspace: str, agent_id: str, message_ids: Sequence[str]) -> int:
        """Erase these messages' entries from the agent's streams; how many there were."""
        if not message_ids:
            return 0
        agent_keys = _agent_keys(workspace, agent_id, range(4))
        return int(await redis_client.run_script(self.client, self._drop, agent_keys, message_ids))

    async def trim(self, workspace: str, agent_id: str, now_ms: int) -> int:
        """Drop entries older than the retention; returns how many."""
        agent_keys = _agent_keys(workspace, agent_id, READ_ORDER)
        return int(
            await redis_client.run_script(
                self.client, self._trim, agent_keys, [self.min_id(now_ms)]
            )
        )
