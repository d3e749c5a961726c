// Package localcluster runs a real, single-machine Kubernetes control plane
// for tests and local development: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok, all bound to 127.0.0.1 on
// free ports, plus one fake node (kwok-node-0) that kwok keeps Ready and on
// which pods become Running and Ready without running any container.
//
// The binaries are not downloaded here: hack/build-controlplane.sh builds the
// pinned versions (see BinaryVersionKey) into a cache folder, which
// Options.WithDefaults finds; FLEDGE_CONTROLPLANE_BIN overrides it.
//
// Start brings a cluster up in steps, each waiting for the previous one:
//
//  1. PKI with Go's crypto: a CA, the API server's serving certificate, an
//     admin client certificate (O=system:masters) and an RSA
//     service-account key pair, all under Dir/pki.
//  2. etcd (--unsafe-no-fsync, data in Dir/etcd), ready on /health.
//  3. kube-apiserver with --endpoint-reconciler-type=none, because the
//     "kubernetes" Endpoints may not point at a loopback address; ready on
//     /readyz.
//  4. kube-controller-manager, kube-scheduler and kwok, all using the admin
//     kubeconfig written to Dir/kubeconfig.
//  5. The Node kwok-node-0 and the IngressClass "nginx"; Start returns once
//     the node is Ready and logs the time this took.
//
// Each component writes to its own file in Dir/logs. A failure names the
// component and its log file and quotes the log's last lines (see
// ComponentError).
//
// Every cluster records its processes in Dir/state.json. A cluster made by
// StartDetached runs its processes in their own sessions, so they outlive the
// process that started them; Load and StopDir find it again from the
// directory. A cluster made by Start is tied to its parent: on Linux the
// children are killed if the parent dies without calling Stop.
//
// kwok leaves alone the status of pods annotated
// kwok.x-k8s.io/status=custom (see CustomStatusAnnotation), so a test can
// write a status by hand, for example to keep a canary pod unready.
package localcluster
