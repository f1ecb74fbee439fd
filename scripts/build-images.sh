#!/usr/bin/env bash
# Build both webduo images without a Docker daemon, run each one, and check it from the host.
#
#   bash scripts/build-images.sh        (or: make images)
#
# Needs root, buildah and, when the registry base cannot be pulled, mmdebstrap:
#   apt-get install -y buildah mmdebstrap
#
# Steps:
#   1. base image: pull $PYTHON_IMAGE; if the registry is unreachable, bootstrap a minimal
#      Debian with python3 + python3-venv using mmdebstrap (only Debian's mirror is needed)
#      and import it as $LOCAL_BASE. Builder and runtime stages both use this one base.
#   2. build Dockerfile.sync and Dockerfile.async with buildah (chroot isolation, vfs storage,
#      docker format).
#   3. for each image: start its own ENTRYPOINT in a working container on the host network
#      (on a free port, set through WEBDUO_<MODE>_PORT), check /healthz and /hello from the host
#      over 127.0.0.1, run the image's HEALTHCHECK command inside it, check the server runs as
#      the image's numeric USER and as PID 1 of its own PID namespace (as under Docker), that
#      /cpu_task works (process pool inside the image), then send SIGTERM while a slow request
#      is in flight and require that request answered and the server's exit status 0.
#
# Environment knobs (all optional):
#   PYTHON_IMAGE   registry base to try first     [docker.io/library/python:3.12-slim-bookworm]
#   WEBDUO_BASE    auto | registry | local         [auto: registry, falling back to local]
#   LOCAL_BASE     name of the mmdebstrap base     [localhost/webduo-python-base:bookworm]
#   DEBIAN_SUITE / DEBIAN_MIRROR                   [bookworm / http://deb.debian.org/debian]
#   REBUILD_BASE=1 bootstrap the local base again even if it exists
#   IMAGE_TAG      tag of the built images         [dev]
#   MODES          which images                    [sync async]
#   STORAGE_DRIVER buildah storage driver          [vfs: works in any container, no overlay needed]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_IMAGE=${PYTHON_IMAGE:-docker.io/library/python:3.12-slim-bookworm}
WEBDUO_BASE=${WEBDUO_BASE:-auto}
LOCAL_BASE=${LOCAL_BASE:-localhost/webduo-python-base:bookworm}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
IMAGE_TAG=${IMAGE_TAG:-dev}
read -r -a MODES <<<"${MODES:-sync async}"
STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
export BUILDAH_ISOLATION=chroot
PULL_TIMEOUT=60
BOOT_TIMEOUT=30
STOP_TIMEOUT=20
DRAIN_MS=1500

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

