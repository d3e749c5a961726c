package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/apiclient"
)

const (
	// waitPoll is how often --wait reads the deployment between events.
	waitPoll = 2 * time.Second
	// waitDrain is how long --wait lets the event stream finish once the
	// deployment has ended.
	waitDrain = 10 * time.Second
)

type runOptions struct {
	params []string
	wait   bool
	output string
}

// newRunCommand starts a deployment of a pipeline, as the last step of a
// CI build does.
func newRunCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run PIPELINE [--param NAME=VALUE ...] [--wait]",
		Short: "Start a deployment of a pipeline",
		Long: `Start a deployment of a pipeline with parameters, such as the image tag a
build produced. With --wait, print its events until it ends or waits for
approval; the exit code is 0 if it succeeded or waits for approval, 1 otherwise.`,
		Example: `  fledge run webpage-canary-deployment-pipeline --param IMAGE_TAG=2.1
  fledge run webpage-canary-deployment-pipeline -p IMAGE_TAG=2.1 --wait`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), streams, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.params, "param", "p", nil, "a parameter of the run as NAME=VALUE (repeatable)")
	f.BoolVar(&o.wait, "wait", false, "follow the deployment until it ends or waits for approval")
	addOutputFlag(f, &o.output, outputJSON, outputYAML)
	return clientCommand(cmd, argsBetween(1, 1, "the PIPELINE to run"))
}

// parseParams reads NAME=VALUE parameters.
func parseParams(in []string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for _, kv := range in {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			return nil, usageErrorf("--param %q: want NAME=VALUE", kv)
		case !v1alpha1.ParameterName.MatchString(k):
			return nil, usageErrorf("--param %q: %q is not a parameter name (letters, digits and _, not starting with a digit)", kv, k)
		case !utf8.ValidString(v):
			// JSON would silently turn the bytes into U+FFFD.
			return nil, usageErrorf("--param %s: value is not valid UTF-8", k)
		}
		if _, dup := out[k]; dup {
			return nil, usageErrorf("--param %s is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

func runRun(ctx context.Context, streams Streams, g *globalOptions, o *runOptions, pipeline string) error {
	if err := checkOutput(o.output, outputJSON, outputYAML); err != nil {
		return err
	}
	params, err := parseParams(o.params)
	if err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	d, err := c.Run(ctx, pipeline, params)
	if err != nil {
		return err
	}
	if !o.wait {
		if o.output != "" {
			return printData(streams.Out, o.output, d)
		}
		fmt.Fprintf(streams.Out, "deployment/%d created\n", d.ID)
		return nil
	}
	// With -o, standard output holds only the final object.
	msgs := streams.Out
	if o.output != "" {
		msgs = streams.ErrOut
	}
	fmt.Fprintf(msgs, "deployment/%d created\n", d.ID)
	p := newEventPrinter(msgs, nowFrom(ctx).Location(), false)
	p.fitStages(d.Stages)
	final, err := waitForDeployment(ctx, c, d.ID, p)
	if err != nil {
		if ctx.Err() != nil {
			return failedf("stopped waiting; deployment/%d goes on (follow it with: fledge logs %d -f)", d.ID, d.ID)
		}
		return err
	}
	if o.output != "" {
		if err := printData(streams.Out, o.output, final); err != nil {
			return err
		}
	}
	return reportOutcome(msgs, final)
}

// reportOutcome says how a waited-for deployment stands: exit code 0 if it
// succeeded or waits for approval, 1 otherwise.
func reportOutcome(w io.Writer, d v1alpha1.Deployment) error {
	switch d.Status {
	case v1alpha1.StatusSucceeded:
		fmt.Fprintf(w, "deployment/%d succeeded\n", d.ID)
		return nil
	case v1alpha1.StatusWaitingForApproval:
		fmt.Fprintf(w, "deployment/%d is waiting for approval at %s (canary weight %d%%): fledge approve %d, or fledge reject %d --reason TEXT\n",
			d.ID, orDash(d.CurrentStage), d.CanaryWeight, d.ID, d.ID)
		return nil
	}
	if d.Message != "" {
		return failedf("deployment/%d %s: %s", d.ID, strings.ToLower(string(d.Status)), d.Message)
	}
	return failedf("deployment/%d %s", d.ID, strings.ToLower(string(d.Status)))
}

// waitForDeployment prints a deployment's events until it ends or waits
// for approval, and returns it as it then stands. Events come from the
// watch stream; the status is read after each event and every waitPoll,
// because waiting for approval does not end the stream.
func waitForDeployment(ctx context.Context, c *apiclient.Client, id int64, p *eventPrinter) (v1alpha1.Deployment, error) {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex // guards p while the watch runs
	kick := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.WatchEvents(wctx, id, 0, func(e v1alpha1.Event) error {
			mu.Lock()
			p.print(e)
			err := p.err
			mu.Unlock()
			select {
			case kick <- struct{}{}:
			default:
			}
			return err
		})
	}()

	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	var drain <-chan time.Time
	watching := true
	for watching {
		select {
		case err := <-done:
			if err != nil && wctx.Err() == nil {
				return v1alpha1.Deployment{}, err
			}
			watching = false
			continue
		case <-drain:
			stop()
			<-done
			watching = false
			continue
		case <-kick:
		case <-tick.C:
		}
		d, err := c.GetDeployment(ctx, id)
		if err != nil {
			return d, err
		}
		switch {
		case d.Status == v1alpha1.StatusWaitingForApproval:
			stop()
			<-done
			watching = false
		case d.Status.Final() && drain == nil:
			// The stream ends by itself once it has sent the last events.
			drain = time.After(waitDrain)
		}
	}
	if ctx.Err() != nil {
		return v1alpha1.Deployment{}, context.Cause(ctx)
	}
	// Events the stopped watch had not delivered yet.
	mu.Lock()
	defer mu.Unlock()
	rest, err := c.Events(ctx, id, p.last)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	for _, e := range rest {
		p.print(e)
	}
	if p.err != nil {
		return v1alpha1.Deployment{}, p.err
	}
	return c.GetDeployment(ctx, id)
}
