package executor_test

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/redact"
	"fledge.dev/fledge/internal/secretbox"
)

// secretManifest is a Secret whose password is value.
func secretManifest(value string) string {
	return "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: " + value + "\n"
}

// sealedRelease is the plan of a release of web:tag with a Secret whose
// password is value, stored sealed as the service stores it.
func (b *bundle) sealedRelease(tag, value string) *pipeline.Plan {
	b.t.Helper()
	plan := release(tag, 0, canaryStage(), productionStage())
	m, err := redact.Seal(b.box, plan.Manifests+secretManifest(value), "")
	if err != nil {
		b.t.Fatal(err)
	}
	if strings.Contains(m, value) {
		b.t.Fatalf("the sealed plan holds %q", value)
	}
	plan.Manifests = m
	return plan
}

// secretValue is the password of Secret db as applied to ns.
func (c *fakeCluster) secretValue(ns string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.objects[ns+"/Secret/db"]
	if o == nil {
		return ""
	}
	v, _, _ := unstructured.NestedString(o.obj.Object, "stringData", "password")
	return v
}

// The executor opens the sealed values of a plan's Secrets just before
// it applies them: the cluster gets the real values in the canary and in
// production, and a restore of production after a failure re-applies the
// live release's values, opened too.
func TestSealedSecretsApplied(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.create(b.sealedRelease("1", "first-s3cret"))
	s := b.start("")
	b.waitStatus(id, v1alpha1.StatusSucceeded)
	s.stop()
	for _, ns := range []string{canaryNS, prodNS} {
		if got := b.cluster.secretValue(ns); got != "first-s3cret" {
			t.Errorf("Secret db in %s has password %q, want the opened value", ns, got)
		}
	}
	b.cluster.mu.Lock()
	b.cluster.rolloutErr = func(ns string, objs []*unstructured.Unstructured) error {
		if ns == prodNS && b.cluster.imageOf(objs) == "web:2" {
			return errors.New("deployment web: 0 of 2 updated replicas are available")
		}
		return nil
	}
	b.cluster.mu.Unlock()
	id = b.create(b.sealedRelease("2", "second-s3cret"))
	b.start("")
	b.waitStatus(id, v1alpha1.StatusFailed)
	if !inOrder(b.eventTypes(id), "StageFailed", "ProductionRestored") {
		t.Fatalf("events %v, want production restored", b.eventTypes(id))
	}
	if got := b.cluster.secretValue(prodNS); got != "first-s3cret" {
		t.Errorf("production's Secret after the restore has password %q, want the live release's", got)
	}
	if got := b.cluster.secretValue(canaryNS); got != "second-s3cret" {
		t.Errorf("the canary's Secret has password %q, want the new release's", got)
	}
}

// A sealed value that does not open (a tampered ciphertext, another key)
// fails the run with an error naming the deployment, the Secret and the
// key, before anything is applied.
func TestSealedSecretRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		plan  func(b *bundle) *pipeline.Plan
		wants string
	}{
		{
			name: "tampered ciphertext",
			plan: func(b *bundle) *pipeline.Plan {
				p := b.sealedRelease("1", "s3cret")
				i := strings.Index(p.Manifests, secretbox.Marker) + len(secretbox.Marker)
				flip := "A"
				if p.Manifests[i] == 'A' {
					flip = "B"
				}
				p.Manifests = p.Manifests[:i] + flip + p.Manifests[i+1:]
				return p
			},
			wants: "the Secret db: stringData.password: cannot decrypt",
		},
		{
			name: "sealed with another key",
			plan: func(b *bundle) *pipeline.Plan {
				other := setup(b.t)
				return other.sealedRelease("1", "s3cret")
			},
			wants: "the Secret db: stringData.password: cannot decrypt: wrong secret key or tampered value",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			id := b.create(tc.plan(b))
			b.start("")
			d := b.waitStatus(id, v1alpha1.StatusFailed)
			if msg := b.finalMessage(d); !strings.Contains(msg, "manifests of deployment") || !strings.Contains(msg, tc.wants) {
				t.Errorf("outcome %q, want it to name the deployment and %q", msg, tc.wants)
			}
			for _, c := range b.cluster.Calls() {
				if strings.HasPrefix(c, "apply ") {
					t.Errorf("the cluster got %q although the manifests did not open", c)
				}
			}
		})
	}
}
