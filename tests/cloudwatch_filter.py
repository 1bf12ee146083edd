"""An evaluator for the part of CloudWatch Logs' JSON filter pattern syntax that template.yaml uses.

    { $.message = "request" && ($.status = 401 || $.status >= 500) }

Supported: one pattern in braces; selectors `$.a` and `$.a.b`; the comparisons `=`, `!=`, `<`,
`<=`, `>`, `>=`; double-quoted string literals (`=` and `!=` only) and decimal number literals;
`&&`, `||` and parentheses. Anything else (wildcards `*`, `IS NULL`, `NOT EXISTS`, `IS TRUE`,
regular expressions, unquoted strings, array indexes, space-delimited or plain-text patterns)
raises UnsupportedPattern, so a template pattern can never be half-understood here.

Semantics, as CloudWatch documents them for JSON log events:
- A line that is not a JSON object matches no JSON pattern.
- A comparison with a field that is absent (or null) is false, whatever the operator.
- A string literal compares only with a JSON string, exactly and case-sensitively; a number
  literal compares only with a JSON number (not a boolean).
Whether CloudWatch would coerce "401" to 401 is not settled by its documentation; this
evaluator never does. metric_filters_test.py therefore also checks that no pattern of the
template ever compares a field of a real log line with a literal of another type, so no
verdict here depends on that choice.
"""

import json
import re


class UnsupportedPattern(ValueError):
    """The pattern uses syntax outside the supported subset."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
      | (?P<selector>\$(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?![\w\[.]))
      | (?P<op>&&|\|\||<=|>=|!=|=|<|>)
      | (?P<paren>[()])
    )""",
    re.VERBOSE,
)


def _tokens(body):
    position, tokens = 0, []
    while position < len(body):
        if body[position:].strip() == "":
            break
        match = _TOKEN.match(body, position)
        if not match:
            raise UnsupportedPattern(f"unsupported syntax at {body[position:]!r}")
        kind = match.lastgroup
        text = match.group(kind)
        if kind == "string":
            value = json.loads(text)
            if "*" in value:
                raise UnsupportedPattern(f"wildcards are not supported: {text}")
            tokens.append(("literal", value))
        elif kind == "number":
            tokens.append(("literal", float(text) if "." in text else int(text)))
        else:
            tokens.append((kind, text))
        position = match.end()
    return tokens


class Comparison:
    def __init__(self, selector, operator, literal):
        if isinstance(literal, str) and operator not in ("=", "!="):
            raise UnsupportedPattern(f"{operator} needs a number, not the string {literal!r}")
        self.path = selector[2:].split(".")
        self.selector, self.operator, self.literal = selector, operator, literal

    def value(self, event):
        """(present, value) of this comparison's field in a decoded log event."""
        for key in self.path:
            if not isinstance(event, dict) or key not in event:
                return False, None
            event = event[key]
        return event is not None, event

    def holds(self, event):
        present, value = self.value(event)
        if not present:
            return False
        if isinstance(self.literal, str):
            if not isinstance(value, str):
                return False
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return {
            "=": value == self.literal,
            "!=": value != self.literal,
            "<": not isinstance(value, str) and value < self.literal,
            "<=": not isinstance(value, str) and value <= self.literal,
            ">": not isinstance(value, str) and value > self.literal,
            ">=": not isinstance(value, str) and value >= self.literal,
        }[self.operator]

    def comparisons(self):
        return [self]


class Junction:
    def __init__(self, operator, parts):
        self.operator, self.parts = operator, parts

    def holds(self, event):
        results = (part.holds(event) for part in self.parts)
        return all(results) if self.operator == "&&" else any(results)

    def comparisons(self):
        return [c for part in self.parts for c in part.comparisons()]


class Pattern:
    """A parsed filter pattern."""

    def __init__(self, text):
        stripped = text.strip()
        if not (stripped.startswith("{") and stripped.endswith("}")):
            raise UnsupportedPattern(f"only JSON patterns in braces are supported: {text!r}")
        self.text = text
        self._tokens = _tokens(stripped[1:-1])
        self._position = 0
        self.root = self._expression()
        if self._position != len(self._tokens):
            raise UnsupportedPattern(f"unexpected {self._tokens[self._position][1]!r} in {text!r}")

    def _peek(self):
        return self._tokens[self._position] if self._position < len(self._tokens) else (None, None)

    def _take(self, kind):
        token_kind, text = self._peek()
        if token_kind != kind:
            raise UnsupportedPattern(f"expected {kind}, found {text!r} in {self.text!r}")
        self._position += 1
        return text

    def _expression(self):
        parts, operator = [self._term()], None
        while self._peek()[1] in ("&&", "||"):
            next_operator = self._take("op")
            if operator and next_operator != operator:
                raise UnsupportedPattern(f"mixing && and || needs parentheses: {self.text!r}")
            operator = next_operator
            parts.append(self._term())
        return parts[0] if operator is None else Junction(operator, parts)

    def _term(self):
        if self._peek() == ("paren", "("):
            self._position += 1
            inner = self._expression()
            self._take("paren")
            return inner
        selector = self._take("selector")
        operator = self._take("op")
        if operator in ("&&", "||"):
            raise UnsupportedPattern(f"{selector} needs a comparison in {self.text!r}")
        kind, literal = self._peek()
        if kind != "literal":
            raise UnsupportedPattern(f"{selector} {operator} needs a quoted string or a number")
        self._position += 1
        return Comparison(selector, operator, literal)

    def matches(self, line):
        """Whether the raw log line (its text, as CloudWatch Logs receives it) matches."""
        try:
            event = json.loads(line)
        except ValueError:
            return False
        return isinstance(event, dict) and self.root.holds(event)

    def comparisons(self):
        return self.root.comparisons()


def field(line, selector):
    """(present, value) of a `$.a.b` selector in a raw JSON log line, as metric values and
    dimensions read it."""
    return Comparison(selector, "=", "").value(json.loads(line))
