# The translation service: CPU torch, the core and the [serve] extra, `seq2seq serve` on port 8000.
# No training code: training/ is neither copied nor installed (`seq2seq train` in the image says what it needs).
#   docker build -t seq2seq-translate .
#   docker run -p 8000:8000 -v "$PWD/models:/models:ro" seq2seq-translate     # serves every /models/*.pt
# Settings come from SEQ2SEQ_* variables (service/settings.py), e.g. -e SEQ2SEQ_API_KEYS=key1,key2.
# One language pair per artifact (two for one pair stop the server, naming them); pairs without a model of
# their own go through SEQ2SEQ_PIVOT (en). The server runs as an unprivileged user: model files must be readable by others
# (`seq2seq export` writes it with mode 0600, so: chmod a+r models/model.pt).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# torch from the CPU index first, in a layer of its own that survives changes to the project
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY seq2seq/ seq2seq/
COPY service/ service/
RUN pip install '.[serve]' \
    && useradd --system --no-create-home --uid 10001 translate \
    && mkdir /data && chown translate /data
# /data: what the server writes and keeps (SEQ2SEQ_SUGGESTIONS_FILE); a new named volume mounted there starts as
# this folder, owned by the server's user (a bind mount keeps its host owner: make it writable by uid 10001)

USER translate
EXPOSE 8000
# /ready answers 200 once the model is loaded and warmed up; slim images have no curl
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=4).status != 200)"]
# uvicorn finishes in-flight requests on SIGTERM (SEQ2SEQ_TIMEOUT_GRACEFUL_SHUTDOWN_S, 30 s by default)
STOPSIGNAL SIGTERM
CMD ["seq2seq", "serve", "-m", "/models", "--host", "0.0.0.0", "--port", "8000"]
