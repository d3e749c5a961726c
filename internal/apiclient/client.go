// Package apiclient is the typed client of Fledge's HTTP API (see
// api/openapi.yaml). The CLI talks to the server only through it.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/version"
)

// Defaults and bounds of the client.
const (
	// DefaultTimeout bounds one request that is not a watch.
	DefaultTimeout = 30 * time.Second
	// MaxResponseBytes bounds the body of any answer that is read whole.
	MaxResponseBytes = 64 << 20
	// maxErrorBytes bounds the body of an error answer.
	maxErrorBytes = 1 << 20
)

// Client calls one Fledge server. It is safe for concurrent use.
type Client struct {
	base           *url.URL
	user           string
	token          string
	hc             *http.Client
	timeout        time.Duration
	reconnectDelay time.Duration
	pollInterval   time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithUser sets the identity sent in the X-Fledge-User header to a server
// running with --auth=none; it is not sent with a token.
func WithUser(user string) Option { return func(c *Client) { c.user = user } }

// WithToken sets the API token sent as Authorization: Bearer.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient sets the HTTP client (transport, TLS, proxies).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTimeout bounds each request, except the body of a watch stream;
// zero means no bound.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithReconnectDelay sets the first wait before a dropped watch reconnects
// (it doubles up to ten times that), and how often a server without
// streaming is polled.
func WithReconnectDelay(d time.Duration) Option {
	return func(c *Client) { c.reconnectDelay, c.pollInterval = d, d }
}

// New returns a client of the server at the given base URL, such as
// http://127.0.0.1:8080; a URL without a scheme is taken as http.
func New(server string, opts ...Option) (*Client, error) {
	server = strings.TrimSpace(server)
	if server == "" {
		return nil, errors.New("server URL is empty")
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("server URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("server URL %q: scheme must be http or https", server)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server URL %q: no host", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	c := &Client{
		base:           u,
		hc:             defaultHTTPClient,
		timeout:        DefaultTimeout,
		reconnectDelay: time.Second,
		pollInterval:   2 * time.Second,
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient
	}
	return c, nil
}

// defaultHTTPClient bounds connecting and the TLS handshake; each request
// is bounded by the client's timeout, and a watch by its context.
var defaultHTTPClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   10 * time.Second,
	IdleConnTimeout:       90 * time.Second,
	ExpectContinueTimeout: time.Second,
	MaxIdleConns:          10,
	ForceAttemptHTTP2:     true,
}}

// Server returns the base URL the client calls.
func (c *Client) Server() string { return c.base.String() }

// APIError is a non-2xx answer of the server, with its Status body.
type APIError struct {
	StatusCode int
	Status     v1alpha1.Status
}

// Error returns the server's message followed by one line per field
// problem, unless the message already says them all.
func (e *APIError) Error() string {
	msg := e.Status.Message
	if msg == "" {
		msg = e.Status.Reason
	}
	if msg == "" {
		msg = fmt.Sprintf("server answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	details := e.Status.Details
	said := true
	for _, d := range details {
		if !strings.Contains(msg, d.Message) || !strings.Contains(msg, d.Field) {
			said = false
			break
		}
	}
	if said {
		details = nil
	}
	var b strings.Builder
	b.WriteString(msg)
	for _, d := range details {
		b.WriteString("\n  ")
		if d.Field != "" {
			b.WriteString(d.Field)
			b.WriteString(": ")
		}
		b.WriteString(d.Message)
	}
	return b.String()
}

// IsNotFound reports whether err is the server's 404 answer.
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// IsConflict reports whether err is the server's 409 answer (for example a
// decision on a deployment that is not waiting for approval).
func IsConflict(err error) bool { return statusOf(err) == http.StatusConflict }

func statusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

// request is one call of the API.
type request struct {
	method string
	path   string // below /api/v1, segments already escaped
	query  url.Values
	body   any
	accept string
	// ifNoneMatch, when set, is sent as If-None-Match ("*": create only).
	ifNoneMatch string
}

// url builds the full URL of a request.
func (c *Client) url(r request) string {
	u := *c.base
	u.Path = c.base.Path + v1alpha1.PathPrefix + r.path
	u.RawPath = ""
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	return u.String()
}

// send performs a request and returns the response of a 2xx answer; any
// other answer is read into an *APIError. The caller closes the body.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.url(r), body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	accept := r.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	if r.ifNoneMatch != "" {
		req.Header.Set("If-None-Match", r.ifNoneMatch)
	}
	switch {
	case c.token != "":
		req.Header.Set(v1alpha1.AuthorizationHeader, "Bearer "+c.token)
	case c.user != "":
		req.Header.Set(v1alpha1.UserHeader, c.user)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", r.method, req.URL.Path, context.Cause(ctx))
		}
		return nil, fmt.Errorf("cannot reach the Fledge server at %s (is it running? see --server): %w", c.base, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readError(resp)
}

// readError turns a non-2xx answer into an *APIError, keeping a short
// piece of a body that is not a Status (a proxy's error page).
func readError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	ae := &APIError{StatusCode: resp.StatusCode}
	if err := json.Unmarshal(data, &ae.Status); err != nil || (ae.Status.Message == "" && ae.Status.Reason == "") {
		ae.Status = v1alpha1.Status{Code: resp.StatusCode}
		text := strings.TrimSpace(string(data))
		if len(text) > 200 {
			text = text[:200] + "..."
		}
		if text != "" {
			ae.Status.Message = fmt.Sprintf("server answered %d %s: %s", resp.StatusCode, http.StatusText(resp.StatusCode), text)
		}
	}
	return ae
}

// readBody reads a whole response body, refusing one over limit.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("response is larger than %d bytes", limit)
	}
	return data, nil
}

