package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// newDeleteCommand deletes resources; the server refuses one that a
// pipeline uses or that a running deployment needs.
func newDeleteCommand(streams Streams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		ValidArgsFunction: completeArgs(g, kindsOf(false), namesOfKindArg),
		Use:               "delete environment|artifact|pipeline NAME [NAME ...]",
		Short:             "Delete environments, artifacts, analysis templates or pipelines",
		Example:           `  fledge delete pipeline webpage-canary-deployment-pipeline`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDelete(cmd.Context(), streams, g, args)
		},
	}
	return clientCommand(cmd, argsBetween(2, -1, "the kind and the name: delete pipeline NAME"))
}

func runDelete(ctx context.Context, streams Streams, g *globalOptions, args []string) error {
	kind, err := resolveKind(args[0], false)
	if err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	failed := 0
	for _, name := range args[1:] {
		if err := c.DeleteResource(ctx, kind, name); err != nil {
			if ctx.Err() != nil || len(args) == 2 {
				return err
			}
			failed++
			fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
			continue
		}
		fmt.Fprintf(streams.Out, "%s/%s deleted\n", strings.ToLower(kind), name)
	}
	if failed > 0 {
		return failedf("%d of %d resources were not deleted", failed, len(args)-1)
	}
	return nil
}
