#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# ocsp_request.py CERT ISSUER URL [options]: one OCSP request for CERT, shaped as a test
# needs, POSTed to URL (--get: GET URL/base64). Prints "status=NAME nonce=echoed|other|none"
# (echoed: the answer carries the nonce's octets sent).
#   --nonce FORM LEN   a nonce of LEN octets: RFC 9654's OCTET STRING (octet) or an older
#                      client's bare bytes (raw)
#   --dup              the nonce extension twice
#   --ext critical|plain        an extension no one knows, in the request
#   --single-ext critical|plain the same in the single request (CertID)
import argparse
import base64
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
    """(start of value, end of element) of the DER element at offset i."""
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


def extension(critical):
    """DER of an Extension whose OID (1.3.6.1.4.1.99999.1) no one knows."""
    oid = enc(0x06, bytes.fromhex('2b06010401868d1f01'))
    return enc(0x30, oid + (b'\x01\x01\xff' if critical else b'') + enc(0x04, b'\x05\x00'))


def nonce_of(ext):
    """The nonce's octets, whichever class cryptography gave the extension."""
    return ext.nonce if hasattr(ext, 'nonce') else ext.value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('cert')
    ap.add_argument('issuer')
    ap.add_argument('url')
    ap.add_argument('--nonce', nargs=2)
    ap.add_argument('--dup', action='store_true')
    ap.add_argument('--get', action='store_true')
    ap.add_argument('--ext', choices=['critical', 'plain'])
    ap.add_argument('--single-ext', choices=['critical', 'plain'])
    a = ap.parse_args()
    b = ocsp.OCSPRequestBuilder().add_certificate(load(a.cert), load(a.issuer), hashes.SHA1())
    nonce = ext = None
    if a.nonce:
        nonce = bytes((i * 7 + 1) & 0xff for i in range(int(a.nonce[1])))
        if a.nonce[0] == 'octet':
            ext = x509.OCSPNonce(nonce)
        else:
            ext = x509.UnrecognizedExtension(OCSPExtensionOID.NONCE, nonce)
        b = b.add_extension(ext, critical=False)
    der = b.build().public_bytes(serialization.Encoding.DER)
    # OCSPRequest > TBSRequest > requestList [, [2] > Extensions]
    tbs, _ = tlv(der, 0)
    body, tbs_end = tlv(der, tbs)
    rlist, rlist_end = tlv(der, body)
    exts = []
    if rlist_end < tbs_end:
        inner, _ = tlv(der, rlist_end)
        ext_start, ext_end = tlv(der, inner)
        while ext_start < ext_end:
            _, e_end = tlv(der, ext_start)
            exts.append(der[ext_start:e_end])
            ext_start = e_end
    if a.dup:
        exts = exts + exts[:1]
    if a.ext:
        exts.append(extension(a.ext == 'critical'))
    request = der[rlist:rlist_end]  # the one Request: SEQUENCE { CertID }
    if a.single_ext:
        certid_start, _ = tlv(request, 0)
        request = enc(0x30, request[certid_start:] +
                      enc(0xa0, enc(0x30, extension(a.single_ext == 'critical'))))
    tbs_body = enc(0x30, request) + (enc(0xa2, enc(0x30, b''.join(exts))) if exts else b'')
    der = enc(0x30, enc(0x30, tbs_body))
    if a.get:
        path = urllib.parse.quote(base64.b64encode(der).decode(), safe='')
        req = urllib.request.Request(a.url + '/' + path)
    else:
        req = urllib.request.Request(a.url, der, {'Content-Type': 'application/ocsp-request'})
    with urllib.request.urlopen(req, timeout=10) as r:
        resp = ocsp.load_der_ocsp_response(r.read())
    echo = 'none'
    if resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL:
        for e in resp.extensions:
            if e.oid == OCSPExtensionOID.NONCE:
                echo = 'echoed' if nonce_of(e.value) == nonce else 'other'
    print('status=%s nonce=%s' % (resp.response_status.name, echo))


main()
