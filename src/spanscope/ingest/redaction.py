"""Redaction: secrets and card numbers are masked, dropped or hashed before the WAL.

Rules live in the serve config (``spanscope serve --config spanscope.toml``)::

    redaction_defaults = true        # top-level key; false turns the built-in rules off

    [[redaction]]
    name = "emails"                  # optional; named in error messages
    key = "user.email"               # exact key, or a glob: "*.email", "app.secret_*"
    action = "hash"                  # drop | mask | hash

    [[redaction]]
    key_regex = '^app\\.(pin|ssn)$'     # a regular expression searched in the key
    action = "mask"
    keep_suffix = 2                  # mask keeps the last 2 characters: "[REDACTED]42"

    [[redaction]]
    value = '\\b\\d{3}-\\d{2}-\\d{4}\\b'  # a value pattern: only the match is masked
    action = "mask"

Keys are compared case-insensitively (HTTP header names are). A rule with a ``value``
pattern acts on string values (and strings inside arrays) where the pattern is found:
``mask`` replaces each match, ``drop`` drops the attribute, ``hash`` hashes the whole value.
A rule without one acts on the whole value of every key it matches.

``hash`` is keyed: HMAC-SHA256 with a secret created on first use in the data directory
(``<data-dir>/redaction.key``, 32 random bytes, mode 0600), so equal values still group
(``user.email = "hmac-sha256:5f1c..."`` is the same for the same user) while nobody
without the file can test a guess. Delete the file and values hash differently from then on.

The built-in rules (unless ``redaction_defaults = false``), after the user's:

* keys whose last dotted part is, or has as a ``_``/``-`` separated word, ``authorization``,
  ``cookie``, ``set-cookie``, ``password``, ``passwd``, ``secret``, ``token``, ``api_key``,
  ``apikey``, ``access_key``, ``private_key`` or ``client_secret`` -> mask. That covers
  ``http.request.header.authorization``, ``http.request.header.x-csrf-token`` and
  ``db.password``, but not ``gen_ai.usage.input_tokens`` (the word is ``tokens``).
* card numbers (13 to 19 digits, spaces or dashes between them allowed, Luhn-checked so an
  order id is left alone) in the values of ``http.*``, ``url.*``, ``db.statement`` and log
  bodies -> every digit becomes ``*``, separators stay.

Where it runs: every decoder (OTLP protobuf over HTTP and gRPC, in decode workers too;
OTLP/JSON; Zipkin; OTLP logs and metrics) applies the rules to span, resource, scope, event and link
attributes and to log bodies and attributes. A log record's body is checked as the key
``log.body``. When a request had something to redact it is re-encoded, and the WAL gets
that instead of the body as sent, so the raw value reaches neither the WAL nor the store;
WAL replay decodes the redacted record again, and every action leaves its own output as it
is, so replay changes nothing. A request with nothing to redact keeps the fast path: the
OTLP protobuf decoder decides once per distinct serialized attribute (its KeyValue cache)
and per distinct key (:meth:`Redactor.rules_for`); only then is the request parsed in full,
redacted and re-encoded.

Metric data point and exemplar attributes are redacted too. Not covered: span names,
status messages, Zipkin annotations, and keys nested inside a ``kvlist`` value (the whole
value is judged by its attribute key).
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

MASK = "[REDACTED]"
HASH_PREFIX = "hmac-sha256:"
SECRET_FILE = "redaction.key"
LOG_BODY_KEY = "log.body"
ACTIONS = ("drop", "mask", "hash")
RULE_KEYS = ("name", "key", "key_regex", "value", "action", "keep_prefix", "keep_suffix")

_HASHED = re.compile(r"hmac-sha256:[0-9a-f]{32}")
_SENSITIVE_WORDS = (
    "authorization|cookie|password|passwd|secret|token|api[_-]?key|access[_-]?key"
    "|private[_-]?key|client[_-]?secret"
)
SENSITIVE_KEY_REGEX = rf"(?:^|\.)(?:[^.]*[_-])?(?:{_SENSITIVE_WORDS})(?:[_-][^.]*)?$"
CARD_KEY_REGEX = r"^(?:http\.|url\.|db\.statement$|log\.body$)"
CARD_NUMBER = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")

NOCHANGE: Any = object()
"""Returned by :meth:`Redactor.redact` when no rule changes the value."""
DROP: Any = object()
"""Returned by :meth:`Redactor.redact` when the attribute must be left out."""


class RedactionNeeded(Exception):
    """Raised by a decoder's fast path: this request has something to redact."""


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every card number carries (ISO/IEC 7812-1).

    >>> luhn_valid("4111111111111111"), luhn_valid("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class RedactionRule:
    """One validated rule; ``key`` is lowercased, ``card_numbers`` is the built-in value
    check (13-19 digits, Luhn-valid)."""

    name: str
    action: str
    key: str | None = None
    key_regex: str | None = None
    value: str | None = None
    keep_prefix: int = 0
    keep_suffix: int = 0
    card_numbers: bool = False


DEFAULT_RULES = (
    RedactionRule("default: credentials", "mask", key_regex=SENSITIVE_KEY_REGEX),
    RedactionRule("default: card numbers", "mask", key_regex=CARD_KEY_REGEX, card_numbers=True),
)


class _Compiled:
    """A rule with its matchers compiled."""

    __slots__ = ("rule", "key_match", "value_re")

    def __init__(self, rule: RedactionRule) -> None:
        self.rule = rule
        self.key_match: Callable[[str], bool] | None = None
        if rule.key is not None:
            key = rule.key
            if any(c in key for c in "*?["):
                glob = re.compile(fnmatch.translate(key))
                self.key_match = lambda k: glob.match(k) is not None
            else:
                self.key_match = key.__eq__
        elif rule.key_regex is not None:
            pattern = re.compile(rule.key_regex, re.IGNORECASE)  # keys are lowercased
            self.key_match = lambda k: pattern.search(k) is not None
        self.value_re = (
            CARD_NUMBER
            if rule.card_numbers
            else (re.compile(rule.value) if rule.value is not None else None)
        )


_MEMOS: dict[str, tuple[dict[str, tuple[_Compiled, ...]], dict[tuple[str, str], Any]]] = {}
"""Per process and rule set: key -> the rules that apply to it, and (key, short string
value) -> what they make of it (decode workers get the redactor pickled with each request;
the memos stay). Each is emptied when full, like the decoder's KeyValue cache."""
MEMO_ENTRIES = 1 << 14
MEMO_VALUE_CHARS = 256
"""Longer values (SQL statements) are checked each time rather than remembered."""


class Redactor:
    """The compiled rules of one server, with the hash secret; pickles as its rules."""

    def __init__(self, rules: tuple[RedactionRule, ...], secret: bytes | None = None) -> None:
        self.rules = rules
        self.secret = secret
        self._compiled = tuple(_Compiled(r) for r in rules)
        self.fingerprint = repr(rules) + (hashlib.sha256(secret).hexdigest() if secret else "")
        self._memo, self._values = _MEMOS.setdefault(self.fingerprint, ({}, {}))
        if any(r.action == "hash" for r in rules) and not secret:
            raise ValueError("a hash rule needs the secret (see redactor_for)")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (self.rules, self.secret))

    def rules_for(self, key: str) -> tuple[_Compiled, ...]:
        """The rules whose key part matches ``key`` (memoized per distinct key)."""
        found = self._memo.get(key)
        if found is None:
            lowered = key.lower()
            found = tuple(c for c in self._compiled if c.key_match is None or c.key_match(lowered))
            if len(self._memo) >= MEMO_ENTRIES:
                self._memo.clear()
            self._memo[key] = found
        return found

    def redact(self, key: str, value: Any) -> Any:
        """``value`` as the rules leave it: :data:`NOCHANGE`, :data:`DROP` or the new value."""
        rules = self.rules_for(key)
        if not rules:
            return NOCHANGE
        if type(value) is not str or len(value) > MEMO_VALUE_CHARS:
            return self._redact(rules, value)
        memo_key = (key, value)
        out = self._values.get(memo_key)
        if out is None:
            out = self._redact(rules, value)
            if len(self._values) >= MEMO_ENTRIES:
                self._values.clear()
            self._values[memo_key] = out
        return out

    def _redact(self, rules: tuple[_Compiled, ...], value: Any) -> Any:
        current = value
        for c in rules:
            out = self._apply(c, current)
            if out is DROP:
                return DROP
            if out is not NOCHANGE:
                current = out
        return NOCHANGE if current is value else current

    def _apply(self, c: _Compiled, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._apply(c, v) for v in value]
            if all(i is NOCHANGE for i in items):
                return NOCHANGE
            if any(i is DROP for i in items):
                return DROP
            return [v if i is NOCHANGE else i for v, i in zip(value, items, strict=True)]
        rule = c.rule
        if c.value_re is not None:
            if not isinstance(value, str):
                return NOCHANGE
            return self._apply_pattern(c, value)
        if rule.action == "drop":
            return DROP
        if rule.action == "hash":
            return self._hash(value)
        return _mask(value, rule.keep_prefix, rule.keep_suffix)

    def _apply_pattern(self, c: _Compiled, value: str) -> Any:
        assert c.value_re is not None
        rule = c.rule
        if rule.card_numbers:
            changed = False

            def star(m: re.Match[str]) -> str:
                nonlocal changed
                text = m.group()
                if not luhn_valid(text.replace(" ", "").replace("-", "")):
                    return text
                changed = True
                return re.sub("[0-9]", "*", text)

            out = CARD_NUMBER.sub(star, value)
            return out if changed else NOCHANGE
        if rule.action == "hash":
            if _HASHED.fullmatch(value) or c.value_re.search(value) is None:
                return NOCHANGE
            return self._hash(value)
        if c.value_re.search(value) is None:
            return NOCHANGE
        if rule.action == "drop":
            return DROP
        out = c.value_re.sub(lambda m: _mask(m.group(), rule.keep_prefix, rule.keep_suffix), value)
        return NOCHANGE if out == value else out

    def _hash(self, value: Any) -> Any:
        if isinstance(value, str):
            if _HASHED.fullmatch(value):
                return NOCHANGE  # already ours (a WAL replay)
            data = value.encode()
        else:
            data = orjson.dumps(value, default=str)
        assert self.secret is not None
        return HASH_PREFIX + hmac.new(self.secret, data, hashlib.sha256).hexdigest()[:32]


