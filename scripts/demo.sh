#!/bin/sh
# SPDX-License-Identifier: MIT
# Quick start: install what is missing, build, create a CA in ./var/demo once, and serve it.
set -eu
cd "$(dirname "$0")/.."
sh scripts/build.sh
DIR=${CAIRN_DEMO_DIR:-var/demo}
if [ ! -f "$DIR/cairn.json" ]; then
	./cairn init --dir "$DIR"
fi
echo "cairn: serving the CA in $DIR — in another terminal, for example:"
echo "  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \\"
echo "      -out req.pem -subj /CN=www.example.test -addext subjectAltName=DNS:www.example.test"
echo "  ./cairn issue --dir $DIR --csr req.pem --profile tls-server --out cert.pem"
echo "Stop with Ctrl-C."
exec ./cairn serve --dir "$DIR"
