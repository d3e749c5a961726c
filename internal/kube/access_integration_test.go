package kube

import (
	"errors"
	"slices"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
)

// TestIntegrationCheckAccess asks the API server as a ServiceAccount that
// may read its namespace and apply Services there, and read namespaces
// cluster-wide: applying the walkthrough's manifests lacks Deployments and
// Ingresses, a missing namespace lacks its creation (cluster-scoped), and
// an unknown kind is left to Apply. Once the Role grants the kinds, the
// next check passes for them: denials are not remembered.
func TestIntegrationCheckAccess(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.createNamespace(t)
	cs := s.cluster.Clientset()
	const sa = "limited"
	if _, err := cs.CoreV1().ServiceAccounts(s.ns).Create(s.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: s.ns}}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: sa}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "create", "patch"}},
	}}
	role, err := cs.RbacV1().Roles(s.ns).Create(s.ctx, role, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(s.ns).Create(s.ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: sa}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: sa},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	readNamespaces := s.ns + "-read-namespaces"
	if _, err := cs.RbacV1().ClusterRoles().Create(s.ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: readNamespaces},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(s.ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: readNamespaces}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: readNamespaces},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoleBindings().Delete(t.Context(), readNamespaces, metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoles().Delete(t.Context(), readNamespaces, metav1.DeleteOptions{})
	})
	tr, err := cs.CoreV1().ServiceAccounts(s.ns).CreateToken(s.ctx, sa, &authnv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(s.cluster.RESTConfig())
	cfg.BearerToken = tr.Status.Token
	limited, err := NewClientFromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	widget := &unstructured.Unstructured{}
	widget.SetAPIVersion("example.com/v1")
	widget.SetKind("Widget")
	widget.SetName("w")
	missingNS := s.ns + "-new"
	access := []Access{
		{Namespace: s.ns, Objects: append(webpageObjects(t, "1.0"), widget), EnsureNamespace: true},
		{Namespace: missingNS, EnsureNamespace: true, CreateNamespace: true},
	}
	lacks := func(res string) string {
		return "cannot get " + res + " in namespace " + s.ns + "; cannot create " + res + " in namespace " + s.ns + "; cannot patch " + res + " in namespace " + s.ns
	}
	want := "missing permissions: cannot create namespaces (cluster-scoped); " + lacks("deployments.apps") + "; " + lacks("ingresses.networking.k8s.io") + "; grant them to the environment's identity (nothing was applied)"
	err = waitAccess(t, limited, access, func(err error) bool { return err != nil && err.Error() == want })
	if err == nil || err.Error() != want {
		t.Fatalf("CheckAccess:\n got %v\nwant %s", err, want)
	}

	role.Rules = append(role.Rules,
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "create", "patch"}},
		rbacv1.PolicyRule{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"get", "create", "patch"}})
	if _, err := cs.RbacV1().Roles(s.ns).Update(s.ctx, role, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := waitAccess(t, limited, access[:1], func(err error) bool { return err == nil }); err != nil {
		t.Errorf("CheckAccess after the grant: %v", err)
	}
	err = limited.CheckAccess(s.ctx, access...)
	var mp *MissingPermissionsError
	if !errors.As(err, &mp) || !slices.Equal(mp.Missing, []Need{{Verb: "create", Resource: "namespaces"}}) {
		t.Errorf("CheckAccess with the missing namespace after the grant: %v, want only namespace creation missing", err)
	}
}

// waitAccess checks access until done accepts the answer or 10 s pass (the
// API server's authorizer learns of RBAC changes from its cache), and
// returns the last answer.
func waitAccess(t *testing.T, c *Client, access []Access, done func(error) bool) error {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.CheckAccess(t.Context(), access...)
		if done(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
