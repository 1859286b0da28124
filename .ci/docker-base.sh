#!/usr/bin/env bash
# The Dockerfile's base image, made on this machine when no registry can give it.
#
#   .ci/docker-base.sh [IMAGE]     (IMAGE: the Dockerfile's FROM, python:3.11-slim-bookworm)
#
# Present locally: nothing to do. Pullable: pulled. Otherwise a stand-in with the same
# name: Debian bookworm (debootstrap --variant=minbase from the Debian mirror this
# machine's apt uses, `docker import`), Debian's python3 + venv + pip, and the links
# the official python image has under /usr/local/bin. The machine's extra CA
# certificates (/usr/local/share/ca-certificates) go in too: where they exist, HTTPS
# (PyPI in the build) goes through a proxy that presents them.
set -euo pipefail

IMAGE=${1:-$(sed -n 's/^FROM[[:space:]]\+\([^[:space:]]\+\).*/\1/p' "$(dirname "$0")/../Dockerfile" | head -n 1)}
ROOTFS_IMAGE=mlstack-base/debian-minbase:bookworm
log() { printf 'docker-base: %s\n' "$*" >&2; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE is present"
    exit 0
fi
if timeout 30 docker pull -q "$IMAGE" >/dev/null 2>&1; then
    log "pulled $IMAGE"
    exit 0
fi
log "$IMAGE cannot be pulled: making a stand-in from Debian bookworm"
start=$(date +%s)

# The mirror apt uses here (deb822 .sources or one-line sources.list).
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | sed -n 's|^URIs:[[:space:]]*\(\S*debian\)/\?$|\1|p' | head -n 1)
[ -n "$mirror" ] || mirror=$(sed -n 's|^deb[[:space:]]\+\(\S*/debian\)/\?[[:space:]]\+bookworm[[:space:]].*|\1|p' \
    /etc/apt/sources.list 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d /tmp/mlstack-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
if ! docker image inspect "$ROOTFS_IMAGE" >/dev/null 2>&1; then
    log "debootstrap --variant=minbase bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
    cat >"$work/rootfs/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
SRC
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    tar -C "$work/rootfs" -c . | docker import - "$ROOTFS_IMAGE" >/dev/null
    rm -rf "$work/rootfs"
fi

mkdir -p "$work/ctx/ca"
cp /usr/local/share/ca-certificates/*.crt "$work/ctx/ca/" 2>/dev/null || true
cat >"$work/ctx/Dockerfile" <<DF
FROM $ROOTFS_IMAGE
LABEL org.opencontainers.image.description="local stand-in for $IMAGE (made by .ci/docker-base.sh)"
ENV LANG=C.UTF-8
COPY ca/ /usr/local/share/ca-certificates/
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update \\
    && apt-get install -y --no-install-recommends python3 python3-venv python3-pip ca-certificates \\
    && update-ca-certificates >/dev/null \\
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \\
    && for name in python python3 python3.11; do ln -s /usr/bin/python3 /usr/local/bin/\$name; done \\
    && for name in pip pip3 pip3.11; do ln -s /usr/bin/pip3 /usr/local/bin/\$name; done \\
    && printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >/etc/pip.conf
CMD ["python3"]
DF
docker build -q --pull=false -t "$IMAGE" "$work/ctx" >/dev/null
log "made $IMAGE in $(( $(date +%s) - start )) s"
