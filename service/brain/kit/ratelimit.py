"""Rate limits per API key: a token bucket in Redis, shared by every replica.

A key with `rate_limit: {per_second, burst}` holds up to `burst` tokens, refilled at
`per_second`; each request takes one, and a request that finds none is refused with 429,
`Retry-After`, and the `RateLimit-Policy` / `RateLimit` fields of the IETF httpapi draft
(draft-ietf-httpapi-ratelimit-headers: `"key";q=<burst>;w=<seconds to refill>` and
`"key";r=<tokens left>;t=<seconds until full>`). The bucket is one Redis hash updated by one
script on the server's clock (so it is Cluster-safe and replicas need no clock agreement).

With Redis unavailable the limiter fails open: requests go through unchecked, counted in
`brain_rate_limit_fail_open_total` and logged once per outage. Refusing every request of every
limited key because the cache is down would turn a cache outage into an API outage (G6).
"""

from __future__ import annotations

import dataclasses
import logging
import math

from redis.exceptions import RedisError

from brain.kit import keys, redis_client
from brain.observability import metrics

log = logging.getLogger("brain.ratelimit")

POLICY = "key"

_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    headers: dict[str, str]


def headers(per_second: float, burst: int, tokens: float, allowed: bool) -> dict[str, str]:
    """The draft's fields for a bucket holding `tokens` after this request."""
    window = max(1, math.ceil(burst / per_second))
    full_in = max(0, math.ceil((burst - tokens) / per_second))
    fields = {
        "RateLimit-Policy": f'"{POLICY}";q={burst};w={window}',
        "RateLimit": f'"{POLICY}";r={max(0, math.floor(tokens))};t={full_in}',
    }
    if not allowed:
        fields["Retry-After"] = str(max(1, math.ceil((1 - tokens) / per_second)))
    return fields


class Limiter:
    def __init__(self, client: redis_client.Client | None) -> None:
        self.client = client
        self._down = False

    async def take(self, workspace: str, key_id: str, per_second: float, burst: int) -> Verdict:
        """Take a token from the key's bucket; fail open (allowed, no fields) without Redis."""
        if self.client is None:
            return self._open(None)
        try:
            allowed, left = await self.client.eval(
                _TAKE, 1, keys.rate_bucket(workspace, key_id), repr(per_second), str(burst)
            )
        except RedisError as exc:
            return self._open(exc)
        if self._down:
            log.warning("redis answers again: rate limits are enforced again")
            self._down = False
        tokens = float(left.decode() if isinstance(left, bytes) else left)
        if not allowed:
            metrics.RATE_LIMITED.inc()
        return Verdict(bool(allowed), headers(per_second, burst, tokens, bool(allowed)))

    def _open(self, exc: Exception | None) -> Verdict:
        metrics.RATE_LIMIT_FAIL_OPEN.inc()
        if not self._down:
            log.warning("redis unavailable: rate limits not enforced until it answers (%s)", exc)
            self._down = True
        return Verdict(True, {})
