#!/usr/bin/env python3
"""Grep outputs for the secrets of secrets.json, in every form they could leak in.

    check.py SECRETS_JSON OUTPUT...   (files, or folders of files)

A secret leaks when any output holds, of its value, of each random-looking part of it (a run
of 10 or more letters and digits mixing both: the passwords and tokens of this fixture), or of
the password of a URL or DSN it is:
  - the text itself, or its bytes as hex or as a list of numbers ("86, 76, 108", Rust's {:?});
  - its base64, standard or URL-safe, padded or not, and, for parts, the base64 characters that
    stand for them inside any longer encoded text (every byte alignment): HTTP Basic's
    `user:password`, SASL PLAIN's `\\0user\\0password`;
  - the base64 of `user:password` and `\\0user\\0password` for the fixture's users.
Prints each hit as `output: secret NAME leaked as FORM` and exits 1 when there is any.
Also importable: `forms(value)` and `scan(secrets, {label: text})`.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

# The user names of the fixture's components (saslUsername, URL userinfo).
USERS = ["leak", "guest", "default", "leakuser"]


def _b64_variants(data: bytes) -> List[Tuple[str, str]]:
    out = []
    for alpha, enc in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        full = enc(data).decode()
        out.append((alpha, full))
        out.append((alpha + " unpadded", full.rstrip("=")))
    return out


def _b64_fragments(data: bytes) -> List[Tuple[str, str]]:
    """For each of the three alignments of `data` in a longer text, the base64 characters
    that depend only on `data`'s own bits."""
    out = []
    for alpha, enc in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        for k in range(3):
            text = enc(b"\0" * k + data).decode()
            first = -(-8 * k // 6)
            last = 8 * (k + len(data)) // 6
            frag = text[first:last]
            if len(frag) >= 8:
                out.append((f"{alpha} (inside a longer encoding, offset {k})", frag))
    return out


def parts(value: str) -> List[str]:
    """The random-looking parts of a value, and the password of a URL or DSN it is."""
    found = [r for r in re.split(r"[^A-Za-z0-9]", value)
             if len(r) >= 10 and re.search(r"[0-9]", r) and re.search(r"[A-Za-z]", r)]
    m = re.match(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?([^?#]*)@", value)
    if m and ":" in m.group(1):
        found.append(m.group(1).split(":", 1)[1])
    return list(dict.fromkeys(p for p in found if p and p != value))


def forms(value: str) -> List[Tuple[str, str]]:
    """(how, text) for every form of `value` to look for."""
    out: List[Tuple[str, str]] = []
    for what, v in [("value", value)] + [("part", p) for p in parts(value)]:
        raw = v.encode()
        out.append((what, v))
        out.append((f"{what} as hex", raw.hex()))
        if len(raw) >= 4:
            out.append((f"{what} as a byte list", ", ".join(str(b) for b in raw)))
        out += [(f"{what} in {how}", t) for how, t in _b64_variants(raw)]
        if what == "part":
            out += [(f"{what} in {how}", t) for how, t in _b64_fragments(raw)]
            for user in USERS:
                for shape, combo in ((f"{user}:…", f"{user}:{v}"), (f"\\0{user}\\0…", f"\0{user}\0{v}")):
                    out += [(f"{shape} in {how}", t) for how, t in _b64_variants(combo.encode())]
    seen = set()
    return [(h, t) for h, t in out if len(t) >= 4 and not (t in seen or seen.add(t))]


def scan(secrets: Dict[str, str], outputs: Dict[str, str]) -> List[str]:
    """Every leak: `label: secret NAME leaked as HOW`."""
    hits = []
    table = [(name, how, text) for name, value in secrets.items() for how, text in forms(value)]
    for label, content in outputs.items():
        for name, how, text in table:
            if text in content:
                line = next(l for l in content.splitlines() if text in l)
                hits.append(f"{label}: secret {name!r} leaked as {how}: {line.strip()[:300]}")
    return hits


def _files(args: Iterable[str]) -> Dict[str, str]:
    out = {}
    for a in args:
        p = Path(a)
        for f in sorted(p.iterdir()) if p.is_dir() else [p]:
            out[f.name] = f.read_text(errors="replace")
    return out


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    secrets = json.loads(Path(sys.argv[1]).read_text())
    outputs = _files(sys.argv[2:])
    hits = scan(secrets, outputs)
    for h in hits:
        print(h)
    print(f"{len(outputs)} output(s) checked for {len(secrets)} secret(s): "
          + (f"{len(hits)} leak(s)" if hits else "no leak"))
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
