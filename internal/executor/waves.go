package executor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/kube"
	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/targets"
)

// targetPlace is where target t is released.
func targetPlace(t v1alpha1.TargetState) place {
	return place{env: t.Environment, ns: t.Namespace, role: "production target " + t.Name}
}

// eachTarget runs f for the targets at idx at once and returns their
// errors joined, each naming its target.
func (r *run) eachTarget(idx []int, f func(i int, t v1alpha1.TargetState) error) error {
	errs := make([]error, len(idx))
	var wg sync.WaitGroup
	for k, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(i, r.state.Targets[i]); err != nil {
				errs[k] = fmt.Errorf("target %s: %w", r.state.Targets[i].Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// applyTargets releases a wave's targets in two passes. The first checks
// every target, connection, permissions, namespace and a server-side dry
// run, before anything is applied to any of them: one environment
// unreachable fails the wave with its name, and the others are left
// untouched. It records the deployment each target runs now (which a
// failure restores) and marks them Applying, saved before the second
// pass applies the manifests to all of them at once.
func applyTargets(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	objs, err := r.objects(false)
	if err != nil {
		return result{}, err
	}
	idx := r.state.TargetsOf(a.StageName)
	pending := slices.ContainsFunc(idx, func(i int) bool { return r.state.Targets[i].Status == v1alpha1.TargetPending })
	if !pending {
		err := r.eachTarget(idx, func(_ int, t v1alpha1.TargetState) error {
			return r.apply(ctx, a.StageName, targetPlace(t), objs)
		})
		return result{}, err
	}
	if err := r.eachTarget(idx, func(_ int, t v1alpha1.TargetState) error {
		return r.preflight(ctx, targetPlace(t), objs)
	}); err != nil {
		return result{}, fmt.Errorf("nothing was applied to the wave's targets: %w", err)
	}
	names := make([]string, len(idx))
	for k, i := range idx {
		names[k] = r.state.Targets[i].Name
	}
	live, err := targets.Live(ctx, r.e.cfg.Store, r.d.Pipeline, r.d.ID, names)
	if err != nil {
		return result{}, fmt.Errorf("find what the targets run: %w", err)
	}
	ts := slices.Clone(r.state.Targets)
	now := r.now()
	for _, i := range idx {
		ts[i].Status, ts[i].Previous, ts[i].UpdatedAt = v1alpha1.TargetApplying, live[ts[i].Name], &now
	}
	r.event(a.StageName, "TargetsChecked", "%d target(s) checked (connection, permissions, dry run): %s", len(idx), strings.Join(names, ", "))
	// Saved now; the step is performed again at once and applies.
	return result{wait: true, until: now, targets: ts}, nil
}

// preflightTimeout bounds the check of one target: an environment that
// does not answer by then fails its wave rather than holding it for a
// whole step timeout.
const preflightTimeout = 30 * time.Second

// preflight checks that objs can be applied at `at` without applying
// them: the environment answers, the permissions are there, the namespace
// exists (or may be created) and the API server accepts the objects in a
// dry run (when the namespace exists: objects of a missing namespace
// cannot be dry-run).
func (r *run) preflight(ctx context.Context, at place, objs []*unstructured.Unstructured) error {
	c, spec, err := r.cluster(ctx, at.env)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, min(r.e.cfg.StepTimeout, preflightTimeout))
	defer cancel()
	if err := c.CheckAccess(ctx, r.access(at, objs, spec)...); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("environment %q did not answer within %s: %w", at.env, min(r.e.cfg.StepTimeout, preflightTimeout), err)
		}
		return fmt.Errorf("environment %q: %w", at.env, err)
	}
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(at.ns)
	_, err = c.Get(ctx, "", ns)
	switch {
	case apierrors.IsNotFound(err) && spec.NamespacesCreatable():
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("namespace %s does not exist in environment %q, which does not let Fledge create namespaces", at.ns, at.env)
	case err != nil:
		return fmt.Errorf("environment %q: %w", at.env, err)
	}
	if _, err := c.Apply(ctx, at.ns, objs, kube.ApplyOptions{DryRun: true}); err != nil {
		return fmt.Errorf("environment %q refuses the manifests in %s (dry run): %w", at.env, at.ns, err)
	}
	return nil
}

