"""Container health check without curl: exit 0 iff Streamlit's /_stcore/health answers "ok".

Asked on the public port, so through the launcher's HAProxy (deploy/launch.py): it passes while at
least one Streamlit worker answers (HAProxy sends it to a worker that passes its own checks), and not
before every worker is ready: the launcher opens the public port only once each worker has loaded the
precomputed store and opened its pages once (deploy/worker.py), and a worker listens only after its
store is loaded.
Honours the same environment variables as the server (STREAMLIT_SERVER_PORT,
STREAMLIT_SERVER_BASE_URL_PATH), so it keeps working when a teacher changes them.
"""

import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("STREAMLIT_SERVER_PORT", "8501")
    base = os.environ.get("STREAMLIT_SERVER_BASE_URL_PATH", "").strip("/")
    url = f"http://127.0.0.1:{port}/{base + '/' if base else ''}_stcore/health"
    try:
        with urllib.request.urlopen(url, timeout=4) as resp:  # noqa: S310 (loopback only)
            return 0 if resp.status == 200 and resp.read().strip() == b"ok" else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
