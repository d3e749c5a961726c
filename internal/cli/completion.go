package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/apiclient"
)

// Dynamic shell completion (fledge completion bash|zsh|fish|powershell):
// kinds come from the CLI, names and deployments from the server the
// flags name. A server that cannot be reached completes nothing.

// completionLimit bounds the deployments offered.
const completionLimit = 50

type completer func(ctx context.Context, c *apiclient.Client) []cobra.Completion

// completeArgs completes the positional argument at each index with the
// matching completer (nil: none).
func completeArgs(g *globalOptions, byIndex ...func(args []string) completer) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) >= len(byIndex) || byIndex[len(args)] == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		complete := byIndex[len(args)](args)
		if complete == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := g.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		return complete(cmd.Context(), c), cobra.ShellCompDirectiveNoFileComp
	}
}

// kindsOf completes the kinds, with deployments when asked.
func kindsOf(deployments bool) func([]string) completer {
	return func([]string) completer {
		return func(context.Context, *apiclient.Client) []cobra.Completion {
			out := []cobra.Completion{"environments", "artifacts", "analysistemplates", "pipelines"}
			if deployments {
				out = append(out, "deployments")
			}
			return out
		}
	}
}

// namesOfKindArg completes the names of the kind given as the first
// argument, or deployments.
func namesOfKindArg(args []string) completer {
	kind, err := resolveKind(args[0], true)
	if err != nil {
		return nil
	}
	if kind == kindDeployment {
		return deploymentsIn()
	}
	return namesOf(kind)
}

// namesOf completes the names of a resource kind.
func namesOf(kind string) completer {
	return func(ctx context.Context, c *apiclient.Client) []cobra.Completion {
		items, err := c.ListResources(ctx, kind)
		if err != nil {
			return nil
		}
		var out []cobra.Completion
		for _, raw := range items {
			var r struct {
				Metadata v1alpha1.ObjectMeta `json:"metadata"`
			}
			if json.Unmarshal(raw, &r) == nil && r.Metadata.Name != "" {
				out = append(out, cobra.CompletionWithDesc(r.Metadata.Name, kind))
			}
		}
		return out
	}
}

// deploymentsIn completes the newest deployments in the given statuses
// (all when none), by id and as PIPELINE#NUMBER.
func deploymentsIn(statuses ...v1alpha1.DeploymentStatus) completer {
	return func(ctx context.Context, c *apiclient.Client) []cobra.Completion {
		list, err := c.ListDeployments(ctx, apiclient.ListOptions{Statuses: statuses, Limit: completionLimit})
		if err != nil {
			return nil
		}
		var out []cobra.Completion
		for _, d := range list.Items {
			desc := fmt.Sprintf("%s %s", d.Status, v1alpha1.FormatParameters(d.Parameters, ","))
			out = append(out,
				cobra.CompletionWithDesc(strconv.FormatInt(d.ID, 10), d.Ref()+" "+desc),
				cobra.CompletionWithDesc(d.Ref(), "id "+strconv.FormatInt(d.ID, 10)+" "+desc))
		}
		return out
	}
}

// fixed returns a completer-maker that ignores the earlier arguments.
func fixed(c completer) func([]string) completer {
	return func([]string) completer { return c }
}
