#!/usr/bin/env python3
"""Generates clawshield_vectors.jsonl: ClawShield canonical JSON test vectors.

Each line is {"input": <JSON text>, "canonical": <expected output>}, where the expected output
is exactly json.dumps(json.loads(input), sort_keys=True, separators=(",", ":")), the reference
the gateway must match byte for byte (SPEC section 4).

Python's json.loads accepts inputs the gateway's strict reader refuses (NaN, duplicate keys,
lone surrogates, integers over 4300 digits, floats written with more precision than a double
keeps), so every input is checked against those rules before it is emitted.

Deterministic: fixed seed, no dependence on the environment. Run from this directory:
    python3 make_clawshield_vectors.py > clawshield_vectors.jsonl
"""

import json
import random
import re
import struct
import sys
from decimal import Decimal

RNG = random.Random(20261124)
MAX_DEPTH = 64
MAX_INT_DIGITS = 4300

vectors = []


def canonical(text):
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


# --- the strict reader's rules, to keep refused inputs out of the corpus --------------------

NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z")


def number_accepted(literal):
    if not NUMBER.match(literal):
        return False
    if not any(c in literal for c in ".eE"):
        return len(literal.lstrip("-")) <= MAX_INT_DIGITS
    value = float(literal)
    if value != value or value in (float("inf"), float("-inf")):
        return False
    return Decimal(literal) == Decimal(repr(value))


def check_strict(text):
    """Raises if the strict reader would refuse text (the parts json.loads does not check)."""
    if text.startswith("\ufeff"):
        raise ValueError("BOM")
    depth = 0
    max_depth = 0
    in_string = False
    escape = False
    i = 0
    while i < len(text):
        c = text[i]
        if in_string:
            if escape:
                escape = False
            elif c == "\\":
                escape = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            max_depth = max(max_depth, depth)
        elif c in "]}":
            depth -= 1
        elif c in "-0123456789":
            m = re.compile(r"-?[0-9.eE+-]+").match(text, i)
            if not number_accepted(m.group(0)):
                raise ValueError("number refused: " + m.group(0)[:40])
            i = m.end()
            continue
        i += 1
    if max_depth > MAX_DEPTH:
        raise ValueError("too deep")

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)

    def no_constants(name):
        raise ValueError("constant " + name)

    value = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)

    def no_lone_surrogates(v):
        if isinstance(v, str):
            if any(0xD800 <= ord(ch) <= 0xDFFF for ch in v):
                raise ValueError("lone surrogate")
        elif isinstance(v, list):
            for x in v:
                no_lone_surrogates(x)
        elif isinstance(v, dict):
            for k, x in v.items():
                no_lone_surrogates(k)
                no_lone_surrogates(x)

    no_lone_surrogates(value)
    text.encode("utf-8")  # must be valid UTF-8 (no lone surrogates in the raw text either)


def add(text):
    check_strict(text)
    vectors.append({"input": text, "canonical": canonical(text)})


def add_value(value, ensure_ascii=True, **kwargs):
    add(json.dumps(value, ensure_ascii=ensure_ascii, **kwargs))


# --- strings: unicode, controls, escapes ----------------------------------------------------

UNICODE_SAMPLES = [
    "plain ascii", "", " ", "caf\u00e9", "na\u00efve r\u00e9sum\u00e9", "\u00f6\u00e4\u00fc\u00df",
    "e\u0301", "a\u0308\u0304", "\u0915\u094d\u0937", "\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627",
    "\u202eRTL override\u202c", "\u200f\u200e", "\u4e2d\u6587", "\u65e5\u672c\u8a9e", "\ud55c\uad6d\uc5b4",
    "\u20ac", "\u00a0", "\u2028\u2029", "\ufeffBOM inside", "\ufffd", "\uffff", "\ue000", "\uf8ff",
    "\u0080", "\u009f", "\u00ff", "\u0100", "\u07ff", "\u0800", "\ud7ff",
    "\U0001f600", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1fa\U0001f1f8",
    "\U00010000", "\U0010ffff", "\U0001d11e", "\U00020000", "mixed \U0001f600 and \u00e9 and \u4e2d",
    "tab\there", "line\nbreak", "cr\rlf\n", "quote\"back\\slash", "slash/slash", "</script>",
    "\u007f", "DEL\u007fmid", "\b\f", "all\"\\\b\f\n\r\t",
]

