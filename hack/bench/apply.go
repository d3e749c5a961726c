package main

import (
	"context"
	"fmt"
	"strings"
	"time"

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
// namespace by internal/kube.Apply (what Fledge's canary stage calls, with
// its dry-run of every object first) and by `kubectl apply --server-side`,
// alternating; then, into the same namespaces, a second apply with one
// field changed in every Deployment (an update).
func (b *bench) applyBench(ctx context.Context, res *Results) error {
	n := b.o.applyObjects
	client, err := kube.NewClientFromConfig(b.cluster.RESTConfig())
	if err != nil {
		return err
	}
	createFile, err := b.writeFile("apply/create.yaml", applyManifest(n, "1.0"))
	if err != nil {
		return err
	}
	updateFile, err := b.writeFile("apply/update.yaml", applyManifest(n, "1.1"))
	if err != nil {
		return err
	}
	createObjs, err := kube.Decode(applyManifest(n, "1.0"))
	if err != nil {
		return err
	}
	updateObjs, err := kube.Decode(applyManifest(n, "1.1"))
	if err != nil {
		return err
	}
	if len(createObjs) != n {
		return fmt.Errorf("manifest has %d objects, want %d", len(createObjs), n)
	}

	fledgeApply := func(ctx context.Context, ns string, update bool) (time.Duration, error) {
		objs := createObjs
		if update {
			objs = updateObjs
		}
		start := time.Now()
		results, err := client.Apply(ctx, ns, objs, kube.ApplyOptions{})
		d := time.Since(start)
		if err != nil {
			return d, err
		}
		if len(results) != n {
			return d, fmt.Errorf("kube.Apply applied %d objects, want %d", len(results), n)
		}
		return d, nil
	}
	kubectlApply := func(ctx context.Context, ns string, update bool) (time.Duration, error) {
		file := createFile
		if update {
			file = updateFile
		}
		start := time.Now()
		_, err := b.cluster.Kubectl(ctx, "apply", "--server-side", "-f", file, "-n", ns)
		return time.Since(start), err
	}

	var fc, fu, kc, ku []time.Duration
	for i := 0; i <= b.o.n; i++ { // i == 0 warms up discovery and caches
		for _, tool := range []string{"fledge", "kubectl"} {
			ns := fmt.Sprintf("apply-%s-%d", tool, i)
			if err := b.createNamespace(ctx, ns); err != nil {
				return err
			}
			apply := fledgeApply
			if tool == "kubectl" {
				apply = kubectlApply
			}
			create, err := apply(ctx, ns, false)
			if err != nil {
				return fmt.Errorf("%s create: %w", tool, err)
			}
			update, err := apply(ctx, ns, true)
			if err != nil {
				return fmt.Errorf("%s update: %w", tool, err)
			}
			b.log.Info("apply", "tool", tool, "rep", i, "objects", n, "create", create.Round(time.Millisecond).String(), "update", update.Round(time.Millisecond).String())
			if i > 0 {
				if tool == "fledge" {
					fc, fu = append(fc, create), append(fu, update)
				} else {
					kc, ku = append(kc, create), append(ku, update)
				}
			}
			// Remove the objects so the next repetition starts from the
			// same cluster state (and the pods do not pile up).
			if err := b.deleteNamespace(ctx, ns); err != nil {
				return err
			}
		}
	}
	r := ApplyResult{
		Objects:       n,
		FledgeCreate:  Summarize(Millis(fc), "ms"),
		FledgeUpdate:  Summarize(Millis(fu), "ms"),
		KubectlCreate: Summarize(Millis(kc), "ms"),
		KubectlUpdate: Summarize(Millis(ku), "ms"),
	}
	res.Apply = &r
	return nil
}
