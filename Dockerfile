# mlstack in one container: supervisord runs PostgreSQL, gunicorn (127.0.0.1:5000), the
# training worker and nginx (5001). conf/entrypoint.sh prepares the state and execs
# supervisord; `make stack` runs the same script and files natively (see README).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBIAN_FRONTEND=noninteractive

# nginx and the PostgreSQL server from Debian; no default cluster: the entrypoint
# creates its own in the data volume on first start.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
    && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/mlstack.conf \
    && apt-get update \
    && apt-get install -y --no-install-recommends nginx postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin mlstack

# The dependencies (cached while only the code changes); the code itself runs from
# /opt/mlstack, as it does from the checkout natively.
WORKDIR /opt/mlstack
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
RUN mkdir app && touch app/__init__.py \
    && pip install --no-cache-dir . \
    && pip uninstall -y mlstack \
    && rm -rf app build ./*.egg-info
COPY . .
# supervisorctl finds the config without -c
RUN ln -s /opt/mlstack/supervisord.conf /etc/supervisord.conf

# Paths the entrypoint, supervisord.conf and supervisorctl read. State lives in the
# volumes under /var/lib/mlstack (see docker-compose.yml).
ENV MLSTACK_HOME=/opt/mlstack \
    MLSTACK_VAR=/var/lib/mlstack \
    MLSTACK_ENV=production \
    PG_BIN=/usr/lib/postgresql/15/bin \
    NGINX_BIN=/usr/sbin/nginx \
    MLSTACK_BIN=/opt/venv/bin
VOLUME ["/var/lib/mlstack"]

EXPOSE 5001

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5001/api/v1/health/ready', timeout=4)"]

# Runs as root only to prepare the volumes and start supervisord; every program
# switches user (postgres, mlstack) in supervisord.conf.
ENTRYPOINT ["/opt/mlstack/conf/entrypoint.sh"]
