# SPDX-License-Identifier: BSD-2-Clause
"""A strict parser of the Prometheus text exposition format (0.0.4).

Written from the format's specification, independently of limen's C
writer, to check /metrics the way a Prometheus server would read it, and
stricter where the spec says "must": every family's TYPE before its
samples, each family's samples together, no duplicate series, valid
names and escapes, counters named *_total, histograms with ascending
`le` buckets that never decrease, a +Inf bucket equal to _count, and a
_sum.  Raises PromError with the line number on the first problem.

    families = parse(text)
    families["limen_http_requests_total"].samples -> [Sample, ...]
"""
import math
import re

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class PromError(ValueError):
    pass


class Sample:
    def __init__(self, name, labels, value):
        self.name = name
        self.labels = labels
        self.value = value

    def __repr__(self):
        return "%s%r %r" % (self.name, self.labels, self.value)


class Family:
    def __init__(self, name):
        self.name = name
        self.type = None
        self.help = None
        self.samples = []

    def get(self, **labels):
        """The value of the one sample with exactly these labels."""
        for s in self.samples:
            if s.labels == labels:
                return s.value
        raise KeyError("%s%r not found" % (self.name, labels))

    def find(self, suffix="", **labels):
        """Samples whose labels include these (name may carry a suffix)."""
        return [s for s in self.samples if s.name == self.name + suffix and
                all(s.labels.get(k) == v for k, v in labels.items())]


def _value(s, lineno):
    if s in ("+Inf", "Inf", "inf", "+inf"):
        return math.inf
    if s in ("-Inf", "-inf"):
        return -math.inf
    if s in ("NaN", "nan"):
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        raise PromError("line %d: bad value %r" % (lineno, s))
    return float(s)


def _labels(text, pos, lineno):
    """Parse from just after '{'; returns (dict, position after '}')."""
    labels = {}
    while True:
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == "}":
            return labels, pos + 1
        m = LABEL_NAME.match(text, pos)
        if not m:
            raise PromError("line %d: bad label name" % lineno)
        name = m.group(0)
        if name.startswith("__"):
            raise PromError("line %d: reserved label name %s" % (lineno, name))
        pos = m.end()
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if text[pos:pos + 2] != '="':
            raise PromError("line %d: expected =\" after %s" % (lineno, name))
        pos += 2
        value = []
        while True:
            if pos >= len(text):
                raise PromError("line %d: unterminated label value" % lineno)
            c = text[pos]
            if c == '"':
                pos += 1
                break
            if c == "\\":
                nxt = text[pos + 1:pos + 2]
                if nxt == "n":
                    value.append("\n")
                elif nxt in ("\\", '"'):
                    value.append(nxt)
                else:
                    raise PromError("line %d: bad escape \\%s" % (lineno, nxt))
                pos += 2
                continue
            if c == "\n":
                raise PromError("line %d: raw newline in label" % lineno)
            value.append(c)
            pos += 1
        if name in labels:
            raise PromError("line %d: duplicate label %s" % (lineno, name))
        labels[name] = "".join(value)
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        if pos < len(text) and text[pos] == "}":
            return labels, pos + 1
        raise PromError("line %d: expected , or }" % lineno)


def _family_of(name, families):
    """The family a sample name belongs to (histogram suffixes)."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            f = families.get(base)
            if f is not None and f.type in ("histogram", "summary"):
                return base
    return name


def parse(text):
    if not text.endswith("\n"):
        raise PromError("the exposition must end with a newline")
    families = {}
    order = []          # family names in the order their samples appear
    seen_series = set()
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not METRIC_NAME.fullmatch(parts[2]):
                    raise PromError("line %d: bad metric name" % lineno)
                f = families.setdefault(parts[2], Family(parts[2]))
                if f.samples:
                    raise PromError("line %d: %s after samples of %s" %
                                    (lineno, parts[1], f.name))
                if parts[1] == "TYPE":
                    if f.type is not None:
                        raise PromError("line %d: second TYPE for %s" %
                                        (lineno, f.name))
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise PromError("line %d: bad TYPE line" % lineno)
                    f.type = parts[3]
                else:
                    if f.help is not None:
                        raise PromError("line %d: second HELP for %s" %
                                        (lineno, f.name))
                    h = parts[3] if len(parts) == 4 else ""
                    if re.search(r"\\[^\\n]|\\$", h):
                        raise PromError("line %d: bad escape in HELP" % lineno)
                    f.help = h
            continue
        m = METRIC_NAME.match(line)
        if not m:
            raise PromError("line %d: bad metric name" % lineno)
        name = m.group(0)
        pos = m.end()
        labels = {}
        if pos < len(line) and line[pos] == "{":
            labels, pos = _labels(line, pos + 1, lineno)
        rest = line[pos:]
        if not rest or rest[0] not in " \t":
            raise PromError("line %d: expected a space before the value" %
                            lineno)
        fields = rest.split()
        if len(fields) not in (1, 2):
            raise PromError("line %d: trailing text" % lineno)
        value = _value(fields[0], lineno)
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            raise PromError("line %d: bad timestamp" % lineno)
        fname = _family_of(name, families)
        f = families.get(fname)
        if f is None or f.type is None:
            raise PromError("line %d: sample of %s without TYPE" %
                            (lineno, name))
        if order and order[-1] != fname and fname in order:
            raise PromError("line %d: samples of %s are not together" %
                            (lineno, fname))
        if not order or order[-1] != fname:
            order.append(fname)
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            raise PromError("line %d: duplicate series %s%r" %
                            (lineno, name, labels))
        seen_series.add(key)
        if f.type == "histogram" and name == fname:
            raise PromError("line %d: histogram sample without suffix" %
                            lineno)
        if f.type == "counter":
            if not fname.endswith("_total"):
                raise PromError("line %d: counter %s not named *_total" %
                                (lineno, fname))
            if value < 0 or math.isnan(value):
                raise PromError("line %d: counter below zero" % lineno)
        f.samples.append(Sample(name, labels, value))
    for f in families.values():
        if f.type == "histogram":
            _check_histogram(f)
    return families


def _check_histogram(f):
    groups = {}
    for s in f.samples:
        base = {k: v for k, v in s.labels.items() if k != "le"}
        key = tuple(sorted(base.items()))
        g = groups.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if s.name == f.name + "_bucket":
            if "le" not in s.labels:
                raise PromError("%s: bucket without le" % f.name)
            g["buckets"].append((_value(s.labels["le"], 0), s.value))
        elif s.name == f.name + "_sum":
            g["sum"] = s.value
        elif s.name == f.name + "_count":
            g["count"] = s.value
    for key, g in groups.items():
        b = g["buckets"]
        if not b or b[-1][0] != math.inf:
            raise PromError("%s%r: no +Inf bucket last" % (f.name, key))
        if [le for le, _ in b] != sorted(le for le, _ in b):
            raise PromError("%s%r: le not ascending" % (f.name, key))
        counts = [c for _, c in b]
        if counts != sorted(counts):
            raise PromError("%s%r: buckets decrease" % (f.name, key))
        if g["count"] is None or g["sum"] is None:
            raise PromError("%s%r: _sum or _count missing" % (f.name, key))
        if g["count"] != b[-1][1]:
            raise PromError("%s%r: _count != +Inf bucket" % (f.name, key))