// do performs a request under the client's timeout and decodes a JSON
// answer into out, unless out is nil. It returns the status code.
func (c *Client) do(ctx context.Context, r request, out any) (int, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := readBody(resp.Body, MaxResponseBytes)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil {
		switch o := out.(type) {
		case *[]byte:
			*o = data
		default:
			if err := json.Unmarshal(data, out); err != nil {
				return resp.StatusCode, fmt.Errorf("decode answer of %s %s: %w", r.method, r.path, err)
			}
		}
	}
	return resp.StatusCode, nil
}

// resourcePath returns /{plural}[/{name}] for a kind, which may also be
// given as a plural or short name.
func resourcePath(kind, name string) (string, string, error) {
	k := kind
	if v1alpha1.Plural(k) == "" {
		k = v1alpha1.KindOfPlural(kind)
	}
	plural := v1alpha1.Plural(k)
	if plural == "" {
		return "", "", fmt.Errorf("unknown resource kind %q (want one of %s)", kind, strings.Join(v1alpha1.Kinds, ", "))
	}
	p := "/" + plural
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return k, p, nil
}

func label(kind, name string) string { return strings.ToLower(kind) + "/" + name }

// ApplyResource creates or updates a resource (PUT) and says what changed.
func (c *Client) ApplyResource(ctx context.Context, kind, name string, obj any) (v1alpha1.ApplyResponse, error) {
	var out v1alpha1.ApplyResponse
	if name == "" {
		return out, fmt.Errorf("apply %s: name is empty", kind)
	}
	k, p, err := resourcePath(kind, name)
	if err != nil {
		return out, err
	}
	if _, err := c.do(ctx, request{method: http.MethodPut, path: p, body: obj}, &out); err != nil {
		return out, fmt.Errorf("apply %s: %w", label(k, name), err)
	}
	return out, nil
}

// GetResource reads one resource into out (a *v1alpha1.Environment,
// *Artifact, *Pipeline or any JSON target).
func (c *Client) GetResource(ctx context.Context, kind, name string, out any) error {
	if name == "" {
		return fmt.Errorf("get %s: name is empty", kind)
	}
	k, p, err := resourcePath(kind, name)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, request{method: http.MethodGet, path: p}, out); err != nil {
		return fmt.Errorf("get %s: %w", label(k, name), err)
	}
	return nil
}

// ListResources returns every resource of a kind as JSON objects.
func (c *Client) ListResources(ctx context.Context, kind string) ([]json.RawMessage, error) {
	k, p, err := resourcePath(kind, "")
	if err != nil {
		return nil, err
	}
	var out v1alpha1.ResourceList[json.RawMessage]
	if _, err := c.do(ctx, request{method: http.MethodGet, path: p}, &out); err != nil {
		return nil, fmt.Errorf("list %s: %w", v1alpha1.Plural(k), err)
	}
	return out.Items, nil
}

