package e2e

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"fledge.dev/fledge/api/v1alpha1"
)

// TestInClusterWithChartRBAC runs a release as the chart's ServiceAccount,
// and nothing more: the chart's rendered RBAC (deploy/testdata/
// namespaced.yaml, kept in step with the chart by the deploy tests) is
// applied, a token is minted for the ServiceAccount (TokenRequest), and
// fledge serve runs with the in-cluster environment variables and the
// token and CA in a service account directory, as in a pod. The release
// uses an Environment with inCluster: true; afterwards
// SelfSubjectRulesReview (what kubectl auth can-i --list shows) must list
// nothing beyond the chart's rules. Before that, the production Role lacks
// its Ingress rule for one deployment, which must fail before applying
// anything, naming each missing permission.
func TestInClusterWithChartRBAC(t *testing.T) {
	const (
		pipeline   = "incluster-pipeline"
		canaryNS   = "rbac-canary"
		prodNS     = "rbac-prod"
		releaseNS  = "fledge"
		saName     = "fledge"
		otherNS    = "rbac-elsewhere"
		renderedAt = "deploy/testdata/namespaced.yaml"
	)
	ctx := t.Context()
	cs := cluster.Clientset()
	for _, ns := range []string{releaseNS, canaryNS, prodNS, otherNS} {
		if err := cluster.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(t.Context(), otherNS, metav1.DeleteOptions{})
	})

	// The chart's ServiceAccount, Roles and RoleBindings, exactly as rendered.
	rendered, err := os.ReadFile(filepath.Join(repoRoot, renderedAt))
	if err != nil {
		t.Fatal(err)
	}
	var rbac []string
	chartRules := map[string]bool{} // "group/resource verb"
	for _, doc := range strings.Split(string(rendered), "\n---\n") {
		var head struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%s: %v", renderedAt, err)
		}
		switch head.Kind {
		case "ServiceAccount", "Role", "RoleBinding":
			rbac = append(rbac, doc)
		}
		if head.Kind == "Role" {
			var r rbacv1.Role
			if err := yaml.Unmarshal([]byte(doc), &r); err != nil {
				t.Fatal(err)
			}
			for _, rule := range r.Rules {
				for _, g := range rule.APIGroups {
					for _, res := range rule.Resources {
						for _, v := range rule.Verbs {
							chartRules[g+"/"+res+" "+v] = true
						}
					}
				}
			}
		}
	}
	if len(rbac) != 5 || len(chartRules) == 0 {
		t.Fatalf("%s: want a ServiceAccount and two Roles and RoleBindings, found %d objects", renderedAt, len(rbac))
	}
	rbacFile := filepath.Join(t.TempDir(), "rbac.yaml")
	if err := os.WriteFile(rbacFile, []byte(strings.Join(rbac, "\n---\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := cluster.Kubectl(ctx, "apply", "-f", rbacFile); err != nil {
		t.Fatalf("apply the chart's RBAC: %v\n%s", err, out)
	}

	// The pod's service account directory: a token minted for the
	// ServiceAccount and the cluster's CA.
	tr, err := cs.CoreV1().ServiceAccounts(releaseNS).CreateToken(ctx, saName, &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	saDir := t.TempDir()
	cfg := cluster.RESTConfig()
	ca := cfg.CAData
	if len(ca) == 0 {
		if ca, err = os.ReadFile(cfg.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string][]byte{"token": []byte(tr.Status.Token), "ca.crt": ca} {
		if err := os.WriteFile(filepath.Join(saDir, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	u, err := url.Parse(cluster.Server())
	if err != nil {
		t.Fatal(err)
	}
	asSA := rest.AnonymousClientConfig(cfg)
	asSA.BearerToken = tr.Status.Token
	saClient, err := kubernetes.NewForConfig(asSA)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "KUBERNETES_SERVICE_HOST="+u.Hostname(), "KUBERNETES_SERVICE_PORT="+u.Port(), "FLEDGE_SERVICE_ACCOUNT_DIR="+saDir)

	dir := writeFixture(t, fixture{Pipeline: pipeline, Environment: "this-cluster", Artifact: "incluster-manifest", CanaryNS: canaryNS, ProdNS: prodNS})
	env := "apiVersion: fledge.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: this-cluster\nspec:\n  inCluster: true\n  createNamespaces: false\n"
	if err := os.WriteFile(filepath.Join(dir, "environment.yaml"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	s.fledge("admin", "apply", "-f", dir)

	// One rule less: the production Role without the Ingress rule. The
	// canary stage checks production's apply too, so the deployment fails
	// at its start naming the missing permissions, and applies nothing in
	// either namespace.
	prodRole, err := cs.RbacV1().Roles(prodNS).Get(ctx, saName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lessened := prodRole.DeepCopy()
	lessened.Rules = slices.DeleteFunc(lessened.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "ingresses") })
	if len(lessened.Rules) != len(prodRole.Rules)-1 {
		t.Fatalf("role %s/%s: want one Ingress rule, rules %+v", prodNS, saName, prodRole.Rules)
	}
	if _, err := cs.RbacV1().Roles(prodNS).Update(ctx, lessened, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The API server's authorizer learns of the change from its cache.
	waitAllowed(t, saClient, prodNS, false)
	d := s.run("ci", pipeline, "IMAGE_TAG=2.0")
	d = s.waitStatus(d.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval, v1alpha1.StatusFailed, v1alpha1.StatusSucceeded)
	const missing = "missing permissions: cannot get ingresses.networking.k8s.io in namespace rbac-prod; cannot create ingresses.networking.k8s.io in namespace rbac-prod; cannot patch ingresses.networking.k8s.io in namespace rbac-prod; grant them"
	if d.Status != v1alpha1.StatusFailed || !strings.Contains(d.Message, missing) {
		t.Fatalf("without the production Ingress rule: %s %q, want Failed naming %q\nevents: %+v", d.Status, d.Message, missing, s.events(d.ID))
	}
	for _, e := range s.events(d.ID) {
		if e.Type == "Applied" || e.Type == "NamespaceCreated" {
			t.Errorf("without the production Ingress rule, the deployment still acted: %s %s", e.Type, e.Message)
		}
	}
	for _, ns := range []string{canaryNS, prodNS} {
		if !namespaceEmpty(t, ns) {
			t.Errorf("namespace %s: a Deployment was created although the permission check failed", ns)
		}
		ings, err := cs.NetworkingV1().Ingresses(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svcs, err := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ings.Items)+len(svcs.Items) > 0 {
			t.Errorf("namespace %s: %d Ingresses and %d Services created although the permission check failed", ns, len(ings.Items), len(svcs.Items))
		}
	}
	// The rule back: the next deployment goes through (denials are not
	// remembered).
	restored, err := cs.RbacV1().Roles(prodNS).Get(ctx, saName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	restored.Rules = prodRole.Rules
	if _, err := cs.RbacV1().Roles(prodNS).Update(ctx, restored, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	waitAllowed(t, saClient, prodNS, true)
	d = s.run("ci", pipeline, "IMAGE_TAG=2.0")
	d = s.waitStatus(d.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval, v1alpha1.StatusFailed)
	if d.Status != v1alpha1.StatusWaitingForApproval {
		t.Fatalf("release as the chart's ServiceAccount: %s %s\nevents: %+v", d.Status, d.Message, s.events(d.ID))
	}
	s.fledge("alice", "approve", itoa(d.ID))
	if d = s.waitStatus(d.ID, 2*time.Minute, v1alpha1.StatusSucceeded, v1alpha1.StatusFailed); d.Status != v1alpha1.StatusSucceeded {
		t.Fatalf("release as the chart's ServiceAccount: %s %s", d.Status, d.Message)
	}
	waitWorkload(t, prodNS, image+"2.0")

	// What the identity may do: the chart's rules in its namespaces, and
	// elsewhere only what every authenticated user may (discovery, asking
	// about itself).
	everyone := map[string]bool{
		"authorization.k8s.io/selfsubjectaccessreviews create": true,
		"authorization.k8s.io/selfsubjectrulesreviews create":  true,
		"authentication.k8s.io/selfsubjectreviews create":      true,
	}
	for _, ns := range []string{canaryNS, prodNS, otherNS} {
		rev, err := saClient.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authzv1.SelfSubjectRulesReview{Spec: authzv1.SelfSubjectRulesReviewSpec{Namespace: ns}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SelfSubjectRulesReview in %s: %v", ns, err)
		}
		got := map[string]bool{}
		for _, r := range rev.Status.ResourceRules {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						got[g+"/"+res+" "+v] = true
					}
				}
			}
		}
		var beyond, missing []string
		for k := range got {
			if !everyone[k] && (ns == otherNS || !chartRules[k]) {
				beyond = append(beyond, k)
			}
		}
		if ns != otherNS {
			for k := range chartRules {
				if !got[k] {
					missing = append(missing, k)
				}
			}
		}
		sort.Strings(beyond)
		sort.Strings(missing)
		if len(beyond) > 0 || len(missing) > 0 {
			t.Errorf("namespace %s: the ServiceAccount may %s beyond the chart's rules; lacks %s", ns, fmt.Sprint(beyond), fmt.Sprint(missing))
		}
		if ns == otherNS && slices.ContainsFunc(rev.Status.ResourceRules, func(r authzv1.ResourceRule) bool { return slices.Contains(r.Verbs, "*") }) {
			t.Errorf("namespace %s: a wildcard rule", ns)
		}
	}
}

// waitAllowed waits until the API server answers want to whether the
// client may patch Ingresses in ns.
func waitAllowed(t *testing.T, c kubernetes.Interface, ns string, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rev, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(), &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authzv1.ResourceAttributes{Verb: "patch", Group: "networking.k8s.io", Resource: "ingresses", Namespace: ns},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SelfSubjectAccessReview: %v", err)
		}
		if rev.Status.Allowed == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("patch ingresses in %s: allowed is still %v", ns, rev.Status.Allowed)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
