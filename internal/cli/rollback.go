package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/api/v1alpha1"
)

type rollbackOptions struct {
	to      string
	targets []string
	reason  string
	dryRun  bool
	yes     bool
}

// newRollbackCommand puts an earlier deployment's manifests back into
// production. It always shows what would change first, and asks.
func newRollbackCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &rollbackOptions{}
	cmd := &cobra.Command{
		ValidArgsFunction: completeArgs(g, fixed(namesOf(v1alpha1.KindPipeline))),
		Use:               "rollback PIPELINE --to ID [--target ENVIRONMENT/NAMESPACE]... [--reason TEXT] [--dry-run] [--yes]",
		Short:             "Roll production back to an earlier deployment, after showing what would change",
		Long: `Roll a pipeline's production back to what an earlier deployment deployed.

The target's version, parameters, approvers and the diff against what is
live are shown first. With --dry-run nothing more happens; otherwise you are
asked to confirm on the terminal, or pass --yes (required when standard
input is not a terminal, as in CI). The --reason is recorded with the
rollback deployment and in the audit log. Find the deployment ids with
"fledge history PIPELINE".

A pipeline that releases production in waves (productionWave stages) is
rolled back in every target the earlier deployment released, each diff
shown first; --target (repeatable) limits it to the targets named.`,
		Example: `  fledge history webpage-canary-deployment-pipeline
  fledge rollback webpage-canary-deployment-pipeline --to 42 --dry-run
  fledge rollback webpage-canary-deployment-pipeline --to 42 --reason "2.1 breaks checkout" --yes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRollback(cmd.Context(), streams, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.to, "to", "", "the earlier deployment (its ID, #NUMBER or PIPELINE#NUMBER) whose version production should run again (required)")
	f.StringVar(&o.reason, "reason", "", "why, recorded with the rollback and in the audit log")
	f.StringArrayVar(&o.targets, "target", nil, "roll back only this production target, ENVIRONMENT/NAMESPACE (repeatable; default: every target)")
	f.BoolVar(&o.dryRun, "dry-run", false, "only show what would change")
	f.BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation")
	return clientCommand(cmd, argsBetween(1, 1, "the PIPELINE"))
}

func runRollback(ctx context.Context, streams Streams, g *globalOptions, o *rollbackOptions, pipeline string) error {
	if o.to == "" {
		return usageErrorf("rollback needs --to ID: the earlier deployment to go back to (see: fledge history %s)", pipeline)
	}
	toArg := o.to
	if strings.HasPrefix(toArg, "#") {
		// #3: the pipeline's deployment number 3.
		toArg = pipeline + toArg
	}
	ref, err := parseDeploymentRef(toArg)
	if err != nil {
		return err
	}
	if len(o.reason) > v1alpha1.MaxReasonLength {
		return usageErrorf("--reason is %d characters; at most %d are recorded", len(o.reason), v1alpha1.MaxReasonLength)
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	to, err := c.DeploymentID(ctx, ref)
	if err != nil {
		return err
	}
	res, err := c.Rollback(ctx, pipeline, v1alpha1.RollbackRequest{To: to, DryRun: true, Targets: o.targets})
	if err != nil {
		return err
	}
	preview := *res.Preview
	if err := printRollbackPreview(streams.Out, nowFrom(ctx), pipeline, preview); err != nil {
		return err
	}
	if o.dryRun {
		return nil
	}
	if !o.yes {
		if !isTerminal(streams.In) {
			return failedf("not rolling back: confirmation is needed and standard input is not a terminal; pass --yes to confirm")
		}
		fmt.Fprintf(streams.ErrOut, "Roll back production of %s to deployment %d (#%d)? [y/N] ", pipeline, to, preview.Target.Number)
		if !confirmed(streams.In) {
			return failedf("rollback aborted; nothing was changed")
		}
	}
	res, err = c.Rollback(ctx, pipeline, v1alpha1.RollbackRequest{To: to, Reason: o.reason, Targets: o.targets})
	if err != nil {
		return err
	}
	if res.Deployment.Kind != v1alpha1.KindRollback {
		// Blue/green within the scale down delay: the running release
		// switches back, nothing is redeployed.
		fmt.Fprintf(streams.Out, "deployment/%d (#%d) switches back to #%d: its previous slot still runs it, nothing is redeployed\n",
			res.Deployment.ID, res.Deployment.Number, preview.Target.Number)
		return nil
	}
	fmt.Fprintf(streams.Out, "deployment/%d created (rollback to #%d)\n", res.Deployment.ID, preview.Target.Number)
	return nil
}

// confirmed reads one answer line; only y or yes agrees.
func confirmed(in io.Reader) bool {
	line, _ := bufio.NewReader(io.LimitReader(in, 1024)).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// printRollbackPreview shows what the target is, in the words of the
// history, and what would change in production.
func printRollbackPreview(w io.Writer, now time.Time, pipeline string, p v1alpha1.RollbackPreview) error {
	t := p.Target
	d := &describer{w: w, now: now}
	d.printf("Rollback of %s to deployment %d (#%d):\n", pipeline, t.ID, t.Number)
	d.kv(2, "Kind", kindOf(t))
	d.kv(2, "Parameters", v1alpha1.FormatParameters(t.Parameters, ","))
	d.kv(2, "Status", string(t.Status))
	d.kv(2, "Triggered by", t.TriggeredBy)
	d.kv(2, "Approved by", approvers(t))
	d.kv(2, "Started", timestamp(now, t.StartedAt))
	d.kv(2, "In production", timestamp(now, t.ProductionAt))
	if p.SkipsProduction {
		d.printf("Production beside the canary is left as it is.\n")
	} else {
		printDiff(d, pipeline, "production", p.Live, t.ID, p.Diff, p.Changed)
	}
	for _, td := range p.Targets {
		printDiff(d, pipeline, "target "+td.Name, td.Live, t.ID, td.Diff, td.Changed)
	}
	return d.err
}

// printDiff shows what runs in a place, production or a wave's target,
// and what rolling back to deployment id would change there.
func printDiff(d *describer, pipeline, where string, live *int64, id int64, text string, changed int) {
	place := "Production"
	if where != "production" {
		place = "Target " + strings.TrimPrefix(where, "target ")
	}
	switch {
	case live == nil:
		d.printf("Nothing of %s runs in %s yet.\n", pipeline, where)
	case *live == id:
		d.printf("%s already runs deployment %d.\n", place, id)
	default:
		d.printf("%s now runs deployment %d.\n", place, *live)
	}
	switch {
	case changed == 0 && strings.TrimSpace(text) == "":
		d.printf("Nothing would change in %s.\n", where)
	default:
		noun := "objects"
		if changed == 1 {
			noun = "object"
		}
		d.printf("%d %s would change in %s:\n", changed, noun, where)
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		d.printf("%s", text)
	}
}
