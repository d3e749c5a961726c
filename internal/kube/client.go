package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	authzclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"fledge.dev/fledge/api/v1alpha1"
)

// FieldManager is the server-side apply field manager of Fledge's
// deployments.
const FieldManager = "fledge"

// Defaults of the REST client built by NewClient and NewClientFromConfig.
const (
	// DefaultRequestTimeout bounds one request to the API server; longer
	// operations are made of many requests and bounded by their context.
	DefaultRequestTimeout = 30 * time.Second
	// The client-side rate limit of one environment's client, shared by
	// every deployment to it. The API server protects itself with API
	// Priority and Fairness (and answers 429, which is retried); this limit
	// only keeps one Fledge from flooding it. A 500-object manifest is
	// about 1,500 requests (read, dry-run, apply), so at 50 QPS, client-go's
	// usual figure, the limiter and not the server would set its pace.
	defaultQPS   = 300
	defaultBurst = 600
	userAgent    = "fledge"
)

// Client talks to one cluster through the dynamic client and a
// discovery-backed RESTMapper. It is safe for concurrent use.
type Client struct {
	cfg    *rest.Config
	dyn    dynamic.Interface
	disc   *discovery.DiscoveryClient
	mapper *restmapper.DeferredDiscoveryRESTMapper
	authz  authzclient.AuthorizationV1Interface
	// access remembers the permissions found allowed (CheckAccess).
	access accessCache
	// resetMu serialises mapper resets so that concurrent misses cause one
	// discovery round trip, not many.
	resetMu   sync.Mutex
	lastReset time.Time
}

// NewClient builds a client for the cluster an Environment describes: a
// kubeconfig given by path or inline (optionally with a context), or the
// in-cluster service account. It does not contact the cluster; use Ping for
// that.
//
// An inline kubeconfig comes from an API user, so it may not run exec or
// auth-provider plugins nor read files of the Fledge server. Errors never
// quote the kubeconfig's content.
func NewClient(ctx context.Context, spec v1alpha1.EnvironmentSpec, opts ...Option) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := clientOptions{serviceAccountDir: DefaultServiceAccountDir}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := restConfig(spec, o)
	if err != nil {
		return nil, err
	}
	return NewClientFromConfig(cfg)
}

// expandHome reads a leading "~/" of a kubeconfig path as the server's
// home directory, where `fledge dev cluster up` keeps its kubeconfig.
func expandHome(path string) (string, error) {
	rest, ok := strings.CutPrefix(path, "~/")
	if !ok {
		return path, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("kubeconfig %s: the server has no home directory: %w", path, err)
	}
	return filepath.Join(home, rest), nil
}

// restConfig resolves an EnvironmentSpec into a REST config.
func restConfig(spec v1alpha1.EnvironmentSpec, o clientOptions) (*rest.Config, error) {
	kc := spec.Kubeconfig
	hasPath := kc != nil && kc.Path != ""
	hasInline := kc != nil && kc.Inline != ""
	switch {
	case spec.InCluster && (hasPath || hasInline):
		return nil, errors.New("environment sets both inCluster and a kubeconfig: choose one")
	case hasPath && hasInline:
		return nil, errors.New("environment kubeconfig sets both path and inline: choose one")
	case spec.InCluster:
		return inClusterConfig(o.serviceAccountDir)
	case hasPath:
		path, err := expandHome(kc.Path)
		if err != nil {
			return nil, err
		}
		raw, err := clientcmd.LoadFromFile(path)
		if err != nil {
			return nil, fmt.Errorf("load kubeconfig %s: %w", kc.Path, sanitizeKubeconfigError(err))
		}
		return fromKubeconfig(raw, spec.Context, "kubeconfig "+kc.Path)
	case hasInline:
		raw, err := clientcmd.Load([]byte(kc.Inline))
		if err != nil {
			return nil, fmt.Errorf("parse inline kubeconfig: %w", sanitizeKubeconfigError(err))
		}
		// Check before building the config: building it already reads
		// token and certificate files.
		if err := checkInlineConfig(raw); err != nil {
			return nil, err
		}
		return fromKubeconfig(raw, spec.Context, "inline kubeconfig")
	default:
		return nil, errors.New("environment has no kubeconfig and inCluster is false: set one")
	}
}

// fromKubeconfig builds the REST config of a context (empty: the current
// one) of a loaded kubeconfig; what names the kubeconfig in errors.
func fromKubeconfig(raw *clientcmdapi.Config, context, what string) (*rest.Config, error) {
	if context != "" && raw.Contexts[context] == nil {
		names := slices.Sorted(maps.Keys(raw.Contexts))
		return nil, fmt.Errorf("%s has no context %q (it has: %s)", what, context, strings.Join(names, ", "))
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, context, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, sanitizeKubeconfigError(err))
	}
	return cfg, nil
}

