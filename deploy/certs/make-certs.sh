#!/bin/sh
# Make the Hjem broker PKI with openssl: a CA, a server certificate and client certificates.
#
#   make-certs.sh [-d DIR] [-H HOST]... [-g GROUP] [-f] [-D DAYS] [CLIENT_ID ...]
#
#   -d DIR    output directory (default: ./certs)
#   -H HOST   DNS name or IP address of the broker for its server certificate (repeatable);
#             127.0.0.1 and localhost are always included. Needed on the first run (say
#             -H localhost for a broker reached only on its own host); later runs without -H
#             keep the server certificate; -H naming other hosts re-issues it
#   -g GROUP  the broker's group (Debian: -g mosquitto; eclipse-mosquitto image: -g 1883):
#             server.key mode 0640 and DIR mode 0750 in that group, so Mosquitto reads them
#             after dropping privileges; a failing chgrp stops the script (exit 1)
#   -f        force: replace an existing CA (every certificate it signed becomes useless)
#   -D DAYS   validity of server and client certificates (default 825); the CA gets 3650
#   CLIENT_ID a client certificate with CN=CLIENT_ID (a gateway, vendor or hub MQTT username)
#
# Idempotent: an existing CA is reused; the server certificate is made on the first run and
# kept unless -H names other hosts (adding clients never touches it); an existing client
# certificate is kept. Private keys are mode 0600 (server.key 0640 with -g); DIR is 0755
# (0750 with -g), DIR/clients 0700.
# Writes: ca.key ca.crt server.key server.crt clients/<id>.key clients/<id>.crt
set -eu

DIR=./certs
HOSTS=""
FORCE=0
GROUP=""
DAYS=825
CA_DAYS=3650

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while getopts "d:H:g:fD:h" opt; do
    case "$opt" in
        d) DIR=$OPTARG ;;
        H) HOSTS="$HOSTS $OPTARG" ;;
        g) GROUP=$OPTARG ;;
        f) FORCE=1 ;;
        D) DAYS=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))

command -v openssl >/dev/null 2>&1 || { echo "make-certs: openssl is not installed" >&2; exit 1; }
case "$DAYS" in ''|*[!0-9]*) echo "make-certs: -D needs a number of days" >&2; exit 2 ;; esac

if [ -z "$HOSTS" ] && [ ! -f "$DIR/server.hosts" ]; then
    echo "make-certs: the first run makes the broker's server certificate: name the hosts" \
        "gateways and vendors connect to with -H (e.g. -H broker.example.org; -H localhost" \
        "for a broker reached only on its own host)" >&2
    exit 2
fi

umask 077
if [ ! -d "$DIR" ]; then
    mkdir -p "$DIR"
    chmod 0755 "$DIR"     # ca.crt and server.crt are public; every key file is 0600 itself
fi
mkdir -p "$DIR/clients"
if [ -n "$GROUP" ]; then
    if ! chgrp "$GROUP" "$DIR"; then
        echo "make-certs: chgrp $GROUP $DIR failed: the broker could not read its files" >&2
        exit 1
    fi
    chmod 0750 "$DIR"
fi

# --- CA ------------------------------------------------------------------------------------
if [ -f "$DIR/ca.key" ] && [ "$FORCE" -ne 1 ]; then
    echo "make-certs: reusing the CA in $DIR/ca.crt (-f replaces it)"
else
    if [ -f "$DIR/ca.key" ]; then
        echo "make-certs: -f given: replacing the CA; re-issue every certificate" >&2
        rm -f "$DIR/server.crt" "$DIR/server.key" "$DIR"/clients/*
    fi
    openssl req -x509 -new -newkey rsa:3072 -nodes -sha256 -days "$CA_DAYS" \
        -subj "/O=Hjem/CN=Hjem broker CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$DIR/ca.key" -out "$DIR/ca.crt" 2>/dev/null
    chmod 0644 "$DIR/ca.crt"
    echo "make-certs: new CA $DIR/ca.crt"
fi

# sign NAME CN EXTFILE: sign $DIR/NAME.csr with the CA into $DIR/NAME.crt
sign() {
    openssl x509 -req -in "$DIR/$1.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" \
        -CAcreateserial -CAserial "$DIR/ca.srl" -days "$DAYS" -sha256 \
        -extfile "$3" -out "$DIR/$1.crt" 2>/dev/null
    rm -f "$DIR/$1.csr" "$3"
    chmod 0644 "$DIR/$1.crt"
}

# --- server ---------------------------------------------------------------------------------
SAN="IP:127.0.0.1,DNS:localhost"
CN=localhost
for host in $HOSTS; do
    case "$host" in
        127.0.0.1|localhost) continue ;;
        *[!0-9.]*) SAN="$SAN,DNS:$host" ;;
        *) SAN="$SAN,IP:$host" ;;
    esac
    [ "$CN" = localhost ] && CN=$host
done
OLD_SAN=$(cat "$DIR/server.hosts" 2>/dev/null || true)
if [ -f "$DIR/server.crt" ] && { [ -z "$HOSTS" ] || [ "$OLD_SAN" = "$SAN" ]; }; then
    echo "make-certs: keeping $DIR/server.crt (${OLD_SAN:-its host names})"
else
    [ -z "$HOSTS" ] && SAN=$OLD_SAN  # -f: re-issue for the hosts it had
    if [ -f "$DIR/server.crt" ]; then
        echo "make-certs: -H names other hosts than $DIR/server.crt has ($OLD_SAN):" \
            "re-issuing it; restart the broker" >&2
    fi
    ext=$(mktemp)
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$SAN" >"$ext"
    openssl req -new -newkey rsa:2048 -nodes -subj "/O=Hjem/CN=$CN" \
        -keyout "$DIR/server.key" -out "$DIR/server.csr" 2>/dev/null
    sign server "$CN" "$ext"
    printf '%s' "$SAN" >"$DIR/server.hosts"
    chmod 0644 "$DIR/server.hosts"
    echo "make-certs: server certificate $DIR/server.crt ($SAN)"
fi

if [ -n "$GROUP" ]; then
    if ! chgrp "$GROUP" "$DIR/server.key"; then
        echo "make-certs: chgrp $GROUP $DIR/server.key failed: the broker could not read it" >&2
        exit 1
    fi
    chmod 0640 "$DIR/server.key"
fi

# --- clients --------------------------------------------------------------------------------
for id in "$@"; do
    case "$id" in
        ''|*[!a-z0-9_-]*|[_-]*)
            echo "make-certs: client id '$id' must be a-z 0-9 _ - (the MQTT username)" >&2
            exit 2 ;;
    esac
    if [ -f "$DIR/clients/$id.crt" ]; then
        echo "make-certs: keeping $DIR/clients/$id.crt"
        continue
    fi
    ext=$(mktemp)
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$ext"
    openssl req -new -newkey rsa:2048 -nodes -subj "/O=Hjem/CN=$id" \
        -keyout "$DIR/clients/$id.key" -out "$DIR/clients/$id.csr" 2>/dev/null
    sign "clients/$id" "$id" "$ext"
    echo "make-certs: client certificate $DIR/clients/$id.crt (CN=$id)"
done