// DeleteResource deletes a resource; the server refuses while it is
// referenced or running.
func (c *Client) DeleteResource(ctx context.Context, kind, name string) error {
	if name == "" {
		return fmt.Errorf("delete %s: name is empty", kind)
	}
	k, p, err := resourcePath(kind, name)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: p}, nil); err != nil {
		return fmt.Errorf("delete %s: %w", label(k, name), err)
	}
	return nil
}

// Run starts a deployment of a pipeline with parameters.
func (c *Client) Run(ctx context.Context, pipeline string, params map[string]string) (v1alpha1.Deployment, error) {
	var out v1alpha1.Deployment
	p := "/pipelines/" + url.PathEscape(pipeline) + "/runs"
	if _, err := c.do(ctx, request{method: http.MethodPost, path: p, body: v1alpha1.RunRequest{Parameters: params}}, &out); err != nil {
		return out, fmt.Errorf("run pipeline %s: %w", pipeline, err)
	}
	return out, nil
}

func deploymentPath(id int64, sub string) string {
	p := "/deployments/" + strconv.FormatInt(id, 10)
	if sub != "" {
		p += "/" + sub
	}
	return p
}

// GetDeployment reads a deployment with its stages and decisions.
func (c *Client) GetDeployment(ctx context.Context, id int64) (v1alpha1.Deployment, error) {
	var out v1alpha1.Deployment
	if _, err := c.do(ctx, request{method: http.MethodGet, path: deploymentPath(id, "")}, &out); err != nil {
		return out, fmt.Errorf("get deployment %d: %w", id, err)
	}
	return out, nil
}

// DeploymentID returns the id of the deployment ref names; a
// PIPELINE#NUMBER reference is resolved by the server.
func (c *Client) DeploymentID(ctx context.Context, ref v1alpha1.DeploymentRef) (int64, error) {
	if ref.Pipeline == "" {
		return ref.ID, nil
	}
	var out v1alpha1.Deployment
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/deployments/" + ref.String()}, &out); err != nil {
		return 0, fmt.Errorf("get deployment %s: %w", ref, err)
	}
	return out.ID, nil
}

// ListOptions select and page the deployments listed.
type ListOptions struct {
	// Pipeline keeps the deployments of one pipeline.
	Pipeline string
	// Statuses keeps the deployments in one of these statuses.
	Statuses []v1alpha1.DeploymentStatus
	// Limit is the page size (1 to 500); zero lets the server choose.
	Limit int
	// Before keeps deployments with a lower id (the NextBefore of the
	// previous page).
	Before int64
}

// ListDeployments returns a page of deployments, newest first.
func (c *Client) ListDeployments(ctx context.Context, opts ListOptions) (v1alpha1.DeploymentList, error) {
	var out v1alpha1.DeploymentList
	q := url.Values{}
	if opts.Pipeline != "" {
		q.Set("pipeline", opts.Pipeline)
	}
	if len(opts.Statuses) > 0 {
		s := make([]string, len(opts.Statuses))
		for i, st := range opts.Statuses {
			s[i] = string(st)
		}
		q.Set("status", strings.Join(s, ","))
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Before > 0 {
		q.Set("before", strconv.FormatInt(opts.Before, 10))
	}
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/deployments", query: q}, &out); err != nil {
		return out, fmt.Errorf("list deployments: %w", err)
	}
	return out, nil
}

// Events returns a deployment's events with a sequence number above after.
func (c *Client) Events(ctx context.Context, id, after int64) ([]v1alpha1.Event, error) {
	var out v1alpha1.EventList
	if _, err := c.do(ctx, request{method: http.MethodGet, path: deploymentPath(id, "events"), query: afterQuery(after)}, &out); err != nil {
		return nil, fmt.Errorf("events of deployment %d: %w", id, err)
	}
	return out.Items, nil
}

func afterQuery(after int64) url.Values {
	q := url.Values{}
	if after > 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	return q
}

