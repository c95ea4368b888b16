#!/usr/bin/env bash
# Installs the Apertium engine and the language pairs the translation service uses
# offline by default (Debian/Ubuntu packages). Idempotent: installed packages are
# skipped. Never fails the build: without root or apt it prints what is missing and
# the command to install it, and exits 0.
#
# Pairs for the markets (de es vi fr en zh pt it): Debian bookworm has en-es, fr-es,
# es-pt and es-it (which also needs cg3 for it->es). There is no Debian pair for
# German, Vietnamese or Chinese: those need an Argos model or an HTTP engine.
# Extra packages: APERTIUM_PACKAGES="apertium-eng-cat ..." tools/install_apertium.sh
set -uo pipefail

PACKAGES=(apertium apertium-lex-tools apertium-eng-spa apertium-fr-es apertium-es-pt apertium-spa-ita cg3)
# shellcheck disable=SC2206
PACKAGES+=(${APERTIUM_PACKAGES:-})

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for package in "${PACKAGES[@]}"; do
    installed "$package" || missing+=("$package")
  done
else
  command -v apertium >/dev/null 2>&1 || missing=("${PACKAGES[@]}")
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "apertium: all packages present (${PACKAGES[*]})"
  exit 0
fi

echo "apertium: missing ${missing[*]}"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
    apt-get update -qq || true
    apt-get install -y --no-install-recommends "${missing[@]}" \
      || echo "apertium: install failed; the translation service starts without these pairs" >&2
  fi
else
  echo "apertium: not installing (needs root and apt-get). Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
fi
exit 0
