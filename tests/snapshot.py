"""Snapshot what every preset link shows, to check that a restructuring changed nothing a student sees.

Not a test (pytest does not collect it): a tool for the "moves change no behaviour" rule. Usage::

    python tests/snapshot.py save before.json        # on the commit before the restructuring
    python tests/snapshot.py save after.json         # after it
    python tests/snapshot.py compare before.json after.json    # exit 0 iff they agree

For the bare link, every tab of the bare link, every preset link, and every part of the Training and
Theory presets (``tr_show`` / ``th_show``), it opens the page as a browser would (Streamlit's AppTest,
no server) and records every text (markdown, boxes, captions, titles, widget labels), every table cell,
every chart (the SHA-256 of its plotly JSON: the numbers drawn, the layout, the labels), every keyed
control's value and the address bar. The snapshot is data of this machine (its CPU's kernels); compare
snapshots taken on the same machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEXT_KINDS = ("markdown", "warning", "error", "info", "success", "caption", "code", "title", "subheader")
WIDGET_KINDS = ("slider", "select_slider", "selectbox", "number_input", "checkbox", "radio", "multiselect",
                "text_input", "button")
TABS = ("signal", "gradients", "ranges", "compare", "training", "theory", "learn")


def links() -> list[dict[str, str]]:
    """Every link the snapshot opens (query parameters)."""
    from initlab.teaching.presets import PRESETS

    out: list[dict[str, str]] = [{}] + [{"tab": t} for t in TABS[1:]]
    for name, p in PRESETS.items():
        out.append({"preset": name})
        if p.tab == "training":
            out += [{"preset": name, "tr_show": part} for part in
                    ("curves", "restarts", "boundaries", "symmetry", "layers")]
        elif p.tab == "theory":
            out += [{"preset": name, "th_show": part} for part in ("phase", "spectra", "lsuv")]
    return out


def view(params: dict[str, str]) -> dict[str, Any]:
    """What the page opened by ``params`` shows."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    texts = [f"{kind}: {e.value}" for kind in TEXT_KINDS for e in getattr(at, kind)]
    texts += [f"{kind} label: {w.label}" for kind in WIDGET_KINDS for w in getattr(at, kind)]
    tables = [t.value.reset_index().to_dict("split") for t in at.table]
    tables += [d.value.to_dict("split") for d in at.dataframe]
    charts = [hashlib.sha256(c.proto.spec.encode()).hexdigest()[:16] for c in at.get("plotly_chart")]
    widgets = {w.key: repr(w.value) for kind in WIDGET_KINDS if kind != "button" for w in getattr(at, kind) if w.key}
    query = {k: at.query_params[k] for k in at.query_params}
    return {"texts": texts, "tables": json.loads(json.dumps(tables, default=str)), "charts": charts,
            "widgets": widgets, "query": json.loads(json.dumps(query, default=str)),
            "exceptions": [str(e.value) for e in at.exception]}


def save(path: str) -> int:
    out = {}
    for params in links():
        key = "&".join(f"{k}={v}" for k, v in params.items()) or "(bare link)"
        out[key] = view(params)
        print(f"{key}: {len(out[key]['texts'])} texts, {len(out[key]['charts'])} charts", file=sys.stderr)
    Path(path).write_text(json.dumps(out, indent=1, sort_keys=True, ensure_ascii=False))
    return 0


def compare(a_path: str, b_path: str) -> int:
    a, b = (json.loads(Path(p).read_text()) for p in (a_path, b_path))
    bad = 0
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            print(f"{key}: only in {'the second' if key not in a else 'the first'}")
            bad += 1
            continue
        for part in ("texts", "tables", "charts", "widgets", "query", "exceptions"):
            if a[key][part] != b[key][part]:
                bad += 1
                print(f"{key}: {part} differ")
                if part == "texts":
                    for t in sorted(set(a[key][part]) ^ set(b[key][part]))[:6]:
                        print(f"   {'-' if t in a[key][part] else '+'} {t[:200]}")
    print(f"{len(a)} links compared, {bad} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "save":
        sys.exit(save(sys.argv[2]))
    if len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    print(__doc__)
    sys.exit(2)
