# initlab for a class: one container, one port, no network needed at run time.
# Bookworm pinned: its HAProxy (2.6 LTS) is the one deploy/launch.py is tested with.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    INITLAB_MAX_CONCURRENT=2 \
    INITLAB_WARMUP=1 \
    OPENBLAS_NUM_THREADS=1 \
    OMP_NUM_THREADS=1

WORKDIR /app

# HAProxy spreads the students over one Streamlit worker per CPU (deploy/launch.py); the Debian
# package's service is never started (the launcher runs haproxy in the foreground, as this user).
RUN apt-get update \
    && apt-get install -y --no-install-recommends haproxy=2.6.* \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, so code changes reuse this layer: exactly the pinned versions of requirements.txt
# (compiled by pip-compile from requirements.in; --no-deps: nothing is resolved at build time, and
# pip check fails the build if the pins ever stop being a complete, consistent set). The app runs as an
# unprivileged user (uid 10001) that cannot modify its own code (owned by root).
COPY requirements.txt .
RUN pip install --no-cache-dir --no-deps -r requirements.txt \
    && pip check \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin initlab
COPY . .
# The training engine is compiled by numba once, here, into a cache the app's user can read (and write:
# numba recompiles there if the CPU that runs the image differs from the one that built it).
ENV NUMBA_CACHE_DIR=/var/cache/initlab-numba
RUN python -c "from initlab.training import engine; engine.warm_up()" \
    && chown -R 10001 /var/cache/initlab-numba
# Every preset link's results and charts, computed once here and stored as numpy/parquet/JSON (no
# pickle) owned by root; each worker loads them before it listens, so the first students of a lecture
# are served as fast as the last (README, "Warm from the first second"). A store built by other code
# would be ignored (the log says so) and the presets computed on demand.
RUN python -m initlab.ui.results.build /app/.cache/initlab
ENV INITLAB_CACHE_DIR=/app/.cache/initlab
USER 10001

EXPOSE 8501
# The health check goes through HAProxy, whose port opens once every worker has loaded the store
# (deploy/worker.py): it passes from then on, while at least one worker answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["python", "deploy/healthcheck.py"]
# One Streamlit worker per CPU the container may use (INITLAB_WORKERS overrides) behind HAProxy on
# $STREAMLIT_SERVER_PORT of 0.0.0.0; exec form, so `docker stop`'s SIGTERM reaches the launcher.
CMD ["python", "deploy/launch.py"]
