package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"fledge.dev/fledge/internal/localcluster"
	"fledge.dev/fledge/test/dataplane"
)

// pollEvery is how often the bench looks at the objects it waits for; it
// bounds the resolution of every latency measured from API objects.
const pollEvery = 10 * time.Millisecond

// bench holds what every benchmark shares: one control plane and the
// fledge binary.
type bench struct {
	log       *slog.Logger
	root      string
	work      string
	fledgeBin string
	o         options
	cluster   *localcluster.Cluster
	cs        kubernetes.Interface
	dyn       dynamic.Interface
	// plane is the data plane while the release benchmark runs (nil
	// without one).
	plane *dataplane.Plane
	// queryLog is Prometheus' query log in the analysis benchmark.
	queryLog string
}

func newBench(ctx context.Context, log *slog.Logger, root, work, fledgeBin string, o options) (*bench, error) {
	opts := localcluster.Options{Logger: log.With("component", "localcluster"), Dir: filepath.Join(work, "cluster")}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	c, err := localcluster.Start(sctx, opts)
	if err != nil {
		return nil, err
	}
	cfg := c.RESTConfig()
	cfg.WarningHandler = rest.NoWarnings{}
	cfg.QPS, cfg.Burst = 200, 400 // the bench's own reads must not queue behind a rate limit
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		_ = c.Stop()
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		_ = c.Stop()
		return nil, err
	}
	b := &bench{log: log, root: root, work: work, fledgeBin: fledgeBin, o: o, cluster: c, cs: cs, dyn: dyn}
	log.Info("control plane up", "took", c.StartupDuration().Round(time.Millisecond).String(), "logs", c.LogDir())
	return b, nil
}

func (b *bench) close() {
	if b.cluster == nil {
		return
	}
	if err := b.cluster.Stop(); err != nil {
		b.log.Warn("stop control plane", "error", err)
	}
}

// versions names what is measured.
func (b *bench) versions(ctx context.Context, p peerBins) map[string]string {
	v := map[string]string{
		"kubernetes (apiserver, controller-manager, scheduler, kubectl)": "v1.36.3",
		"kwok": "v0.8.0",
	}
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		v["go"] = strings.TrimSpace(string(out))
	}
	if out, err := exec.CommandContext(ctx, "git", "-C", b.root, "describe", "--always", "--dirty").Output(); err == nil {
		v["fledge (git)"] = strings.TrimSpace(string(out))
	}
	if p.ArgoBin != "" {
		v["argo rollouts"] = "v1.10.1 (" + filepath.Base(filepath.Dir(p.ArgoBin)) + ")"
		v["flagger"] = "v1.36.1 (" + filepath.Base(filepath.Dir(p.FlaggerBin)) + ")"
	}
	if out, err := exec.CommandContext(ctx, "wrk", "--version").CombinedOutput(); err == nil || len(out) > 0 {
		if first, _, _ := strings.Cut(string(out), "\n"); strings.HasPrefix(first, "wrk") {
			v["wrk"] = strings.TrimSpace(first)
		}
	}
	return v
}

// createNamespace creates ns and waits for its default service account.
func (b *bench) createNamespace(ctx context.Context, ns string) error {
	return b.cluster.CreateNamespace(ctx, ns)
}

// deleteNamespace deletes ns and waits until it is gone.
func (b *bench) deleteNamespace(ctx context.Context, ns string) error {
	err := b.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	return poll(ctx, 3*time.Minute, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := b.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// kubectlApply applies a YAML file with the cluster's kubectl (set-up only,
// never measured).
func (b *bench) kubectlApply(ctx context.Context, ns, file string) error {
	args := []string{"apply", "--server-side", "--force-conflicts", "-f", file}
	if ns != "" {
		args = append(args, "-n", ns)
	}
	_, err := b.cluster.Kubectl(ctx, args...)
	return err
}

// writeFile writes content to a new file in the work folder.
func (b *bench) writeFile(name, content string) (string, error) {
	p := filepath.Join(b.work, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, []byte(content), 0o600)
}

// deploymentAvailable reports whether the Deployment runs image with all
// replicas (at least one) updated, ready and available, as `kubectl rollout
// status` judges.
func deploymentAvailable(d *appsv1.Deployment, image string) bool {
	if d.Spec.Template.Spec.Containers[0].Image != image {
		return false
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	// A Deployment scaled to zero (Flagger's idle canary) is not "running
	// the image".
	return want > 0 && s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.Replicas == want &&
		s.AvailableReplicas == want && s.ReadyReplicas == want
}

// ingressWeight reads the canary-weight annotation of an Ingress ("" when
// missing or the Ingress does not exist).
func (b *bench) ingressWeight(ctx context.Context, ns, name string) (string, error) {
	ing, err := b.cs.NetworkingV1().Ingresses(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return ing.Annotations["nginx.ingress.kubernetes.io/canary-weight"], nil
}

// deploymentReady reads a Deployment and reports deploymentAvailable.
func (b *bench) deploymentReady(ctx context.Context, ns, name, image string) (bool, error) {
	d, err := b.cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return deploymentAvailable(d, image), nil
}

// errTimeout is returned by poll when the condition never held.
var errTimeout = errors.New("timed out")

// poll calls cond every interval until it returns true, fails, or timeout
// passes. Transient read errors should be reported as (false, nil).
func poll(ctx context.Context, timeout, interval time.Duration, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w after %s", errTimeout, timeout)
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}

// permanentError marks an error of a wait condition that polling again
// cannot cure (a process died, a deployment ended otherwise).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// permanent wraps err so that waitUntil stops at once.
func permanent(err error) error { return permanentError{err} }

// waitUntil polls cond at pollEvery and returns when it first held: the
// start of the first check that saw it. Errors of cond are taken as
// transient (a read failed) unless wrapped by permanent.
func waitUntil(ctx context.Context, timeout time.Duration, what string, cond func(context.Context) (bool, error)) (time.Time, error) {
	var at time.Time
	err := poll(ctx, timeout, pollEvery, func(ctx context.Context) (bool, error) {
		start := time.Now()
		ok, err := cond(ctx)
		if ok {
			at = start
		}
		var perm permanentError
		if errors.As(err, &perm) {
			return false, err
		}
		if err != nil && ctx.Err() == nil {
			return false, nil // transient: keep polling
		}
		return ok, nil
	})
	if err != nil {
		return at, fmt.Errorf("wait for %s: %w", what, err)
	}
	return at, nil
}
