package kube

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
)

// DefaultServiceAccountDir is where the kubelet mounts a pod's service
// account token and the cluster's CA certificate.
const DefaultServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Option configures NewClient.
type Option func(*clientOptions)

type clientOptions struct {
	serviceAccountDir string
}

// ServiceAccountDir makes an inCluster environment read the service
// account's token and ca.crt from dir instead of DefaultServiceAccountDir
// (tests point it at credentials of a local control plane).
func ServiceAccountDir(dir string) Option {
	return func(o *clientOptions) {
		if dir != "" {
			o.serviceAccountDir = dir
		}
	}
}

// inClusterConfig is the REST config of the pod's own cluster: the API
// server named by KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (set
// in every pod), the service account token in dir/token (read again as
// the kubelet rotates it) and the CA certificate in dir/ca.crt.
func inClusterConfig(dir string) (*rest.Config, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("inCluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set, so the Fledge server is not running in a Kubernetes pod: give the environment a kubeconfig instead")
	}
	tokenFile, caFile := filepath.Join(dir, "token"), filepath.Join(dir, "ca.crt")
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("inCluster: read the service account token: %w (does the pod mount its service account token? automountServiceAccountToken must not be false)", err)
	}
	if _, err := certutil.NewPool(caFile); err != nil {
		return nil, fmt.Errorf("inCluster: the cluster's CA certificate: %w", err)
	}
	return &rest.Config{
		Host:            "https://" + net.JoinHostPort(host, port),
		TLSClientConfig: rest.TLSClientConfig{CAFile: caFile},
		BearerToken:     string(token),
		BearerTokenFile: tokenFile,
	}, nil
}
