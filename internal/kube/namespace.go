package kube

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resources this package reads by name rather than through a manifest.
var (
	namespacesGVR      = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	serviceAccountsGVR = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
)

// pollInterval is how often waits look at the cluster again.
const pollInterval = 250 * time.Millisecond

// ManagedByLabel marks the namespaces Fledge created.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// EnsureNamespace makes sure namespace ns exists. When it is missing and
// create is true, it creates it and waits until its "default" service
// account exists (pods cannot be created before), and reports created. When
// it is missing and create is false, the error wraps ErrNamespaceMissing. A
// namespace being deleted is an error too.
func (c *Client) EnsureNamespace(ctx context.Context, ns string, create bool) (bool, error) {
	exists, err := c.checkNamespace(ctx, ns, create)
	if err != nil || exists {
		return false, err
	}
	nsClient := c.dyn.Resource(namespacesGVR)
	created := true
	err = retry(ctx, func(ctx context.Context) error {
		_, err := nsClient.Create(ctx, namespaceObject(ns), metav1.CreateOptions{FieldManager: FieldManager})
		return err
	})
	if apierrors.IsAlreadyExists(err) {
		// Someone else created it in the meantime; it still needs its
		// service account before use.
		created, err = false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create namespace %s: %w", ns, err)
	}
	if err := c.waitDefaultServiceAccount(ctx, ns); err != nil {
		return created, err
	}
	return created, nil
}

// checkNamespace reports whether ns exists. A namespace being deleted is
// an error, and so is a missing one when create is false; a missing one
// that may be created is created in a server-side dry run first, so that
// the API server's refusal (a name it does not accept, a quota, an
// admission policy) comes before anything is written.
func (c *Client) checkNamespace(ctx context.Context, ns string, create bool) (bool, error) {
	nsClient := c.dyn.Resource(namespacesGVR)
	live, err := getObject(ctx, nsClient, ns)
	switch {
	case err == nil:
		if phase, _, _ := unstructured.NestedString(live.Object, "status", "phase"); phase == "Terminating" {
			return false, fmt.Errorf("namespace %s is being deleted; wait until it is gone, or use another namespace", ns)
		}
		return true, nil
	case !apierrors.IsNotFound(err):
		return false, fmt.Errorf("read namespace %s: %w", ns, err)
	case !create:
		return false, fmt.Errorf("namespace %s: %w, and the environment does not allow creating namespaces (createNamespaces: false): create it first", ns, ErrNamespaceMissing)
	}
	err = retry(ctx, func(ctx context.Context) error {
		_, err := nsClient.Create(ctx, namespaceObject(ns), metav1.CreateOptions{FieldManager: FieldManager, DryRun: []string{metav1.DryRunAll}})
		return err
	})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return false, fmt.Errorf("create namespace %s (dry run): %w", ns, err)
	}
	return false, nil
}

func namespaceObject(ns string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Namespace",
		"metadata": map[string]any{
			"name":   ns,
			"labels": map[string]any{ManagedByLabel: "fledge"},
		},
	}}
}

// DeleteNamespace deletes namespace ns (a namespace gone already is no
// error). The namespace controller then removes what it holds.
func (c *Client) DeleteNamespace(ctx context.Context, ns string) error {
	err := retry(ctx, func(ctx context.Context) error {
		return c.dyn.Resource(namespacesGVR).Delete(ctx, ns, metav1.DeleteOptions{})
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	return nil
}

// waitDefaultServiceAccount waits until the controller manager has created
// the "default" service account of ns.
func (c *Client) waitDefaultServiceAccount(ctx context.Context, ns string) error {
	sa := c.dyn.Resource(serviceAccountsGVR).Namespace(ns)
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		_, err := getObject(ctx, sa, "default")
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("namespace %s: the default service account did not appear (is kube-controller-manager running?): %w", ns, err)
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("namespace %s: read default service account: %w", ns, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s: the default service account did not appear (is kube-controller-manager running?): %w", ns, context.Cause(ctx))
		case <-t.C:
		}
	}
}
