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

import stclient  # deploy/stclient.py (standard library only at import): this script's directory is on sys.path


def main() -> int:
    port = os.environ.get("STREAMLIT_SERVER_PORT", "8501")
    base = os.environ.get("STREAMLIT_SERVER_BASE_URL_PATH", "").strip("/")
    return 0 if stclient.healthy(f"http://127.0.0.1:{port}{'/' + base if base else ''}", timeout=4) else 1


if __name__ == "__main__":
    sys.exit(main())
