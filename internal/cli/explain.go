package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/internal/apischema"
)

// newExplainCommand prints the documentation of a resource field, as
// kubectl explain does. It reads the schemas built into this binary, so it
// needs no server.
func newExplainCommand(streams Streams) *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:   "explain RESOURCE[.FIELD...] [--recursive]",
		Short: "Document the fields of environments, artifacts and pipelines",
		Long: `Print what a resource field is for, its type, whether it is required and its
fields, from the API's schemas (the same as docs/reference.md). Fields are
named by their path from the kind; arrays are stepped through, so
pipeline.spec.stages.shiftTraffic names the shiftTraffic of each stage.`,
		Example: `  fledge explain pipeline
  fledge explain pipeline.spec.stages.shiftTraffic
  fledge explain environment.spec.ingressLayout
  fledge explain pipeline.spec --recursive`,
		ValidArgsFunction: func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return explainCompletions(toComplete), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		},
		RunE: func(_ *cobra.Command, args []string) error {
			f, err := apischema.Lookup(args[0])
			if err != nil {
				return usageErrorf("%v", err)
			}
			return apischema.WriteExplain(streams.Out, f, recursive)
		},
	}
	cmd.Flags().BoolVar(&recursive, "recursive", false, "list the fields of the fields too, without descriptions")
	return clientCommand(cmd, argsBetween(1, 1, "the RESOURCE or RESOURCE.FIELD to explain, such as pipeline.spec.stages"))
}

// explainCompletions completes a dotted path one field at a time.
func explainCompletions(toComplete string) []cobra.Completion {
	i := strings.LastIndex(toComplete, ".")
	if i < 0 {
		var out []cobra.Completion
		for _, k := range apischema.Kinds() {
			out = append(out, strings.ToLower(k)+".")
		}
		return out
	}
	f, err := apischema.Lookup(toComplete[:i])
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, c := range f.Fields {
		out = append(out, cobra.CompletionWithDesc(toComplete[:i+1]+c.Name, c.Type))
	}
	return out
}
