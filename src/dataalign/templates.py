"""The two kinds of text templates a config holds, and the fields each reads.

- A dataset's `template:` joins a row's fields into one training text; `{field}` is replaced by
  the field's value (`PLACEHOLDER`), other text is kept as written.
- A panel's `prompt:` templates are Python format strings (`str.format`), so `{{` and `}}` are
  literal braces (`format_fields`).
"""

from __future__ import annotations

import re
import string

PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def format_fields(template: str) -> list[str]:
    """The row fields a str.format template reads, in order ({{ and }} are literal braces).

    Raises ValueError for what str.format would refuse: unbalanced braces, a positional `{}`.
    """
    fields = []
    for _, field, _, _ in string.Formatter().parse(template):
        if field is None:
            continue
        name = re.split(r"[.\[]", field, maxsplit=1)[0]
        if not name or name.isdigit():
            raise ValueError(f"a positional placeholder {{{field}}} names no field")
        fields.append(name)
    return list(dict.fromkeys(fields))
