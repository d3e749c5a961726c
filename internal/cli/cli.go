// Package cli builds the fledge command tree. Every command is made by a
// constructor taking the I/O streams, so the tree is built per call and tests
// can run it in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/internal/version"
)

// Streams are the standard streams a command reads and writes.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// ExitError carries a process exit code out of Run.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Main runs the CLI with the process's arguments and streams and exits.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		code := 1
		var ee *ExitError
		if errors.As(err, &ee) {
			code = ee.Code
		}
		os.Exit(code)
	}
}

// Run executes the command line args against the given streams.
// What the commands write passes through an escaping writer (see
// escapingWriter).
func Run(ctx context.Context, args []string, streams Streams) error {
	streams.Out, streams.ErrOut = newEscapingWriter(streams.Out), newEscapingWriter(streams.ErrOut)
	root := NewRootCommand(streams)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	return root.ExecuteContext(ctx)
}

// NewRootCommand returns the fledge command tree.
func NewRootCommand(streams Streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "fledge",
		Short:         "Fledge runs canary deployment pipelines on Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g := &globalOptions{}
	g.addFlags(root.PersistentFlags())
	root.AddCommand(
		newDevCommand(streams),
		newServeCommand(streams),
		newApplyCommand(streams, g),
		newGetCommand(streams, g),
		newDescribeCommand(streams, g),
		newExplainCommand(streams),
		newDeleteCommand(streams, g),
		newRunCommand(streams, g),
		newApproveCommand(streams, g),
		newRejectCommand(streams, g),
		newResumeCommand(streams, g),
		newPromoteCommand(streams, g),
		newAbortCommand(streams, g),
		newCancelCommand(streams, g),
		newRetryCommand(streams, g),
		newHistoryCommand(streams, g),
		newRollbackCommand(streams, g),
		newLogsCommand(streams, g),
		newAnalysisCommand(streams, g),
		newLoginCommand(streams, g),
		newLogoutCommand(streams, g),
		newWhoAmICommand(streams, g),
		newTokenCommand(streams, g),
		newSecretCommand(streams, g),
		newAuditCommand(streams, g),
		newVersionCommand(streams, g),
	)
	// --version prints the one-line build of this binary, as fledge
	// version --client does.
	root.Version = version.Get().String()
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v\nSee '%s --help'.", err, c.CommandPath())
	})
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command that only groups others
// (fledge, fledge dev, fledge token, ...) refuse an unknown subcommand
// with a usage error (exit code 2), and show its help when called alone.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			hint := ""
			c.SuggestionsMinimumDistance = 2
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				hint = fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
			}
			return usageErrorf("unknown command %q for %q%s\nRun '%s --help' for usage.", args[0], c.CommandPath(), hint, c.CommandPath())
		}
		return nil
	}
	c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
}
