// Package registry holds container registry credentials as Fledge keeps
// them and as Kubernetes uses them: the sealed form of a Fledge secret of
// type registry, the kubernetes.io/dockerconfigjson Secret Fledge applies
// into every namespace it deploys to, and the manifest transform that names
// that Secret in pod templates' imagePullSecrets. It is pure: it neither
// reads the store nor talks to a cluster.
package registry

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// SealContext binds a sealed registry credential to its secret's name and
// to the registry type: a webhook secret's ciphertext (sealed under
// "secret/NAME") does not open as a registry credential, nor the other way
// round, so the type cannot be changed by copying a value.
func SealContext(name string) string { return "secret/" + name + "/registry" }

// SecretNamePrefix starts the name of every Kubernetes Secret Fledge makes
// from a registry credential.
const SecretNamePrefix = "fledge-registry-"

// SecretName is the stable name of the Kubernetes Secret that holds the
// Fledge registry secret named credential, in every namespace.
func SecretName(credential string) string { return SecretNamePrefix + credential }

// Labels of the Kubernetes Secret.
const (
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	LabelCredential = "fledge.dev/registry-credential"
)

// Credential is a registry login: the server images are pulled from, a
// user name and a password or access token.
type Credential struct {
	Server   string `json:"server"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// Bounds of a credential's fields.
const (
	MaxServerBytes   = 253 + 6 + 256 // host, port, path
	MaxUsernameBytes = 256
	MaxPasswordBytes = 8192
)

// FieldError names a wrong field of a credential.
type FieldError struct {
	Field, Message string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate checks the credential; each error names its field (server,
// username, password).
func (c Credential) Validate() []FieldError {
	var out []FieldError
	check := func(field, v string, limit int) {
		switch {
		case v == "":
			out = append(out, FieldError{field, "is required"})
		case len(v) > limit:
			out = append(out, FieldError{field, fmt.Sprintf("must be at most %d bytes", limit)})
		case strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar }) >= 0:
			out = append(out, FieldError{field, "must not contain spaces, control characters or invalid UTF-8"})
		}
	}
	check("server", c.Server, MaxServerBytes)
	if strings.Contains(c.Server, "://") && !strings.HasPrefix(c.Server, "https://") && !strings.HasPrefix(c.Server, "http://") {
		out = append(out, FieldError{"server", "must be a registry host (registry.example.com[:port]) or an http(s) URL"})
	}
	check("username", c.Username, MaxUsernameBytes)
	if strings.Contains(c.Username, ":") {
		out = append(out, FieldError{"username", "must not contain ':' (it separates user and password in the docker config)"})
	}
	check("password", c.Password, MaxPasswordBytes)
	return out
}

// Marshal is the plaintext that is sealed at rest.
func (c Credential) Marshal() ([]byte, error) { return json.Marshal(c) }

// Parse reads what Marshal wrote.
func Parse(b []byte) (Credential, error) {
	var c Credential
	if err := json.Unmarshal(b, &c); err != nil {
		return Credential{}, fmt.Errorf("decode registry credential: %w", err)
	}
	if fes := c.Validate(); len(fes) > 0 {
		return Credential{}, fmt.Errorf("registry credential: %w", fes[0])
	}
	return c, nil
}

// DockerConfigJSON is the .dockerconfigjson of a Secret holding creds.
func DockerConfigJSON(creds ...Credential) ([]byte, error) {
	type entry struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Auth     string `json:"auth"`
	}
	auths := map[string]entry{}
	for _, c := range creds {
		auths[c.Server] = entry{
			Username: c.Username, Password: c.Password,
			Auth: base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password)),
		}
	}
	return json.Marshal(map[string]any{"auths": auths})
}

// Secret is the kubernetes.io/dockerconfigjson Secret of the Fledge
// registry secret named credential, with no namespace: it is applied into
// each namespace a deployment reaches.
func Secret(credential string, c Credential) (*unstructured.Unstructured, error) {
	data, err := DockerConfigJSON(c)
	if err != nil {
		return nil, err
	}
	s := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"type":       "kubernetes.io/dockerconfigjson",
		"data":       map[string]any{".dockerconfigjson": base64.StdEncoding.EncodeToString(data)},
	}}
	s.SetName(SecretName(credential))
	s.SetLabels(map[string]string{LabelManagedBy: "fledge", LabelCredential: credential})
	return s, nil
}

// podSpecPaths are where each workload kind keeps its pod spec.
var podSpecPaths = map[string][]string{
	"Pod":         {"spec"},
	"Deployment":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
}

// ErrMalformed is matched by errors of InjectPullSecrets about an object
// whose pod spec or imagePullSecrets has the wrong shape.
var ErrMalformed = errors.New("malformed pod template")

// InjectPullSecrets returns objs with each secret name added to the
// imagePullSecrets of every pod spec among them (Pods, and the templates of
// Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs of
// the core API groups) that does not name it yet. Objects it changes are
// copies; the others are returned as they are. It also returns the
// "Kind/name" of each object it changed.
func InjectPullSecrets(objs []*unstructured.Unstructured, secrets ...string) ([]*unstructured.Unstructured, []string, error) {
	out := make([]*unstructured.Unstructured, len(objs))
	var changed []string
	for i, o := range objs {
		out[i] = o
		path, ok := podSpecPaths[o.GetKind()]
		if !ok || !workloadGroup(o) || len(secrets) == 0 {
			continue
		}
		spec, found, err := unstructured.NestedFieldNoCopy(o.Object, path...)
		if err != nil || !found {
			return nil, nil, fmt.Errorf("%s/%s: %w: no mapping at %s", o.GetKind(), o.GetName(), ErrMalformed, strings.Join(path, "."))
		}
		m, ok := spec.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("%s/%s: %w: %s is not a mapping", o.GetKind(), o.GetName(), ErrMalformed, strings.Join(path, "."))
		}
		have := map[string]bool{}
		var list []any
		if v, ok := m["imagePullSecrets"]; ok && v != nil {
			l, ok := v.([]any)
			if !ok {
				return nil, nil, fmt.Errorf("%s/%s: %w: %s.imagePullSecrets is not a list", o.GetKind(), o.GetName(), ErrMalformed, strings.Join(path, "."))
			}
			for _, e := range l {
				ref, ok := e.(map[string]any)
				if !ok {
					return nil, nil, fmt.Errorf("%s/%s: %w: an entry of %s.imagePullSecrets is not a mapping", o.GetKind(), o.GetName(), ErrMalformed, strings.Join(path, "."))
				}
				if n, ok := ref["name"].(string); ok {
					have[n] = true
				}
			}
			list = l
		}
		var add []any
		for _, s := range secrets {
			if !have[s] {
				have[s] = true
				add = append(add, map[string]any{"name": s})
			}
		}
		if len(add) == 0 {
			continue
		}
		cp := o.DeepCopy()
		// SetNestedSlice stores a deep copy, so the input's list is not shared.
		if err := unstructured.SetNestedSlice(cp.Object, append(append([]any{}, list...), add...), append(path, "imagePullSecrets")...); err != nil {
			return nil, nil, fmt.Errorf("%s/%s: %w", o.GetKind(), o.GetName(), err)
		}
		out[i] = cp
		changed = append(changed, o.GetKind()+"/"+o.GetName())
	}
	return out, changed, nil
}

// workloadGroup reports whether o is of the API group its kind is known
// in (core, apps or batch), not a custom resource of the same kind.
func workloadGroup(o *unstructured.Unstructured) bool {
	gv := o.GetAPIVersion()
	group := ""
	if i := strings.Index(gv, "/"); i >= 0 {
		group = gv[:i]
	}
	switch o.GetKind() {
	case "Pod":
		return group == ""
	case "Job", "CronJob":
		return group == "batch"
	}
	return group == "apps"
}
