"""The valid name a mistyped one most likely means: one rule for every "did you mean ...?".

The link codec (an unknown key, preset or choice in a share link), the scenarios' constructors
(``Scenario(init="xavier")``) and the registries (``initializers.get("Relu")``) all suggest through
:func:`nearest`, so a student gets the same suggestion in a notebook as from a link. It lives in the
bottom layer (standard library only) so that the registries themselves can use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

__all__ = ["CUTOFF", "nearest", "suggestion"]

# difflib's similarity ratio 2M / (len(a) + len(b)) a spelling must reach to be suggested: 0.7 takes
# ``bias_valu`` -> ``bias_value`` and ``tr_datset`` -> ``tr_dataset``, and leaves ``nope`` unmatched.
CUTOFF = 0.7


def nearest(text: str, valid: Iterable[str], aliases: Mapping[str, str] | None = None,
            cutoff: float = CUTOFF) -> str | None:
    """The entry of ``valid`` that ``text`` most likely means, or None when none is close.

    In order: ``text`` itself; the same name in another case or with ``-`` for ``_`` (``ReLU`` -> ``relu``,
    ``he-normal`` -> ``he_normal``); a known other name (``aliases``, matched the same way: ``xavier`` ->
    ``glorot_uniform``, the name Keras gives Glorot & Bengio's initializer); the one name that starts with
    ``text`` (3 characters at least: ``std`` -> ``stddev``); the closest spelling
    (``difflib.get_close_matches`` with ratio at least ``cutoff``). An alias only counts when its target
    is valid here.
    """
    names = list(valid)
    if text in names:
        return text
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    folded = {n.lower(): n for n in names}
    if key in folded:
        return folded[key]
    for alias, target in (aliases or {}).items():
        if alias.lower() == key and target in names:
            return target
    starting = [n for n in names if n.lower().startswith(key)]
    if len(key) >= 3 and len(starting) == 1:  # an abbreviation: std -> stddev (difflib's ratio is only 0.67)
        return starting[0]
    near = difflib.get_close_matches(text, names, n=1, cutoff=cutoff)
    return near[0] if near else None


def suggestion(text: str, valid: Iterable[str], aliases: Mapping[str, str] | None = None,
               cutoff: float = CUTOFF, *, quote: str = "'") -> str:
    """``"; did you mean 'glorot_uniform'? (choose one of a, b, c)"`` with :func:`nearest`'s answer, else
    ``"; choose one of a, b, c"``: the tail of an error message about an unknown name (``quote`` wraps the
    suggestion: ``'`` in Python errors, a backtick in the page's markdown). The suggestion comes first,
    so that it is read before the list."""
    names = list(valid)
    near = nearest(text, names, aliases, cutoff)
    choices = f"choose one of {', '.join(names)}"
    return f"; did you mean {quote}{near}{quote}? ({choices})" if near is not None else f"; {choices}"
