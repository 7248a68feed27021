# initlab for a class: one container, one port, no network needed at run time.
FROM python:3.11-slim

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

# Dependencies first, so code changes reuse this layer: exactly the pinned versions of requirements.txt
# (compiled by pip-compile from requirements.in; --no-deps: nothing is resolved at build time, and
# pip check fails the build if the pins ever stop being a complete, consistent set). The app runs as an
# unprivileged user (uid 10001) that cannot modify its own code (owned by root).
COPY requirements.txt .
RUN pip install --no-cache-dir --no-deps -r requirements.txt \
    && pip check \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin initlab
COPY . .
USER 10001

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["python", "deploy/healthcheck.py"]
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.headless=true"]