_RESTORED: dict[tuple[tuple[RedactionRule, ...], bytes | None], Redactor] = {}


def _restore(rules: tuple[RedactionRule, ...], secret: bytes | None) -> Redactor:
    """Unpickling in a decode worker (once per request): compile a rule set once."""
    found = _RESTORED.get((rules, secret))
    if found is None:
        if len(_RESTORED) > 16:
            _RESTORED.clear()
        found = _RESTORED[(rules, secret)] = Redactor(rules, secret)
    return found


def _mask(value: Any, keep_prefix: int, keep_suffix: int) -> Any:
    if not isinstance(value, str) or len(value) <= keep_prefix + keep_suffix:
        return NOCHANGE if value == MASK else MASK
    end = len(value) - keep_suffix
    if value == MASK or value[keep_prefix:end] == MASK:
        return NOCHANGE  # our own output: masking is idempotent, so WAL replay is too
    return value[:keep_prefix] + MASK + value[end:]


# --- configuration ----------------------------------------------------------------------


def parse_redaction(raw: Any, defaults: Any, error: type[ValueError]) -> tuple[RedactionRule, ...]:
    """Validate ``[[redaction]]`` tables and ``redaction_defaults``; errors name the rule."""
    if not isinstance(defaults, bool):
        raise error(f"redaction_defaults = {defaults!r}: expected true or false")
    if raw is None:
        raw = []
    if isinstance(raw, Mapping) and "defaults" in raw:
        raise error(
            f"redaction.defaults = {raw['defaults']!r}: the switch is the top-level key "
            "redaction_defaults (before any table); [[redaction]] tables are the rules"
        )
    if not isinstance(raw, list):
        raise error(f"redaction = {raw!r}: expected [[redaction]] tables, one per rule")
    rules = [_parse_rule(item, f"redaction[{i}]", error) for i, item in enumerate(raw)]
    return tuple(rules) + (DEFAULT_RULES if defaults else ())


