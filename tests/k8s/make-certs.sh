#!/usr/bin/env bash
# make-certs.sh DIR -- a throwaway CA and certificates for the fake Kubernetes API server:
#   DIR/ca.crt, DIR/ca.key            the CA (clients verify the server with ca.crt)
#   DIR/server.crt, DIR/server.key    for 127.0.0.1, ::1 and localhost (fake-apiserver.js --cert/--key)
#   DIR/client.crt, DIR/client.key    a client certificate (CN vexxy-test) signed by the same CA,
#                                     accepted by fake-apiserver.js --client-ca DIR/ca.crt
#   DIR/kubeconfig.template           a kubeconfig with @SERVER@, @TOKEN@, @NAMESPACE@ to fill in
# make-certs.sh kubeconfig DIR SERVER TOKEN [NAMESPACE] -- prints that kubeconfig filled in
#   (certificate-authority by path; NAMESPACE defaults to vexxy-sandbox).
# Uses the openssl CLI only. Certificates are valid for 2 days; rerunning overwrites them.
set -euo pipefail

if [ "${1:-}" = kubeconfig ]; then
    dir="${2:?usage: make-certs.sh kubeconfig DIR SERVER TOKEN [NAMESPACE]}"
    server="${3:?server URL}"
    token="${4:?token}"
    ns="${5:-vexxy-sandbox}"
    sed -e "s|@SERVER@|$server|" -e "s|@TOKEN@|$token|" -e "s|@NAMESPACE@|$ns|" \
        "$dir/kubeconfig.template"
    exit 0
fi

dir="${1:?usage: make-certs.sh DIR}"
mkdir -p "$dir"
cd "$dir"
umask 077

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout ca.key -out ca.crt -subj "/CN=vexxy-test-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null

sign() { # name subject extensions
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
sign server "/CN=fake-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"
sign client "/O=vexxy/CN=vexxy-test" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
rm -f ca.srl
chmod 0644 ca.crt server.crt client.crt

cat >kubeconfig.template <<KC
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: @SERVER@
    certificate-authority: $PWD/ca.crt
users:
- name: vexxy-worker
  user:
    token: @TOKEN@
contexts:
- name: fake
  context:
    cluster: fake
    user: vexxy-worker
    namespace: @NAMESPACE@
current-context: fake
KC
echo "make-certs: wrote ca.crt server.crt server.key client.crt client.key kubeconfig.template in $PWD"
