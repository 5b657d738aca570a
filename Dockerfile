# Serdika broker and wallet: gunicorn on a slim Python, as an unprivileged user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SERDIKA_VAR_DIR=/var/lib/serdika \
    SERDIKA_BIND=0.0.0.0:8000

WORKDIR /app
COPY pyproject.toml README.md babel.cfg ./
COPY broker ./broker
COPY commons ./commons
COPY consent ./consent
COPY connectors ./connectors
COPY demo ./demo
COPY wallet_ui ./wallet_ui
RUN pip install . \
 && pybabel compile -d "$(python -c 'import wallet_ui, pathlib; print(pathlib.Path(wallet_ui.__file__).parent / "translations")')" \
 && useradd --system --uid 10001 --home-dir /var/lib/serdika --create-home serdika

USER serdika
VOLUME ["/var/lib/serdika"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status == 200 else 1)"
CMD ["sh", "-c", "serdika db upgrade && serdika serve"]
