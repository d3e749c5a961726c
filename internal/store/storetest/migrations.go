package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

// Reapply makes a driver apply its migration number version again to
// the database s uses, as a database an older Fledge left gets it, and
// returns a store on it.
type Reapply func(t *testing.T, s store.Store, version int) store.Store

// RunProgressMigration checks the migration that compacts the rollout
// progress of deployments that ended before UpdateDeployment compacted it
// (store.ProgressEventType): a finished deployment keeps the newest line
// of each workload in each stage, an unfinished one keeps every line.
func RunProgressMigration(t *testing.T, s store.Store, version int, reapply Reapply) {
	ctx := t.Context()
	mk := func(pipeline string) store.Deployment {
		d, err := s.CreateDeployment(ctx, store.Deployment{Pipeline: pipeline, Kind: "Deploy", Status: "Queued"},
			store.Event{Type: "DeploymentCreated"})
		must(t, err, "CreateDeployment")
		return d
	}
	done, running := mk("web"), mk("api")
	d, ok, err := s.ClaimDeployment(ctx, "exec-1", time.Minute)
	if err != nil || !ok || d.ID != done.ID {
		t.Fatalf("claim: %+v %v %v", d, ok, err)
	}
	d.Status = "Succeeded"
	_, err = s.UpdateDeployment(ctx, d, "exec-1")
	must(t, err, "UpdateDeployment")
	// Written after the end, as an older Fledge left them.
	appendProgress(ctx, t, s, done.ID, "web-canary: deployment/web: waiting", "web-canary: deployment/web: 1 of 3 updated replicas are available",
		"web-canary: deployment/web: successfully rolled out", "web-canary: deployment/api: successfully rolled out")
	appendProgress(ctx, t, s, running.ID, "api-canary: deployment/api: waiting", "api-canary: deployment/api: successfully rolled out")

	s = reapply(t, s, version)
	for _, tc := range []struct {
		id   int64
		want []string
	}{
		{done.ID, []string{
			"1 DeploymentCreated ", "4 RolloutProgress web-canary: deployment/web: successfully rolled out",
			"5 RolloutProgress web-canary: deployment/api: successfully rolled out",
		}},
		{running.ID, []string{
			"1 DeploymentCreated ", "2 RolloutProgress api-canary: deployment/api: waiting",
			"3 RolloutProgress api-canary: deployment/api: successfully rolled out",
		}},
	} {
		es, err := s.ListEvents(ctx, tc.id, 0)
		must(t, err, "ListEvents")
		got := make([]string, len(es))
		for i, e := range es {
			got[i] = fmt.Sprintf("%d %s %s", e.Seq, e.Type, e.Message)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("events of deployment %d after the migration:\n%q\nwant\n%q", tc.id, got, tc.want)
		}
	}
}

func appendProgress(ctx context.Context, t *testing.T, s store.Store, id int64, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		must(t, s.AppendEvents(ctx, store.Event{DeploymentID: id, Stage: "canary", Type: store.ProgressEventType, Message: m}),
			"AppendEvents")
	}
}
