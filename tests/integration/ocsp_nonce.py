#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# ocsp_nonce.py CERT ISSUER FORM LEN DUP URL: one OCSP request for CERT whose nonce is LEN
# octets, as RFC 9654's OCTET STRING (FORM octet, get-octet) or an older client's bare
# bytes (raw); DUP "dup" puts the nonce extension in twice. POSTs it to URL (get-octet:
# GETs URL/base64). Prints "status=NAME nonce=echoed|other|none": echoed when the answer
# carries the nonce's octets sent.
import base64
import sys
import urllib.parse
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import OCSPExtensionOID


def load(path):
    with open(path, 'rb') as f:
        return x509.load_pem_x509_certificate(f.read())


def tlv(b, i):
    """(start of value, end of value) of the DER element at offset i."""
    n, j = b[i + 1], i + 2
    if n & 0x80:
        k = n & 0x7f
        n, j = int.from_bytes(b[j:j + k], 'big'), j + k
    return j, j + n


def enc(tag, value):
    n = len(value)
    if n < 128:
        return bytes([tag, n]) + value
    k = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | k]) + n.to_bytes(k, 'big') + value


def nonce_of(ext):
    """The nonce's octets, whichever class cryptography gave the extension."""
    return ext.nonce if hasattr(ext, 'nonce') else ext.value


def main():
    cert, issuer, form, n, dup, url = sys.argv[1:7]
    nonce = bytes((i * 7 + 1) & 0xff for i in range(int(n)))
    if form.endswith('octet'):
        ext = x509.OCSPNonce(nonce)
    else:
        ext = x509.UnrecognizedExtension(OCSPExtensionOID.NONCE, nonce)
    der = ocsp.OCSPRequestBuilder().add_certificate(load(cert), load(issuer), hashes.SHA1()) \
        .add_extension(ext, critical=False).build().public_bytes(serialization.Encoding.DER)
    if dup == 'dup':
        # OCSPRequest > TBSRequest > requestList, [2] > Extensions > Extension: that one twice
        tbs, _ = tlv(der, 0)
        body, _ = tlv(der, tbs)
        _, list_end = tlv(der, body)
        exts, _ = tlv(der, list_end)
        _, first_end = tlv(der, exts)
        one = der[exts:first_end]
        der = enc(0x30, enc(0x30, der[body:list_end] + enc(0xa2, enc(0x30, one + one))))
    if form.startswith('get'):
        path = urllib.parse.quote(base64.b64encode(der).decode(), safe='')
        req = urllib.request.Request(url + '/' + path)
    else:
        req = urllib.request.Request(url, der, {'Content-Type': 'application/ocsp-request'})
    with urllib.request.urlopen(req, timeout=10) as r:
        resp = ocsp.load_der_ocsp_response(r.read())
    echo = 'none'
    if resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL:
        for e in resp.extensions:
            if e.oid == OCSPExtensionOID.NONCE:
                echo = 'echoed' if nonce_of(e.value) == nonce else 'other'
    print('status=%s nonce=%s' % (resp.response_status.name, echo))


main()
