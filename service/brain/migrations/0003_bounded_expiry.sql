-- Expiries are bounded: at most 10 years ahead when stored, always before the year 10000 in UTC.
-- Before that bound, `expires_at: "9999-12-31T23:59:59-14:00"` stored a time in the year 10000,
-- which RFC 3339 (4-digit years), Python and most clients cannot read back. Such an expiry
-- becomes the last microsecond of 9999; the constraint keeps any other path from storing one.
UPDATE memories SET expires_at = '9999-12-31 23:59:59.999999+00'
WHERE expires_at >= '10000-01-01 00:00:00+00';
ALTER TABLE memories
    ADD CONSTRAINT memories_expires_at_year CHECK (expires_at < '10000-01-01 00:00:00+00');
ALTER TABLE messages
    ADD CONSTRAINT messages_expires_at_year CHECK (expires_at < '10000-01-01 00:00:00+00');
