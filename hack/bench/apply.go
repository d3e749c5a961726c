package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/kube"
)

// applyManifest returns n objects: 40% ConfigMaps, 30% Services, 30%
// Deployments of one replica, in that order, each distinct.
func applyManifest(n int, tag string) string {
	var sb strings.Builder
	cms, svcs := n*4/10, n*3/10
	deps := n - cms - svcs
	for i := 0; i < cms; i++ {
		fmt.Fprintf(&sb, `apiVersion: v1
kind: ConfigMap
metadata:
  name: config-%03d
  labels: {bench: apply}
data:
  version: "%s"
  settings.yaml: |
    feature-%03d: enabled
    timeout: 30s
---
`, i, tag, i)
	}
	for i := 0; i < svcs; i++ {
		fmt.Fprintf(&sb, `apiVersion: v1
kind: Service
metadata:
  name: svc-%03d
  labels: {bench: apply}
spec:
  selector: {app: app-%03d}
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]
---
`, i, i)
	}
	for i := 0; i < deps; i++ {
		fmt.Fprintf(&sb, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%03d
  labels: {bench: apply}
spec:
  replicas: 1
  selector:
    matchLabels: {app: app-%03d}
  template:
    metadata:
      labels: {app: app-%03d}
    spec:
      containers:
        - name: app
          image: registry.example.com/app:%s
          ports: [{containerPort: 8080}]
          envFrom: [{configMapRef: {name: config-%03d}}]
---
`, i, i, i, tag, i%max(cms, 1))
	}
	return sb.String()
}

// applyBench runs benchmark 4: the same objects applied into a fresh
// namespace by internal/kube.Apply (what Fledge's canary and production
// stages call, with its dry-run of every object first), with the client
// the server builds from an Environment's kubeconfig, and by `kubectl apply
// --server-side`, alternating; then, into the same namespaces, a second
// apply with a new value in every object (an update). A third variant,
// kube.Apply without client-side rate limit, shows how much of Fledge's
// time is that limit.
func (b *bench) applyBench(ctx context.Context, res *Results) error {
	n := b.o.applyObjects
	// As the server does (clusters.StoreSource): the Environment's
	// kubeconfig, with kube's defaults for rate limits and timeouts.
	server, err := kube.NewClient(ctx, v1alpha1.EnvironmentSpec{Kubeconfig: &v1alpha1.KubeconfigSource{Path: b.cluster.Kubeconfig()}})
	if err != nil {
		return err
	}
	cfg := server.RESTConfig()
	cfg.QPS, cfg.Burst = -1, 0 // a negative QPS turns client-go's rate limiter off
	unlimited, err := kube.NewClientFromConfig(cfg)
	if err != nil {
		return err
	}
	manifest := map[bool]string{false: applyManifest(n, "1.0"), true: applyManifest(n, "1.1")}
	files := map[bool]string{}
	objs := map[bool][]*unstructured.Unstructured{}
	for _, update := range []bool{false, true} {
		if files[update], err = b.writeFile(fmt.Sprintf("apply/update-%v.yaml", update), manifest[update]); err != nil {
			return err
		}
		if objs[update], err = kube.Decode(manifest[update]); err != nil {
			return err
		}
		if len(objs[update]) != n {
			return fmt.Errorf("manifest has %d objects, want %d", len(objs[update]), n)
		}
	}

	kubeApply := func(c *kube.Client) func(context.Context, string, bool) (time.Duration, error) {
		return func(ctx context.Context, ns string, update bool) (time.Duration, error) {
			start := time.Now()
			results, err := c.Apply(ctx, ns, objs[update], kube.ApplyOptions{})
			d := time.Since(start)
			if err != nil {
				return d, err
			}
			if len(results) != n {
				return d, fmt.Errorf("kube.Apply applied %d objects, want %d", len(results), n)
			}
			return d, nil
		}
	}
	tools := []struct {
		name  string
		apply func(context.Context, string, bool) (time.Duration, error)
	}{
		{"fledge", kubeApply(server)},
		{"kubectl", func(ctx context.Context, ns string, update bool) (time.Duration, error) {
			start := time.Now()
			_, err := b.cluster.Kubectl(ctx, "apply", "--server-side", "-f", files[update], "-n", ns)
			return time.Since(start), err
		}},
		{"fledge-unlimited", kubeApply(unlimited)},
	}
	times := map[string]map[bool][]time.Duration{}
	for i := 0; i <= b.o.n; i++ { // i == 0 warms up discovery and caches
		for _, tool := range tools {
			ns := fmt.Sprintf("apply-%s-%d", tool.name, i)
			if err := b.createNamespace(ctx, ns); err != nil {
				return err
			}
			for _, update := range []bool{false, true} {
				d, err := tool.apply(ctx, ns, update)
				if err != nil {
					return fmt.Errorf("%s (update %v): %w", tool.name, update, err)
				}
				b.log.Info("apply", "tool", tool.name, "rep", i, "objects", n, "update", update, "took", d.Round(time.Millisecond).String())
				if i > 0 {
					if times[tool.name] == nil {
						times[tool.name] = map[bool][]time.Duration{}
					}
					times[tool.name][update] = append(times[tool.name][update], d)
				}
			}
			// Remove the objects so the next repetition starts from the
			// same cluster state.
			if err := b.deleteNamespace(ctx, ns); err != nil {
				return err
			}
		}
	}
	sum := func(tool string, update bool) Summary { return Summarize(Millis(times[tool][update]), "ms") }
	res.Apply = &ApplyResult{
		Objects:         n,
		FledgeCreate:    sum("fledge", false),
		FledgeUpdate:    sum("fledge", true),
		KubectlCreate:   sum("kubectl", false),
		KubectlUpdate:   sum("kubectl", true),
		UnlimitedCreate: sum("fledge-unlimited", false),
		UnlimitedUpdate: sum("fledge-unlimited", true),
		FledgeQPS:       fmt.Sprintf("QPS %g, burst %d", server.RESTConfig().QPS, server.RESTConfig().Burst),
	}
	return nil
}