// waitTargets waits for the wave's rollouts in every target. The targets
// that rolled out are Released even when another failed: a failure
// restores only the failed ones (or every target, with rollbackOnFailure
// all).
func waitTargets(ctx context.Context, r *run, a pipeline.Action) (result, error) {
	objs, err := r.objects(false)
	if err != nil {
		return result{}, err
	}
	idx := r.state.TargetsOf(a.StageName)
	ts := slices.Clone(r.state.Targets)
	var mu sync.Mutex
	timeout := r.plan.WaveTimeout(a.StageIndex)
	what := v1alpha1.DescribeParameters(r.d.Parameters)
	if r.plan.Kind == v1alpha1.KindRollback {
		what = fmt.Sprintf("the manifests of deployment %d", r.plan.RollbackTo)
	}
	err = r.eachTarget(idx, func(i int, t v1alpha1.TargetState) error {
		if t.Status == v1alpha1.TargetReleased {
			return nil
		}
		if err := r.waitRollout(ctx, a.StageName, targetPlace(t), objs, timeout); err != nil {
			return err
		}
		now := r.now()
		mu.Lock()
		ts[i].Status, ts[i].UpdatedAt = v1alpha1.TargetReleased, &now
		mu.Unlock()
		r.event(a.StageName, "TargetReleased", "production target %s now runs deployment %s#%d (%s)", t.Name, r.d.Pipeline, r.d.Number, what)
		return nil
	})
	return result{targets: ts}, err
}

// restoreTargets gives each target a failed run touched (every target it
// released, with rollbackOnFailure all) back the deployment it ran before,
// all at once.
func restoreTargets(ctx context.Context, r *run, _ pipeline.Action) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.FinishTimeout+r.plan.ProductionRolloutTimeout)
	defer cancel()
	idx := r.state.RestoreTargets()
	ts := slices.Clone(r.state.Targets)
	var mu sync.Mutex
	set := func(i int, st v1alpha1.TargetStatus, msg string) {
		now := r.now()
		mu.Lock()
		defer mu.Unlock()
		ts[i].Status, ts[i].Message, ts[i].UpdatedAt = st, msg, &now
	}
	err := r.eachTarget(idx, func(i int, t v1alpha1.TargetState) error {
		if t.Previous == 0 {
			msg := "no earlier release to restore: the target keeps what this run applied"
			set(i, v1alpha1.TargetFailed, msg)
			r.event("", "TargetNotRestored", "production target %s: %s", t.Name, msg)
			return nil
		}
		prev, err := r.e.cfg.Store.GetDeployment(ctx, t.Previous)
		if err != nil {
			return fmt.Errorf("read deployment %d: %w", t.Previous, err)
		}
		if err := r.restoreTo(ctx, targetPlace(t), prev, r.plan.WaveTimeout(-1)); err != nil {
			return err
		}
		set(i, v1alpha1.TargetRestored, fmt.Sprintf("restored to deployment %s#%d", prev.Pipeline, prev.Number))
		r.event("", "TargetRestored", "production target %s restored to deployment %s#%d (%s)", t.Name, prev.Pipeline, prev.Number, v1alpha1.DescribeParameters(prev.Parameters))
		return nil
	})
	return result{targets: ts}, err
}

// withdrawProduction gives the production beside the canary back what it
// ran before this run released it, when a later wave failed and every
// target rolls back (rollbackOnFailure all). The deployment is no longer
// live there afterwards.
func (r *run) withdrawProduction(ctx context.Context) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.FinishTimeout+r.plan.ProductionRolloutTimeout)
	defer cancel()
	at := r.production()
	if r.state.ProductionPrevious == 0 {
		r.event("", "ProductionNotRestored", "no earlier release of %s to restore; production namespace %s keeps what this run released", r.d.Pipeline, at.ns)
		return result{}, nil
	}
	prev, err := r.e.cfg.Store.GetDeployment(ctx, r.state.ProductionPrevious)
	if err != nil {
		return result{}, fmt.Errorf("read deployment %d: %w", r.state.ProductionPrevious, err)
	}
	if err := r.restoreTo(ctx, at, prev, r.plan.ProductionRolloutTimeout); err != nil {
		return result{}, err
	}
	r.event("", "ProductionRestored", "production namespace %s restored to deployment %s#%d (%s): every wave rolls back", at.ns, prev.Pipeline, prev.Number, v1alpha1.DescribeParameters(prev.Parameters))
	return result{productionWithdrawn: true}, nil
}
