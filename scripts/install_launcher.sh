#!/usr/bin/env bash
# Puts `stemweave` on PATH for this user: a link ~/.local/bin/stemweave -> .venv/bin/stemweave
# (run scripts/setup.sh or scripts/run.sh first). ~/.local/bin is on PATH on Debian/Ubuntu once
# it exists (log in again after the first time). BIN_DIR overrides the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
target="$PWD/.venv/bin/stemweave"
if [ ! -x "$target" ]; then
  echo "install_launcher: $target is missing: run 'bash scripts/setup.sh' first" >&2
  exit 1
fi
bin=${BIN_DIR:-$HOME/.local/bin}
mkdir -p "$bin"
ln -sfn "$target" "$bin/stemweave"
echo "installed $bin/stemweave -> $target"
case ":$PATH:" in
  *":$bin:"*) ;;
  *) echo "note: $bin is not on PATH yet: log in again, or add it to PATH in your shell's profile" ;;
esac