// checkInlineConfig refuses the parts of a kubeconfig that would make the
// Fledge server run a command or read one of its own files on behalf of
// whoever submitted the kubeconfig. It checks every entry, used or not.
func checkInlineConfig(raw *clientcmdapi.Config) error {
	var refused []string
	for _, name := range slices.Sorted(maps.Keys(raw.AuthInfos)) {
		u := raw.AuthInfos[name]
		if u.Exec != nil {
			refused = append(refused, fmt.Sprintf("user %q: an exec credential plugin", name))
		}
		if u.AuthProvider != nil {
			refused = append(refused, fmt.Sprintf("user %q: an auth-provider plugin", name))
		}
		if u.TokenFile != "" {
			refused = append(refused, fmt.Sprintf("user %q: tokenFile", name))
		}
		if u.ClientCertificate != "" || u.ClientKey != "" {
			refused = append(refused, fmt.Sprintf("user %q: client-certificate or client-key file paths", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(raw.Clusters)) {
		if raw.Clusters[name].CertificateAuthority != "" {
			refused = append(refused, fmt.Sprintf("cluster %q: a certificate-authority file path", name))
		}
	}
	if len(refused) == 0 {
		return nil
	}
	return fmt.Errorf("inline kubeconfig uses %s, which Fledge does not allow in inline kubeconfigs: embed tokens and certificates as data (token, client-certificate-data, certificate-authority-data) or give the kubeconfig by path", joinList(refused))
}

// kubeconfigLine finds a YAML line reference in a parse error.
var kubeconfigLine = regexp.MustCompile(`line \d+`)

// sanitizeKubeconfigError keeps the shape of a kubeconfig error without its
// text: YAML errors can quote values, and values can be tokens or keys.
// Errors of clientcmd's own validation (unknown context, empty cluster) name
// only entries and are kept.
func sanitizeKubeconfigError(err error) error {
	msg := err.Error()
	if clientcmd.IsConfigurationInvalid(err) || clientcmd.IsContextNotFound(err) || clientcmd.IsEmptyConfig(err) {
		return err
	}
	if loc := kubeconfigLine.FindString(msg); loc != "" {
		return fmt.Errorf("not a valid kubeconfig (error at %s; details hidden because they may quote secrets)", loc)
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		// The text of a file-system error holds only the path.
		return pathErr
	}
	return errors.New("not a valid kubeconfig (details hidden because they may quote secrets)")
}

// NewClientFromConfig builds a client from a REST config. It copies cfg and
// sets a request timeout, rate limits and a user agent when cfg has none.
func NewClientFromConfig(cfg *rest.Config) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("nil REST config")
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultRequestTimeout
	}
	if cfg.QPS == 0 {
		cfg.QPS = defaultQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = defaultBurst
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = userAgent
	}
	if cfg.WarningHandler == nil && cfg.WarningHandlerWithContext == nil {
		cfg.WarningHandlerWithContext = warningRouter{}
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	authz, err := authzclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("authorization client: %w", err)
	}
	return &Client{
		cfg:    cfg,
		dyn:    dyn,
		disc:   disc,
		authz:  authz,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
	}, nil
}

// RESTConfig returns a copy of the client's REST config.
func (c *Client) RESTConfig() *rest.Config { return rest.CopyConfig(c.cfg) }

// Dynamic returns the client's dynamic client, for callers that need a
// request this package does not offer.
func (c *Client) Dynamic() dynamic.Interface { return c.dyn }

// Ping asks the server for its version, to check that the cluster is
// reachable and the credentials are accepted. It does not retry.
func (c *Client) Ping(ctx context.Context) (string, error) {
	var info struct {
		GitVersion string `json:"gitVersion"`
	}
	body, err := c.disc.RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", fmt.Errorf("reach API server %s: %w", c.cfg.Host, err)
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return "", fmt.Errorf("read API server version: %w", err)
	}
	return info.GitVersion, nil
}

// mapping resolves a kind to its resource, refreshing discovery once when
// the kind is unknown: the in-memory cache never expires by itself.
func (c *Client) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil && meta.IsNoMatchError(err) {
		c.resetMapper()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, &UnknownKindError{GVK: gvk, Err: err}
		}
		return nil, fmt.Errorf("discover %s: %w", gvk, err)
	}
	return m, nil
}

// resetMapper drops the discovery cache unless another caller did so a
// moment ago.
func (c *Client) resetMapper() {
	c.resetMu.Lock()
	defer c.resetMu.Unlock()
	if time.Since(c.lastReset) < time.Second {
		return
	}
	c.mapper.Reset()
	c.lastReset = time.Now()
}

// resource returns the dynamic client of obj's kind, scoped to ns when the
// kind is namespaced, and whether it is.
func (c *Client) resource(ctx context.Context, ns string, gvk schema.GroupVersionKind) (dynamic.ResourceInterface, bool, error) {
	var m *meta.RESTMapping
	err := retry(ctx, func(context.Context) error {
		var err error
		m, err = c.mapping(gvk)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.dyn.Resource(m.Resource).Namespace(ns), true, nil
	}
	return c.dyn.Resource(m.Resource), false, nil
}

// Get reads the live state of obj (its apiVersion, kind and name) in ns. The
// namespace is ignored for cluster-scoped kinds. A missing object yields an
// error for which apierrors.IsNotFound is true.
func (c *Client) Get(ctx context.Context, ns string, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	kind, name := obj.GetKind(), obj.GetName()
	ri, _, err := c.resource(ctx, ns, obj.GroupVersionKind())
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", kind, name, err)
	}
	live, err := getObject(ctx, ri, name)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s in namespace %s: %w", kind, name, ns, err)
	}
	return live, nil
}

// getObject reads one object, retrying transient errors.
func getObject(ctx context.Context, ri dynamic.ResourceInterface, name string) (*unstructured.Unstructured, error) {
	var out *unstructured.Unstructured
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		out, err = ri.Get(ctx, name, metav1.GetOptions{})
		return err
	})
	return out, err
}

// getIfExists is getObject that returns nil, nil for a missing object.
func getIfExists(ctx context.Context, ri dynamic.ResourceInterface, name string) (*unstructured.Unstructured, error) {
	out, err := getObject(ctx, ri, name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return out, err
}