// Manifests returns the rendered manifests stored with a deployment (YAML).
func (c *Client) Manifests(ctx context.Context, id int64) (string, error) {
	var out []byte
	if _, err := c.do(ctx, request{method: http.MethodGet, path: deploymentPath(id, "manifests"), accept: "application/yaml"}, &out); err != nil {
		return "", fmt.Errorf("manifests of deployment %d: %w", id, err)
	}
	return string(out), nil
}

// Measurements returns the analysis measurements of a deployment, in the
// order they were taken.
func (c *Client) Measurements(ctx context.Context, id int64) ([]v1alpha1.Measurement, error) {
	var out v1alpha1.MeasurementList
	if _, err := c.do(ctx, request{method: http.MethodGet, path: deploymentPath(id, "measurements")}, &out); err != nil {
		return nil, fmt.Errorf("measurements of deployment %d: %w", id, err)
	}
	return out.Items, nil
}

// Approve approves a deployment waiting at its approval stage.
func (c *Client) Approve(ctx context.Context, id int64, reason string) (v1alpha1.Deployment, error) {
	return c.decide(ctx, id, "approve", reason)
}

// Reject rejects a deployment waiting at its approval stage; the server
// requires a reason.
func (c *Client) Reject(ctx context.Context, id int64, reason string) (v1alpha1.Deployment, error) {
	return c.decide(ctx, id, "reject", reason)
}

func (c *Client) decide(ctx context.Context, id int64, verb, reason string) (v1alpha1.Deployment, error) {
	var out v1alpha1.Deployment
	r := request{method: http.MethodPost, path: deploymentPath(id, verb), body: v1alpha1.DecisionRequest{Reason: reason}}
	if _, err := c.do(ctx, r, &out); err != nil {
		return out, fmt.Errorf("%s deployment %d: %w", verb, id, err)
	}
	return out, nil
}

// Cancel asks the server to cancel (abort) a queued or running
// deployment; reason, if any, is recorded with the request.
func (c *Client) Cancel(ctx context.Context, id int64, reason string) (v1alpha1.Deployment, error) {
	return c.decide(ctx, id, "cancel", reason)
}

// Resume lets a paused deployment go on.
func (c *Client) Resume(ctx context.Context, id int64, reason string) (v1alpha1.Deployment, error) {
	return c.decide(ctx, id, "resume", reason)
}

// Promote skips what is left before a deployment's production release.
func (c *Client) Promote(ctx context.Context, id int64, reason string) (v1alpha1.Deployment, error) {
	return c.decide(ctx, id, "promote", reason)
}

// Retry runs a failed, cancelled or rejected release again with its plan
// and returns the new deployment.
func (c *Client) Retry(ctx context.Context, id int64) (v1alpha1.Deployment, error) {
	var out v1alpha1.Deployment
	if _, err := c.do(ctx, request{method: http.MethodPost, path: deploymentPath(id, "retry")}, &out); err != nil {
		return out, fmt.Errorf("retry deployment %d: %w", id, err)
	}
	return out, nil
}

// RollbackResult is the answer to a rollback: a preview for a dry run,
// otherwise the rollback deployment that was started.
type RollbackResult struct {
	Preview    *v1alpha1.RollbackPreview
	Deployment *v1alpha1.Deployment
}

// Rollback rolls a pipeline's production back to an earlier deployment
// (req.To) with req.Reason, or with req.DryRun only previews what would
// change.
func (c *Client) Rollback(ctx context.Context, pipeline string, req v1alpha1.RollbackRequest) (RollbackResult, error) {
	var res RollbackResult
	to, dryRun := req.To, req.DryRun
	p := "/pipelines/" + url.PathEscape(pipeline) + "/rollback"
	var out any
	if dryRun {
		res.Preview = &v1alpha1.RollbackPreview{}
		out = res.Preview
	} else {
		res.Deployment = &v1alpha1.Deployment{}
		out = res.Deployment
	}
	if _, err := c.do(ctx, request{method: http.MethodPost, path: p, body: req}, out); err != nil {
		return RollbackResult{}, fmt.Errorf("roll back pipeline %s to deployment %d: %w", pipeline, to, err)
	}
	return res, nil
}

