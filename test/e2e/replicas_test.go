package e2e

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"fledge.dev/fledge/api/v1alpha1"
)

// Several `fledge serve` replicas share one PostgreSQL database: 50
// deployments across 10 pipelines run to completion exactly once while one
// replica is killed in the middle, and each one's Succeeded notification
// reaches the webhook receiver; the takeover time is reported.
func TestReplicasShareWork(t *testing.T) {
	for _, replicas := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d-replicas", replicas), func(t *testing.T) {
			const pipelines, perPipeline = 10, 5
			storeURL := newStoreURL(t, "postgres")
			var servers []*server
			for i := 0; i < replicas; i++ {
				servers = append(servers, startServerOn(t, storeURL, []string{"--lease-ttl", "3s"}))
			}
			api := servers[0]
			hookAddr := freeAddr(t)
			recv := startReceiver(t, hookAddr, replicaHookKey)
			keyFile := t.TempDir() + "/hook.key"
			if err := os.WriteFile(keyFile, []byte(replicaHookKey), 0o600); err != nil {
				t.Fatal(err)
			}
			api.fledge("admin", "secret", "set", "hook", "--value-file", keyFile)
			var names []string
			for p := 0; p < pipelines; p++ {
				name := fmt.Sprintf("rep%d-%d", replicas, p)
				names = append(names, name)
				dir := writeFixture(t, fixture{Pipeline: name, Environment: "local", Artifact: name, CanaryNS: name + "-c", ProdNS: name + "-p", NoApproval: true})
				appendFile(t, dir+"/pipeline.yaml", fmt.Sprintf("  notifications:\n    - name: hook\n      events: [Succeeded]\n      webhook:\n        url: http://%s/\n        signingSecret: hook\n", hookAddr))
				api.fledge("admin", "apply", "-f", dir)
			}
			var ids []int64
			for v := 1; v <= perPipeline; v++ {
				for _, name := range names {
					ids = append(ids, api.run("ci", name, fmt.Sprintf("IMAGE_TAG=%d.0", v)).ID)
				}
			}
			// Kill the last replica once work is under way.
			time.Sleep(3 * time.Second)
			victim := servers[replicas-1]
			victim.kill()
			killedAt := time.Now()
			t.Logf("killed replica %d at %s", replicas-1, killedAt.Format(time.RFC3339Nano))

			var mu sync.Mutex
			var takeover time.Duration
			for _, id := range ids {
				d := api.waitStatus(id, 3*time.Minute, v1alpha1.StatusSucceeded)
				evs := api.events(d.ID)
				checkSeqs(t, evs)
				count := map[string]int{}
				for i, e := range evs {
					count[e.Type]++
					// A run queued behind its pipeline's earlier ones
					// waits for them, not for a takeover: only runs under
					// way at the kill count.
					queued := i > 0 && (evs[i-1].Type == "Queued" || evs[i-1].Type == "DeploymentCreated")
					if i > 0 && !queued && evs[i-1].Time.Before(killedAt) && !e.Time.Before(killedAt) {
						if gap := e.Time.Sub(evs[i-1].Time); gap > takeover {
							mu.Lock()
							takeover = gap
							mu.Unlock()
						}
					}
				}
				for typ, n := range map[string]int{"DeploymentStarted": 1, "Applied": 2, "ProductionReleased": 1, "DeploymentSucceeded": 1} {
					if count[typ] != n {
						t.Errorf("deployment %d: %s recorded %d times, want %d", id, typ, count[typ], n)
					}
				}
			}
			for _, name := range names {
				for _, ns := range []string{name + "-c", name + "-p"} {
					dep, err := cluster.Clientset().AppsV1().Deployments(ns).Get(context.Background(), "webpage-deployment", metav1.GetOptions{})
					if err != nil {
						t.Fatal(err)
					}
					if dep.Generation != perPipeline || dep.Spec.Template.Spec.Containers[0].Image != fmt.Sprintf("%s%d.0", image, perPipeline) {
						t.Errorf("%s: generation %d image %s, want %d writes ending at %d.0", ns, dep.Generation, dep.Spec.Template.Spec.Containers[0].Image, perPipeline, perPipeline)
					}
				}
			}
			// Every deployment's notification arrives; a delivery id comes
			// twice only if the killed replica sent it and died before
			// recording it (at least once; receivers drop duplicates).
			for deadline := time.Now().Add(time.Minute); len(recv.deliveryCounts()) < len(ids); time.Sleep(200 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d notifications received, want %d", len(recv.deliveryCounts()), len(ids))
				}
			}
			counts := recv.pipelineCounts()
			for _, name := range names {
				for v := 1; v <= perPipeline; v++ {
					if counts[fmt.Sprintf("Succeeded#%d@%s", v, name)] == 0 {
						t.Errorf("%s #%d: no Succeeded notification", name, v)
					}
				}
			}
			dups := 0
			for id, n := range recv.deliveryCounts() {
				if n > 1 {
					dups++
					t.Logf("delivery %s received %d times", id, n)
				}
			}
			if dups > replicas {
				t.Errorf("%d deliveries received more than once; only those under way at the kill may be", dups)
			}
			t.Logf("%d replicas: %d deployments across %d pipelines completed exactly once; longest pause across the kill of a run under way (takeover, plus whatever that step waited for) %s with lease TTL 3s",
				replicas, len(ids), pipelines, takeover.Round(time.Millisecond))
		})
	}
}

const replicaHookKey = "replica-hook-signing-key-0123456"
