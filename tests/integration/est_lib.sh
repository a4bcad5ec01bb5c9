# SPDX-License-Identifier: MIT
# EST test helpers (source after lib.sh; set ROOT and EST): a device's CSR, its POST with
# curl, its status, and the certificate out of a certs-only answer.

# est_post OUT OP [curl options...]: POSTs $BODY (base64 PKCS#10) to $EST/OP; the status goes
# to $WORK/OUT.code, the headers to OUT.hdr, the body to OUT.body.
est_post() {
	out=$1 op=$2
	shift 2
	curl -s --cacert "$ROOT" -H 'Content-Type: application/pkcs10' --data-binary "@$BODY" \
		-D "$WORK/$out.hdr" -o "$WORK/$out.body" -w '%{http_code}' "$@" "$EST/$op" \
		>"$WORK/$out.code"
}
code() { cat "$WORK/$1.code"; }
status_is() { [ "$(code "$1")" = "$2" ]; }
# b64csr NAME: the CSR of make_csr as base64 DER (what EST carries).
b64csr() { openssl req -in "$WORK/$1.csr" -outform DER | openssl base64 >"$WORK/$1.b64"; }
# p7cert NAME: certificate from a base64 certs-only answer into NAME.pem.
p7cert() {
	openssl base64 -d -in "$WORK/$1.body" | openssl pkcs7 -inform DER -print_certs \
		-out "$WORK/$1.pem" && grep -q 'BEGIN CERTIFICATE' "$WORK/$1.pem"
}
# csr NAME SUBJ SAN [KEY]: base64 DER CSR in NAME.b64 (a new key unless KEY is given); sets BODY.
csr() {
	make_csr "$1" "${4:+key:}${4:-ec:P-256}" "$2" "$3"
	b64csr "$1"
	BODY=$WORK/$1.b64
}