for s in UNICODE_SAMPLES:
    add_value(s)                            # escaped in input
    add_value(s, ensure_ascii=False)        # raw UTF-8 in input (duplicates are harmless)
    add_value({"k": s, s: [s]} if s != "k" else {"k": s})

# Every control char and DEL, as a value and as a key, with \u escapes and short forms.
for cp in list(range(0x20)) + [0x7F]:
    ch = chr(cp)
    add_value(ch)
    add_value({ch: cp, "x" + ch + "y": ch})
    add('"\\u%04X"' % cp)  # uppercase hex in input

add(r'"\/"')
add(r'"a\/b\/\/c"')
add(r'{"\/":"\/"}')
add(r'"\ud83d\ude00"')
add(r'"\uD83D\uDE00"')
add(r'"\udbff\udfff"')
add(r'"\u00e9\u00E9"')
add(r'"\"\\\/\b\f\n\r\t"')

# --- key order traps --------------------------------------------------------------------------

KEY_SETS = [
    ["\ue000", "\U0001f600", "\uffff", "\U00010000", "\ufb33", "a"],
    ["\U0010ffff", "\uffff", "\ufffd", "\ue000", "\ud7ff"],
    ["b", "B", "a", "A", "_", "0", "~", " "],
    ["ab", "a", "abc", "", "aa", "a\u0000", "a\u0001"],
    ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"],
    ["\u00e9", "e\u0301", "e", "f"],
    ["key", "Key", "KEY", "kEy"],
    ["10", "9", "1", "100", "-1"],
    ["\U0001f600a", "\U0001f600", "\U0001f601", "\U0001f5ff", "\uff00"],
]
for keys in KEY_SETS:
    add_value({k: i for i, k in enumerate(keys)})
    add_value({k: i for i, k in enumerate(reversed(keys))}, ensure_ascii=False)
    add_value({"outer": {k: {k: k} for k in keys}})

add("{}")
add("[]")
add('{"":""}')
add('{"a":{},"b":[],"c":[{}],"d":[[]]}')
add("[{},[],{\"\":[]}]")

# --- literals and whitespace -----------------------------------------------------------------

for text in ["true", "false", "null", "[true,false,null]", '{"t":true,"f":false,"n":null}']:
    add(text)
add(' \t\r\n{ "b" : [ 1 , 2 ] ,\n\t"a" : { "y" : null , "x" : true } }\r\n ')
add("\n[\n  1,\n  2.5,\n  \"x\"\n]\n")
add("  42  ")
add('\t"s"\t')
add("{\r\n\"k\"\r\n:\r\n-0\r\n}")

# --- numbers ----------------------------------------------------------------------------------

FLOATS = [
    0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 0.1, 0.2, 0.30000000000000004, 3.141592653589793, 2.718281828459045,
    100.0, 1e-4, 1e-5, 9.999999999999999e-05, 0.00011, 1e15, 1e16, 1e17, 9999999999999998.0,
    1e16 - 2, 1.2345678901234568e17, 123456789.123, 1e21, 1e22, 1e23, 1e100, 1e300, 1e308,
    5e-324, -5e-324, 1e-323, 2.2250738585072014e-308, 2.225073858507201e-308,
    1.7976931348623157e308, -1.7976931348623157e308, 4.9406564584124654e-324,
    9007199254740992.0, 9007199254740994.0, 1e-7, 1e-6, 123e-20, -2.5e-3, 0.001, 0.01,
    333333333.3333333, 1424953923781206.2, 4.35, 0.000123, 12345.678,
]
for exponent in range(-30, 31):
    FLOATS.append(10.0 ** exponent)
    FLOATS.append(-1.5 * 10.0 ** exponent)
    FLOATS.append(float("1.234567890123e%d" % exponent))
for _ in range(120):
    # Random doubles from random bit patterns (finite only): all magnitudes incl. subnormals.
    bits = RNG.getrandbits(64)
    x = struct.unpack("<d", struct.pack("<Q", bits))[0]
    if x == x and x not in (float("inf"), float("-inf")):
        FLOATS.append(x)

for x in FLOATS:
    add(repr(x))
