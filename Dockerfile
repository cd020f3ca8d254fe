# One image for every process type: `docker run IMAGE web` (or worker,
# projector, release) runs that line of the Procfile.  Configure it with the
# environment variables of the README's Configuration table.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The lock alone first, so this layer is rebuilt only when it changes.  It
# pins every runtime dependency: nothing else may be pulled in.
COPY requirements.txt ./
RUN pip install --no-deps --requirement requirements.txt && pip check

# The project itself, its dependencies being installed already.
COPY pyproject.toml README.md Procfile ./
COPY domain/ domain/
COPY infra/ infra/
COPY web/ web/
COPY workers/ workers/
RUN pip install --no-deps . && rm -rf build *.egg-info

COPY deploy/docker/entrypoint.sh /usr/local/bin/procfile-process

# No process needs to write outside /tmp, nor to be root.
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin shop
USER 10001:10001

EXPOSE 8000
ENTRYPOINT ["procfile-process"]
CMD ["web"]