def _parse_rule(item: Any, at: str, error: type[ValueError]) -> RedactionRule:
    if not isinstance(item, Mapping):
        raise error(f"{at} = {item!r}: expected a table with 'key' or 'value' and 'action'")
    unknown = sorted(set(item) - set(RULE_KEYS))
    if unknown:
        raise error(f"{at}: unknown key {unknown[0]!r}; expected one of {list(RULE_KEYS)}")
    name = item.get("name", at)
    if not isinstance(name, str) or not name:
        raise error(f"{at}.name = {name!r}: expected a non-empty string")
    action = item.get("action")
    if action not in ACTIONS:
        raise error(f"{at}.action = {action!r}: expected one of {list(ACTIONS)}")
    for k in ("key", "key_regex", "value"):
        v = item.get(k)
        if v is not None and (not isinstance(v, str) or not v):
            raise error(f"{at}.{k} = {v!r}: expected a non-empty string")
    if "key" in item and "key_regex" in item:
        raise error(f"{at}: give 'key' (exact or glob) or 'key_regex', not both")
    if not any(k in item for k in ("key", "key_regex", "value")):
        raise error(f"{at}: needs 'key', 'key_regex' or 'value' (what to redact)")
    for k in ("key_regex", "value"):
        if k in item:
            try:
                re.compile(item[k])
            except re.error as exc:
                raise error(
                    f"{at}.{k} = {item[k]!r}: not a valid regular expression: {exc}"
                ) from None
    if "value" in item and re.compile(item["value"]).search(""):
        raise error(f"{at}.value = {item['value']!r}: matches the empty string; it must "
                    "match what to redact")  # fmt: skip
    keep: dict[str, int] = {}
    for k in ("keep_prefix", "keep_suffix"):
        v = item.get(k, 0)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise error(f"{at}.{k} = {v!r}: expected a whole number of characters, 0 or more")
        if v and action != "mask":
            raise error(f"{at}.{k}: only action 'mask' keeps characters (this is {action!r})")
        keep[k] = v
    key = item.get("key")
    return RedactionRule(
        name,
        action,
        key=key.lower() if key else None,
        key_regex=item.get("key_regex"),
        value=item.get("value"),
        keep_prefix=keep["keep_prefix"],
        keep_suffix=keep["keep_suffix"],
    )


def redactor_for(rules: tuple[RedactionRule, ...], data_dir: Path) -> Redactor | None:
    """The server's :class:`Redactor` (None with no rules); a hash rule reads, or creates,
    the secret ``<data_dir>/redaction.key``."""
    if not rules:
        return None
    secret = None
    if any(r.action == "hash" for r in rules):
        secret = load_secret(Path(data_dir) / SECRET_FILE)
    return Redactor(rules, secret)


def load_secret(path: Path) -> bytes:
    """32 random bytes kept in ``path`` (created once, mode 0600)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_bytes()
        if len(secret) < 16:
            raise ValueError(
                f"{path}: holds {len(secret)} bytes, expected the 32-byte redaction secret; "
                "delete it to make a new one (hashed values will then differ)"
            ) from None
        return secret
    secret = os.urandom(32)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
        f.flush()
        os.fsync(f.fileno())
    return secret
