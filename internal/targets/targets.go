// Package targets answers which deployment each production target of a
// pipeline runs, for the targets its productionWave stages release beyond
// the production beside the canary. Deployments record in their state how
// far they took each target (pipeline.State.Targets); the live deployment
// of a target is the latest one that released it, or what the latest one
// to touch it restored it to.
package targets

import (
	"context"
	"encoding/json"
	"fmt"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
)

// Lister reads a pipeline's deployments, newest first.
type Lister interface {
	ListDeployments(ctx context.Context, f store.DeploymentFilter) ([]store.Deployment, error)
}

// scanLimit bounds how many deployments Live reads back through history.
const scanLimit = 2000

// Live returns, for each name in names, the ID of the deployment target
// name runs (0: none known), looking at pipeline's deployments older than
// before (0: all).
func Live(ctx context.Context, l Lister, pipelineName string, before int64, names []string) (map[string]int64, error) {
	out := make(map[string]int64, len(names))
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	read := 0
	for len(want) > 0 && read < scanLimit {
		rows, err := l.ListDeployments(ctx, store.DeploymentFilter{Pipeline: pipelineName, BeforeID: before, Limit: 50})
		if err != nil {
			return nil, fmt.Errorf("deployments of %s: %w", pipelineName, err)
		}
		for _, d := range rows {
			before = d.ID
			read++
			if len(d.State) == 0 {
				continue
			}
			var st pipeline.State
			if err := json.Unmarshal(d.State, &st); err != nil {
				return nil, fmt.Errorf("decode state of deployment %d: %w", d.ID, err)
			}
			for _, t := range st.Targets {
				if !want[t.Name] {
					continue
				}
				switch t.Status {
				case v1alpha1.TargetReleased:
					out[t.Name] = d.ID
				case v1alpha1.TargetRestored:
					out[t.Name] = t.Previous
				default:
					continue
				}
				delete(want, t.Name)
			}
		}
		if len(rows) < 50 {
			break
		}
	}
	return out, nil
}
