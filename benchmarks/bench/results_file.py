"""Generated sections of benchmarks/RESULTS.md: `<!-- generated:NAME -->` ... `<!-- /generated:NAME -->`.

Everything outside the markers is somebody's hand-written text and is kept byte for byte. A
section already in the file is replaced where it stands; a new one is appended at the end.
"""

from __future__ import annotations

import re


def begin(name: str) -> str:
    return f"<!-- generated:{name} -->"


def end(name: str) -> str:
    return f"<!-- /generated:{name} -->"


def replace_section(text: str, name: str, body: str) -> str:
    """`text` with section `name` holding `body` (markers included; appended if absent)."""
    block = f"{begin(name)}\n{body.rstrip()}\n{end(name)}"
    pattern = re.compile(re.escape(begin(name)) + r".*?" + re.escape(end(name)), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    return text.rstrip("\n") + "\n\n" + block + "\n"


def sections(text: str) -> dict[str, str]:
    """name -> body of every generated section in `text`."""
    found = re.finditer(r"<!-- generated:([\w.-]+) -->\n(.*?)\n<!-- /generated:\1 -->", text, re.DOTALL)
    return {m.group(1): m.group(2) for m in found}
