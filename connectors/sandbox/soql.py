"""The small SOQL subset the Salesforce sandbox answers on `GET …/query?q=`.

Enough for an adapter to look records up by external ID in bulk:

    SELECT Id, Name, MDM_Id__c FROM Account
    WHERE MDM_Id__c IN ('CUS-000001', 'CUS-000002') AND IsDeleted = false
    ORDER BY Name DESC LIMIT 10

Conditions: `=`, `!=` and `IN (...)` joined by AND; literals are quoted strings, numbers,
true/false/null. Anything else is a MALFORMED_QUERY, as Salesforce would answer for a query
it cannot parse (ours just parses less).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>!=|=|,|\(|\))"
    r"|(?P<word>[A-Za-z_][\w.]*))"
)


class SoqlError(ValueError):
    """The query is outside the supported subset or malformed."""


@dataclass
class Condition:
    field: str
    op: str  # "=", "!=", "IN"
    values: list[Any]

    def matches(self, value: Any) -> bool:
        hit = any(_same(value, v) for v in self.values)
        return not hit if self.op == "!=" else hit


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: list[Condition] = field(default_factory=list)
    order_by: str | None = None
    descending: bool = False
    limit: int | None = None


def _same(stored: Any, literal: Any) -> bool:
    if isinstance(literal, str) and isinstance(stored, str):
        return stored.lower() == literal.lower()  # SOQL string comparison ignores case
    return stored == literal


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise SoqlError(f"unexpected token at: {text[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise SoqlError("unexpected end of query")
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1].upper() == word:
            self.i += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise SoqlError(f"expecting {word}")

    def name(self) -> str:
        kind, value = self.take()
        if kind != "word":
            raise SoqlError(f"expecting a field name, got {value!r}")
        return value

    def literal(self) -> Any:
        kind, value = self.take()
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "word" and value.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value.lower()]
        raise SoqlError(f"expecting a literal, got {value!r}")


def parse(text: str) -> Query:
    p = _Parser(text)
    p.expect_keyword("SELECT")
    fields = [p.name()]
    while p.peek() == ("op", ","):
        p.take()
        fields.append(p.name())
    p.expect_keyword("FROM")
    query = Query(fields=fields, sobject=p.name())
    if p.keyword("WHERE"):
        query.where.append(_condition(p))
        while p.keyword("AND"):
            query.where.append(_condition(p))
    if p.keyword("ORDER"):
        p.expect_keyword("BY")
        query.order_by = p.name()
        query.descending = p.keyword("DESC")
        if not query.descending:
            p.keyword("ASC")
    if p.keyword("LIMIT"):
        kind, value = p.take()
        if kind != "num":
            raise SoqlError("LIMIT needs a number")
        query.limit = int(value)
    if p.peek() is not None:
        raise SoqlError(f"unexpected token {p.peek()[1]!r}")  # type: ignore[index]
    return query


def _condition(p: _Parser) -> Condition:
    name = p.name()
    if p.keyword("IN"):
        if p.take() != ("op", "("):
            raise SoqlError("expecting ( after IN")
        values = [p.literal()]
        while p.peek() == ("op", ","):
            p.take()
            values.append(p.literal())
        if p.take() != ("op", ")"):
            raise SoqlError("expecting )")
        return Condition(name, "IN", values)
    kind, op = p.take()
    if kind != "op" or op not in ("=", "!="):
        raise SoqlError(f"unsupported operator {op!r}")
    return Condition(name, op, [p.literal()])
