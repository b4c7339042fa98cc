# Shared by the scripts: installing Debian packages and choosing the callscribe binary.
# Source it; it defines functions only.

# debian_install PKG...: installs the packages with apt-get (through sudo when not root).
debian_install() {
  (($#)) || return 0
  echo "$(basename "$0"): installing $* (Debian)"
  local sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null
}

# callscribe_binary: makes sure the speech model is there (unless CALLSCRIBE_MODEL names
# one) and prints the path of the binary to run: CALLSCRIBE_BIN when set (e.g. a debug
# build), else the release build, built here if stale (honours CARGO_TARGET_DIR).
callscribe_binary() {
  [ -n "${CALLSCRIBE_MODEL:-}" ] || scripts/fetch-model >&2
  if [ -n "${CALLSCRIBE_BIN:-}" ]; then
    realpath "$CALLSCRIBE_BIN"
  else
    cargo build --release --locked --bin callscribe >&2
    echo "$(realpath "${CARGO_TARGET_DIR:-target}")/release/callscribe"
  fi
}
