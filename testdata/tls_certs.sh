#!/bin/sh
# tls_certs.sh DIR: makes the TLS material the TLS tests use, in DIR.
#   DIR/ca-cert.pem, ca-key.pem      a throwaway certificate authority
#   DIR/server-cert.pem, -key.pem    the server's (names: localhost, 127.0.0.1)
#   DIR/client/                      a client certificates directory in the
#                                    layout nbd_set_tls_certificates reads:
#                                    ca-cert.pem, client-cert.pem, client-key.pem
#   DIR/other-ca/ca-cert.pem         an unrelated CA (a server it did not
#                                    sign must be rejected)
#   DIR/keys.psk                     psktool keys for users alice and bob
#   DIR/wrong.psk                    alice with a different key
# Needs certtool and psktool (Debian: gnutls-bin).
set -eu
dir=$1
mkdir -p "$dir/client" "$dir/other-ca"
cd "$dir"

cat > ca.info <<INFO
cn = nbd-cleanroom test CA
ca
cert_signing_key
expiration_days = 30
INFO
certtool --generate-privkey --outfile ca-key.pem 2>/dev/null
certtool --generate-self-signed --load-privkey ca-key.pem --template ca.info \
  --outfile ca-cert.pem 2>/dev/null

cat > server.info <<INFO
organization = nbd-cleanroom tests
cn = localhost
dns_name = localhost
ip_address = 127.0.0.1
tls_www_server
encryption_key
signing_key
expiration_days = 30
INFO
certtool --generate-privkey --outfile server-key.pem 2>/dev/null
certtool --generate-certificate --load-ca-certificate ca-cert.pem \
  --load-ca-privkey ca-key.pem --load-privkey server-key.pem \
  --template server.info --outfile server-cert.pem 2>/dev/null

cat > client.info <<INFO
organization = nbd-cleanroom tests
cn = client
tls_www_client
encryption_key
signing_key
expiration_days = 30
INFO
certtool --generate-privkey --outfile client/client-key.pem 2>/dev/null
certtool --generate-certificate --load-ca-certificate ca-cert.pem \
  --load-ca-privkey ca-key.pem --load-privkey client/client-key.pem \
  --template client.info --outfile client/client-cert.pem 2>/dev/null
cp ca-cert.pem client/ca-cert.pem

certtool --generate-privkey --outfile other-ca/ca-key.pem 2>/dev/null
certtool --generate-self-signed --load-privkey other-ca/ca-key.pem \
  --template ca.info --outfile other-ca/ca-cert.pem 2>/dev/null

rm -f keys.psk wrong.psk
psktool -u alice -p keys.psk >/dev/null
psktool -u bob -p keys.psk >/dev/null
psktool -u alice -p wrong.psk >/dev/null
# nbdkit and qemu-nbd read the server's files; the client's key stays private.
chmod 600 client/client-key.pem
