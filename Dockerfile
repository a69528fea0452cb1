FROM python:3.11-slim

# ca-certificates: openai 3.x (httpx2) and aiohttp use the OS trust store; tzdata: Asia/Tehran.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 API_HOST=0.0.0.0 API_PORT=8080
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY db ./db
COPY scheduler ./scheduler
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 contexor \
    && mkdir -p /app/data && chown contexor:contexor /app/data

USER contexor
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
CMD ["contexor", "run"]
