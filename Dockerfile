# mlstack in one container: supervisord runs PostgreSQL, gunicorn (127.0.0.1:5000), the
# training worker and nginx (5001). conf/entrypoint.sh prepares the state and execs
# supervisord; `make stack` runs the same script and files natively (see README).
#
# Two stages: the virtualenv is built in the first and copied into the second, so the
# image carries no pip cache, build directories or the libraries' own test suites.

# ---- 1. the Python dependencies -------------------------------------------------
FROM python:3.11-slim-bookworm AS venv
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
# README.md is the package's readme: an empty one, so editing the real one keeps this
# layer cached
COPY pyproject.toml /src/
RUN touch /src/README.md
# only the dependencies (the code itself runs from the checkout); then pip and
# setuptools (the stack installs nothing at run time) and the test suites numpy,
# scipy, pandas, scikit-learn and onnx (its backend test data) ship inside their packages
RUN mkdir /src/app && touch /src/app/__init__.py \
    && /opt/venv/bin/pip install /src \
    && /opt/venv/bin/pip uninstall -y mlstack \
    && /opt/venv/bin/pip uninstall -y pip setuptools \
    && find /opt/venv/lib -depth -type d -name tests \
        -path '*/site-packages/*' \( -path '*/numpy/*' -o -path '*/scipy/*' -o -path '*/pandas/*' \
        -o -path '*/sklearn/*' \) -exec rm -rf {} + \
    && rm -rf /opt/venv/lib/python3*/site-packages/onnx/backend/test \
    && find /opt/venv -name __pycache__ -type d -prune -exec rm -rf {} + \
    && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib >/dev/null

# ---- 2. the runtime -------------------------------------------------------------------
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# nginx, the PostgreSQL server and logrotate from Debian, no recommends; no default
# cluster (the entrypoint creates its own in the data volume on first start).
# PostgreSQL's JIT is off (jit=off in supervisord.conf): its LLVM library (~110 MB) is
# removed with libz3, which only LLVM uses. dpkg keeps its record of both packages, so
# apt stays consistent.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
    && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/mlstack.conf \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        nginx postgresql-15 logrotate \
    && rm -f /usr/lib/postgresql/15/lib/llvmjit*.so /usr/lib/x86_64-linux-gnu/libLLVM-14.so* \
        /usr/lib/llvm-14/lib/libLLVM-14*.so* /usr/lib/x86_64-linux-gnu/libz3.so* \
    && rm -rf /usr/lib/postgresql/15/lib/bitcode \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
        /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log \
        /usr/share/doc/* /usr/share/man/* /usr/share/locale/* \
    && useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin mlstack

COPY --from=venv /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /opt/mlstack
COPY . .
# supervisorctl without -c reads <its virtualenv>/etc/supervisord.conf first (before the
# working directory's supervisord.conf): the entrypoint writes the socket's address and
# this start's credentials there (see supervisord.conf)
RUN mkdir /opt/venv/etc \
    && ln -s /var/lib/mlstack/run/supervisorctl.conf /opt/venv/etc/supervisord.conf

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

# Every 5 s: healthy within a few seconds of the API being ready (Docker 20.10 has no
# --start-interval); failures during the first 60 s do not count.
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5001/api/v1/health/ready', timeout=3)"]

# Runs as root only to prepare the volumes and start supervisord; every program
# switches user (postgres, mlstack) in supervisord.conf.
ENTRYPOINT ["/opt/mlstack/conf/entrypoint.sh"]