add("[" + ",".join(repr(x) for x in FLOATS) + "]")

# Other spellings of exactly representable values: trailing zeros, exponents, zeros.
for literal in ["1.50", "1.0", "1E2", "1e2", "1E+2", "1e+2", "1e-2", "1E-2", "2.5e-3", "-0.0", "0.0",
                "0e10", "0E-10", "0.0e-5", "-0e0", "-0.000", "10.0e-1", "0.1e1", "100e-2", "1.000000",
                "12.5e+0", "125e-1", "0.0001", "1e-05", "1e16", "1E+16", "9999999999999998.0",
                "1.7976931348623157e308", "5e-324",
                "2.2250738585072014E-308", "1e22", "1e23", "0.30000000000000004", "-1.5e300"]:
    add(literal)
    add('{"n":%s}' % literal)

# Integers: -0, small, 64-bit edges, huge (up to the 4300-digit limit).
for literal in ["0", "-0", "1", "-1", "42", "9007199254740993", "18446744073709551616",
                "-9223372036854775809", "123456789012345678901234567890"]:
    add(literal)
for digits in [17, 100, 309, 500, 1000, 2000, 4299, 4300]:
    body = str(RNG.randint(1, 9)) + "".join(str(RNG.randint(0, 9)) for _ in range(digits - 1))
    add(body)
    add("-" + body)
    add('{"big":[%s,-%s]}' % (body, body))

# --- nesting ----------------------------------------------------------------------------------

for depth in [1, 2, 10, 32, 63, 64]:
    add("[" * depth + "]" * depth)
    add('{"a":' * (depth - 1) + "{}" + "}" * (depth - 1))
    text = ""
    for level in range(depth):
        text += '{"k%d":' % level if level % 2 == 0 else "["
    text += "1"
    for level in reversed(range(depth)):
        text += "}" if level % 2 == 0 else "]"
    add(text)

# --- random documents -------------------------------------------------------------------------

ALPHABET = (
    [chr(c) for c in range(0x20, 0x7F)] * 4
    + [chr(c) for c in range(0x00, 0x20)] + ["\u007f", "\u0080", "\u00e9", "\u0301", "\u05d0", "\u0627"]
    + ["\u20ac", "\u4e2d", "\ue000", "\uffff", "\ufb33", "\U0001f600", "\U00010000", "\U0010ffff"]
)


def random_string(max_len=12):
    return "".join(RNG.choice(ALPHABET) for _ in range(RNG.randint(0, max_len)))


def random_number():
    kind = RNG.randrange(4)
    if kind == 0:
        return str(RNG.randint(-10 ** 6, 10 ** 6))
    if kind == 1:
        return str(RNG.randint(-10 ** 60, 10 ** 60))
    if kind == 2:
        return repr(RNG.uniform(-1e6, 1e6))
    return repr(RNG.choice([1.0, -1.0]) * RNG.random() * 10.0 ** RNG.randint(-320, 300))


def random_value(depth):
    kind = RNG.randrange(8 if depth < 6 else 5)
    if kind == 0:
        return json.dumps(random_string(), ensure_ascii=RNG.random() < 0.5)
    if kind == 1:
        return random_number()
    if kind == 2:
        return RNG.choice(["true", "false", "null"])
    if kind in (3, 4):
        return json.dumps(random_string(30), ensure_ascii=False)
    if kind == 5:
        return "[" + ",".join(random_value(depth + 1) for _ in range(RNG.randint(0, 5))) + "]"
    keys = []
    while len(keys) < RNG.randint(0, 6):
        key = random_string(6)
        if key not in keys:
            keys.append(key)
    ws = RNG.choice(["", " ", "\n  "])
    return "{" + ws + ("," + ws).join(
        json.dumps(k, ensure_ascii=RNG.random() < 0.5) + ws + ":" + ws + random_value(depth + 1) for k in keys
    ) + ws + "}"


for _ in range(150):
    add(random_value(0))

# --- output -----------------------------------------------------------------------------------

assert len(vectors) >= 300, len(vectors)
out = sys.stdout
for vector in vectors:
    out.write(json.dumps(vector, ensure_ascii=True, separators=(",", ":")) + "\n")
print("%d vectors" % len(vectors), file=sys.stderr)