command -v buildah >/dev/null || die "buildah not found (apt-get install -y buildah)"
# Every buildah call below goes through this: buildah 1.28 ignores $STORAGE_DRIVER and would
# otherwise use storage.conf's driver (overlay), which many containers cannot mount.
buildah() { command buildah --storage-driver "$STORAGE_DRIVER" "$@"; }
[[ $(id -u) -eq 0 ]] || die "run as root: chroot isolation and vfs storage need it"
WORK=$(mktemp -d)
declare -a CONTAINERS=() SERVERS=()
# Children first, so nothing started here outlives the script.
kill_tree() {
    local child
    for child in $(pgrep -P "$1"); do kill_tree "$child"; done
    kill -KILL "$1" 2>/dev/null || true
}
cleanup() {
    local pid name
    for pid in "${SERVERS[@]}"; do kill_tree "$pid"; done
    for name in "${CONTAINERS[@]}"; do buildah rm "$name" >/dev/null 2>&1 || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- 1. the base image --------------------------------------------------------------------

bootstrap_local_base() {
    command -v mmdebstrap >/dev/null || die "mmdebstrap not found (apt-get install -y mmdebstrap)"
    local hooks=()
    # Where TLS is intercepted by a proxy, its CA sits in the host's local trust store; the
    # builder's pip and uv must trust it too. A registry base would need the same treatment.
    local extra_cas=(/usr/local/share/ca-certificates/*.crt)
    if [[ -e ${extra_cas[0]} ]]; then
        hooks+=(--customize-hook="copy-in ${extra_cas[*]} /usr/local/share/ca-certificates/")
        # shellcheck disable=SC2016  # mmdebstrap itself expands $1 to the chroot's path
        hooks+=(--customize-hook='chroot "$1" update-ca-certificates')
    fi
    local start
    start=$(now)
    # minbase + python3 + python3-venv mirrors what the python:*-slim images offer; man pages,
    # docs and translations are dropped as the slim images do.
    mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates --skip=output/dev \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        "${hooks[@]}" "$DEBIAN_SUITE" "$WORK/base.tar" "$DEBIAN_MIRROR"
    local ctr
    ctr=$(buildah from scratch)
    CONTAINERS+=("$ctr")
    buildah add "$ctr" "$WORK/base.tar" / >/dev/null
    # pip may use its vendored certifi and uv uses its bundled webpki roots: point both at the
    # system store, which now holds the proxy's CA.
    buildah config \
        --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 \
        --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
        --env PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
        --cmd '["python3"]' \
        --label org.opencontainers.image.description="Debian $DEBIAN_SUITE minbase + python3, by mmdebstrap" \
        "$ctr"
    buildah commit --quiet --rm --format docker "$ctr" "$LOCAL_BASE" >/dev/null
    rm -f "$WORK/base.tar"
    echo "local base $LOCAL_BASE bootstrapped in $(elapsed "$start") s"
}

choose_base() {
    if [[ $WEBDUO_BASE != local ]]; then
        log "pulling $PYTHON_IMAGE (at most ${PULL_TIMEOUT} s)"
        if timeout "$PULL_TIMEOUT" buildah pull --quiet "$PYTHON_IMAGE" >/dev/null 2>"$WORK/pull.err"; then
            BASE=$PYTHON_IMAGE
            return
        fi
        [[ $WEBDUO_BASE == registry ]] && die "cannot pull $PYTHON_IMAGE: $(tail -n 1 "$WORK/pull.err")"
        echo "cannot pull it ($(tail -n 1 "$WORK/pull.err" | cut -c1-160)); using a local base"
    fi
    BASE=$LOCAL_BASE
    if [[ ${REBUILD_BASE:-0} == 1 ]] || ! buildah inspect --type image "$LOCAL_BASE" >/dev/null 2>&1; then
        log "bootstrapping $LOCAL_BASE with mmdebstrap ($DEBIAN_SUITE from $DEBIAN_MIRROR)"
        bootstrap_local_base
    else
        echo "reusing $LOCAL_BASE (REBUILD_BASE=1 to bootstrap it again)"
    fi
}

# --- 2. build -----------------------------------------------------------------------------

declare -A BUILD_SECONDS=() IMAGE_SIZE=() BOOT_SECONDS=() STOP_SECONDS=()

build_image() {
    local mode=$1 start
    log "building localhost/webduo-$mode:$IMAGE_TAG from Dockerfile.$mode on $BASE"
    start=$(now)
    # No --layers: vfs copies the whole root file system for every cached layer, which took
    # ~2 min per image here against ~25 s for a build that commits each stage once.
    buildah build --isolation chroot --format docker \
        --build-arg PYTHON_IMAGE="$BASE" -f "Dockerfile.$mode" -t "localhost/webduo-$mode:$IMAGE_TAG" .
    BUILD_SECONDS[$mode]=$(elapsed "$start")
    IMAGE_SIZE[$mode]=$(buildah images --format '{{.Size}}' "localhost/webduo-$mode:$IMAGE_TAG" | head -n 1)
    echo "built localhost/webduo-$mode:$IMAGE_TAG in ${BUILD_SECONDS[$mode]} s: ${IMAGE_SIZE[$mode]}"
}

# --- 3. run and check ---------------------------------------------------------------------

# The image's own config, as JSON, from a working container.
image_config() {
    buildah inspect --type container "$1" | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["Docker"]["config"]))'
}

# Print one field of the config JSON on stdin, one item per line (for arrays).
config_field() {
    python3 -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[key]
print("\n".join(value) if isinstance(value, list) else value)' "$1"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# buildah run -> buildah-chroot-runtime -> buildah-chroot-exec -> unshare -> the entrypoint: the first
# python process below buildah is what Docker would run as PID 1 and send STOPSIGNAL to.
server_pid() {
    local pid=$1 child
    while child=$(pgrep -P "$pid" | head -n 1) && [[ -n $child ]]; do
        if [[ $(readlink "/proc/$child/exe" 2>/dev/null) == *python* ]]; then
            echo "$child"
            return
        fi
        pid=$child
    done
    return 1
}

# GET a path from the host; print "status header-value" for the checks below.
http_get() {
    python3 - "$1" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as reply:
    print(reply.status, reply.headers.get("X-Powered-By", ""), reply.read().decode()[:400], sep=" | ")
PY
}

check_image() {
    local mode=$1 upper=${1^^} ctr port config start pid rc
    log "running localhost/webduo-$mode:$IMAGE_TAG"
    ctr=$(buildah from --name "webduo-check-$mode-$$" "localhost/webduo-$mode:$IMAGE_TAG")
    CONTAINERS+=("$ctr")
    port=$(free_port)
    # /weather goes to the Open-Meteo stand-in shipped in the package, run from the image itself.
    local stub_port
    stub_port=$(free_port)
    buildah config --env "WEBDUO_${upper}_PORT=$port" \
        --env "WEBDUO_WEATHER_URL=http://127.0.0.1:$stub_port/v1/forecast" "$ctr"
    config=$(image_config "$ctr")
    local -a entrypoint healthcheck
    mapfile -t entrypoint < <(config_field Entrypoint <<<"$config")
    mapfile -t healthcheck < <(config_field Healthcheck.Test <<<"$config")
    local user
    user=$(config_field User <<<"$config")
    [[ ${healthcheck[0]} == CMD ]] || die "$mode: HEALTHCHECK is not exec form: ${healthcheck[*]}"
    [[ $user =~ ^[0-9]+:[0-9]+$ ]] || die "$mode: USER $user is not numeric uid:gid"
    echo "entrypoint: ${entrypoint[*]}   port: $port   user: $user"

    # As under Docker, the server must be PID 1 of its own PID namespace: the kernel then drops
    # any signal it has no handler for, so only a real SIGTERM handler lets it stop. buildah's
    # chroot isolation shares the host's PID namespace, hence unshare; setpriv then drops to the
    # image's USER exactly as the runtime would.
    buildah run --isolation chroot --network host "$ctr" -- \
        python3 -m webduo.testing.openmeteo --port "$stub_port" >"$WORK/$mode.stub.log" 2>&1 &
    local stub=$!
    SERVERS+=("$stub")

    local -a as_pid1=(unshare --pid --fork --kill-child
        setpriv --reuid "${user%%:*}" --regid "${user#*:}" --clear-groups)
    start=$(now)
    buildah run --isolation chroot --network host --user 0:0 --cap-add CAP_SYS_ADMIN "$ctr" -- \
        "${as_pid1[@]}" "${entrypoint[@]}" >"$WORK/$mode.log" 2>&1 &
    local runner=$!
    SERVERS+=("$runner")
    local deadline=$((SECONDS + BOOT_TIMEOUT))
    until http_get "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
        kill -0 "$runner" 2>/dev/null || { cat "$WORK/$mode.log"; die "$mode: server exited during start-up"; }
        ((SECONDS < deadline)) || { cat "$WORK/$mode.log"; die "$mode: no /healthz within ${BOOT_TIMEOUT} s"; }
        sleep 0.2
    done
    BOOT_SECONDS[$mode]=$(elapsed "$start")

    local healthz hello cpu weather
    healthz=$(http_get "http://127.0.0.1:$port/healthz")
    hello=$(http_get "http://127.0.0.1:$port/hello")
    echo "GET /healthz -> $healthz"
    echo "GET /hello   -> $hello"
    [[ $healthz == "200 | "*"($mode)"*'"status"'* ]] || die "$mode: unexpected /healthz answer"
    [[ $hello == "200 | "*"($mode) | Hello, World!" ]] || die "$mode: unexpected /hello answer"
    weather=$(http_get "http://127.0.0.1:$port/weather?lat=52.52&lon=13.41")
    echo "GET /weather -> ${weather:0:140}..."
    [[ $weather == "200 | "*'"temperature'* ]] || { cat "$WORK/$mode.stub.log"; die "$mode: unexpected /weather answer"; }
    # The CPU pool (process pool / per-worker processes) must work inside the image too.
    cpu=$(http_get "http://127.0.0.1:$port/cpu_task?n=100000")
    echo "GET /cpu_task?n=100000 -> $cpu"
    [[ $cpu == "200 | "*'"primes_below_n":9592'* ]] || die "$mode: unexpected /cpu_task answer"

    buildah run --isolation chroot --network host "$ctr" -- "${healthcheck[@]:1}" \
        || die "$mode: the image's HEALTHCHECK command failed"
    echo "HEALTHCHECK command (${healthcheck[*]:1:2} ...) -> exit 0"

    pid=$(server_pid "$runner") || die "$mode: cannot find the server process"
    [[ $(stat -c %u:%g "/proc/$pid") == "$user" ]] || die "$mode: server does not run as $user"
    [[ $(awk '/^NSpid:/ {print $NF}' "/proc/$pid/status") == 1 ]] || die "$mode: server is not PID 1"
    echo "server process $pid is PID 1 in its namespace, uid:gid $(stat -c %u:%g "/proc/$pid")"

    # docker stop: SIGTERM while a request is in flight; it must be answered, then exit 0.
    http_get "http://127.0.0.1:$port/io_task?delay_ms=$DRAIN_MS" >"$WORK/$mode.inflight" 2>&1 &
    local inflight=$!
    sleep 0.5
    start=$(now)
    kill -TERM "$pid"
    deadline=$((SECONDS + STOP_TIMEOUT))
    while [[ -e /proc/$pid ]]; do
        ((SECONDS < deadline)) || die "$mode: still running ${STOP_TIMEOUT} s after SIGTERM"
        sleep 0.05
    done
    STOP_SECONDS[$mode]=$(elapsed "$start")
    rc=0
    wait "$runner" || rc=$?
    wait "$inflight" || true
    echo "--- server log (last lines) ---"
    tail -n 5 "$WORK/$mode.log"
    echo "in-flight GET /io_task?delay_ms=$DRAIN_MS -> $(cat "$WORK/$mode.inflight")"
    [[ $(cat "$WORK/$mode.inflight") == "200 | "* ]] || die "$mode: the in-flight request was not drained"
    ((rc == 0)) || die "$mode: exit status $rc after SIGTERM (expected a graceful 0)"
    echo "SIGTERM -> in-flight request answered, exit status 0 after ${STOP_SECONDS[$mode]} s"
    kill_tree "$stub"
    wait "$stub" 2>/dev/null || true
}

TOTAL_START=$(now)
choose_base
for mode in "${MODES[@]}"; do build_image "$mode"; done
for mode in "${MODES[@]}"; do check_image "$mode"; done

log "summary (base: $BASE, storage: $STORAGE_DRIVER, total $(elapsed "$TOTAL_START") s; stop_s: SIGTERM to exit, a ${DRAIN_MS} ms request in flight)"
printf '%-6s %-28s %10s %10s %10s %10s\n' mode image size build_s boot_s stop_s
for mode in "${MODES[@]}"; do
    printf '%-6s %-28s %10s %10s %10s %10s\n' "$mode" "localhost/webduo-$mode:$IMAGE_TAG" \
        "${IMAGE_SIZE[$mode]}" "${BUILD_SECONDS[$mode]}" "${BOOT_SECONDS[$mode]}" "${STOP_SECONDS[$mode]}"
done
