package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/api/v1alpha1"
)

type logsOptions struct {
	follow bool
	output string
}

// newLogsCommand prints a deployment's event log, or follows it live.
func newLogsCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		ValidArgsFunction: completeArgs(g, fixed(deploymentsIn())),
		Use:               "logs ID [-f]",
		Short:             "Print a deployment's events; -f follows them until the deployment ends",
		Long: `Print a deployment's events, one a line: TIME  STAGE  TYPE  MESSAGE.
With -f, keep printing new events as they happen until the deployment ends;
a dropped connection to the server is resumed where it stopped.`,
		Example: `  fledge logs 42
  fledge logs 42 -f`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd.Context(), streams, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.follow, "follow", "f", false, "follow the events until the deployment ends")
	addOutputFlag(f, &o.output, outputJSON)
	return clientCommand(cmd, argsBetween(1, 1, "the deployment ID"))
}

func runLogs(ctx context.Context, streams Streams, g *globalOptions, o *logsOptions, arg string) error {
	if err := checkOutput(o.output, outputJSON); err != nil {
		return err
	}
	c, id, err := g.deployment(ctx, arg)
	if err != nil {
		return err
	}
	p := newEventPrinter(streams.Out, nowFrom(ctx).Location(), o.output == outputJSON)
	if !o.follow {
		events, err := c.Events(ctx, id, 0)
		if err != nil {
			return err
		}
		p.fit(events)
		for _, e := range events {
			p.print(e)
		}
		return p.err
	}
	d, err := c.GetDeployment(ctx, id)
	if err != nil {
		return err
	}
	p.fitStages(d.Stages)
	err = c.WatchEvents(ctx, id, 0, func(e v1alpha1.Event) error {
		p.print(e)
		return p.err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted: stop following quietly, as kubectl does
		}
		return err
	}
	if d, err = c.GetDeployment(ctx, id); err == nil {
		fmt.Fprintf(streams.ErrOut, "deployment/%d ended: %s\n", id, d.Status)
	}
	return p.err
}

// eventPrinter writes events as TIME  STAGE  TYPE  MESSAGE lines, or as
// JSON lines, each event once. Columns widen as longer values appear, so
// that a followed log needs no look-ahead.
type eventPrinter struct {
	w      io.Writer
	loc    *time.Location
	json   bool
	stageW int
	typeW  int
	last   int64
	err    error
}

func newEventPrinter(w io.Writer, loc *time.Location, jsonLines bool) *eventPrinter {
	return &eventPrinter{w: w, loc: loc, json: jsonLines, stageW: 1, typeW: len("DeploymentSucceeded")}
}

// fit widens the columns for events about to be printed.
func (p *eventPrinter) fit(events []v1alpha1.Event) {
	for _, e := range events {
		p.stageW = max(p.stageW, len(e.Stage))
		p.typeW = max(p.typeW, len(e.Type))
	}
}

// fitStages widens the stage column for a deployment's stages.
func (p *eventPrinter) fitStages(stages []v1alpha1.StageState) {
	for _, s := range stages {
		p.stageW = max(p.stageW, len(s.Name))
	}
}

func (p *eventPrinter) print(e v1alpha1.Event) {
	if p.err != nil || (e.Seq != 0 && e.Seq <= p.last) {
		return
	}
	p.last = max(p.last, e.Seq)
	if p.json {
		b, err := json.Marshal(e)
		if err != nil {
			p.err = fmt.Errorf("encode event: %w", err)
			return
		}
		_, p.err = fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	p.fit([]v1alpha1.Event{e})
	_, p.err = fmt.Fprintf(p.w, "%s  %-*s  %-*s  %s\n",
		e.Time.In(p.loc).Format(time.RFC3339), p.stageW, orDash(e.Stage), p.typeW, e.Type, e.Message)
}