// WhoAmI returns the identity and roles the server sees for the token.
func (c *Client) WhoAmI(ctx context.Context) (v1alpha1.WhoAmI, error) {
	var out v1alpha1.WhoAmI
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/whoami"}, &out); err != nil {
		return out, fmt.Errorf("who am I: %w", err)
	}
	return out, nil
}

// Version returns the build of the server.
func (c *Client) Version(ctx context.Context) (version.Info, error) {
	var out version.Info
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/version"}, &out); err != nil {
		return out, fmt.Errorf("server version: %w", err)
	}
	return out, nil
}

// CreateToken creates an API token; the answer holds its secret, which the
// server never shows again.
func (c *Client) CreateToken(ctx context.Context, req v1alpha1.TokenRequest) (v1alpha1.CreatedToken, error) {
	var out v1alpha1.CreatedToken
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/tokens", body: req}, &out); err != nil {
		return out, fmt.Errorf("create token %s: %w", req.Name, err)
	}
	return out, nil
}

// ListTokens lists the API tokens (never their secrets).
func (c *Client) ListTokens(ctx context.Context) (v1alpha1.TokenList, error) {
	var out v1alpha1.TokenList
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/tokens"}, &out); err != nil {
		return out, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken revokes an API token.
func (c *Client) RevokeToken(ctx context.Context, name string) error {
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: "/tokens/" + url.PathEscape(name)}, nil); err != nil {
		return fmt.Errorf("revoke token %s: %w", name, err)
	}
	return nil
}

// SetSecret creates or replaces a secret (a webhook secret's value or a
// registry login); it reports whether it was created. With createOnly an
// existing secret is a conflict.
func (c *Client) SetSecret(ctx context.Context, name string, req v1alpha1.SecretRequest, createOnly bool) (bool, error) {
	r := request{method: http.MethodPut, path: "/secrets/" + url.PathEscape(name), body: req}
	if createOnly {
		r.ifNoneMatch = "*"
	}
	code, err := c.do(ctx, r, nil)
	if err != nil {
		return false, fmt.Errorf("set secret %s: %w", name, err)
	}
	return code == http.StatusCreated, nil
}

// ListSecrets lists the secrets (never their values).
func (c *Client) ListSecrets(ctx context.Context) (v1alpha1.SecretList, error) {
	var out v1alpha1.SecretList
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/secrets"}, &out); err != nil {
		return out, fmt.Errorf("list secrets: %w", err)
	}
	return out, nil
}

// DeleteSecret deletes a webhook secret that no pipeline uses.
func (c *Client) DeleteSecret(ctx context.Context, name string) error {
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: "/secrets/" + url.PathEscape(name)}, nil); err != nil {
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	return nil
}

// AuditOptions select a page of the audit log.
type AuditOptions struct {
	Actor  string
	Action string
	// Since is an RFC 3339 time or a duration back from now (1h).
	Since  string
	Limit  int
	Before int64
	// Until (RFC 3339) keeps entries strictly before it; Oldest lists
	// oldest first, paged with After.
	Until  string
	Oldest bool
	After  int64
}

// ListAudit returns a page of the audit log, newest first.
func (c *Client) ListAudit(ctx context.Context, o AuditOptions) (v1alpha1.AuditList, error) {
	var out v1alpha1.AuditList
	q := url.Values{}
	for k, v := range map[string]string{"actor": o.Actor, "action": o.Action, "since": o.Since, "until": o.Until} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Before > 0 {
		q.Set("before", strconv.FormatInt(o.Before, 10))
	}
	if o.Oldest {
		q.Set("order", "oldest")
	}
	if o.After > 0 {
		q.Set("after", strconv.FormatInt(o.After, 10))
	}
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/audit", query: q}, &out); err != nil {
		return out, fmt.Errorf("audit log: %w", err)
	}
	return out, nil
}

// PruneAudit removes the audit entries older than before with an ID up to
// throughID (the newest one archived).
func (c *Client) PruneAudit(ctx context.Context, before time.Time, throughID int64) (v1alpha1.AuditPruneResult, error) {
	var out v1alpha1.AuditPruneResult
	body := v1alpha1.AuditPruneRequest{Before: before, ThroughID: throughID}
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/audit/prune", body: body}, &out); err != nil {
		return out, fmt.Errorf("prune audit log: %w", err)
	}
	return out, nil
}
