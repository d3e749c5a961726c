package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/apiclient"
)

// maxSecretInput bounds what a token or secret file may hold.
const maxSecretInput = 64 << 10

// readSecret reads a token or secret from a file or standard input, trimmed
// of surrounding white space.
func readSecret(streams Streams, file string, stdin bool, what string) (string, error) {
	var r io.Reader
	switch {
	case file != "" && stdin:
		return "", usageErrorf("give the %s with one of --%s-file and --%s-stdin", what, what, what)
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return "", usageErrorf("--%s-file: %v", what, err)
		}
		defer f.Close()
		r = f
	case stdin:
		r = streams.In
	default:
		return "", usageErrorf("give the %s with --%s-file FILE or --%s-stdin", what, what, what)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxSecretInput+1))
	if err != nil {
		return "", fmt.Errorf("read the %s: %w", what, err)
	}
	if len(b) > maxSecretInput {
		return "", usageErrorf("the %s is longer than %d bytes", what, maxSecretInput)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", usageErrorf("the %s is empty", what)
	}
	return v, nil
}

type loginOptions struct {
	tokenFile  string
	tokenStdin bool
}

// newLoginCommand checks a token against a server and keeps both in the
// config file, so later commands need neither --server nor --token.
func newLoginCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &loginOptions{}
	cmd := &cobra.Command{
		Use:   "login --server URL (--token-file FILE | --token-stdin)",
		Short: "Save the server and your API token in the config file",
		Long: `Check an API token against the server and save both in the config file
(~/.config/fledge/config.yaml, mode 0600). Later commands use them unless
--server, --token, $FLEDGE_SERVER or $FLEDGE_TOKEN say otherwise.

The token is read from a file or standard input, never from the command
line, where other users of the machine could see it.`,
		Example: `  fledge login --server https://fledge.example.com --token-file ~/fledge-token
  pass show fledge | fledge login --server https://fledge.example.com --token-stdin`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLogin(cmd.Context(), streams, g, o)
		},
	}
	cmd.Flags().StringVar(&o.tokenFile, "token-file", "", "file holding the token")
	cmd.Flags().BoolVar(&o.tokenStdin, "token-stdin", false, "read the token from standard input")
	return clientCommand(cmd, cobra.NoArgs)
}

func runLogin(ctx context.Context, streams Streams, g *globalOptions, o *loginOptions) error {
	token, err := readSecret(streams, o.tokenFile, o.tokenStdin, "token")
	if err != nil {
		return err
	}
	server, _, err := g.endpoint()
	if err != nil {
		return err
	}
	c, err := apiclient.New(server, apiclient.WithToken(token), apiclient.WithTimeout(g.timeout))
	if err != nil {
		return usageErrorf("--server: %v", err)
	}
	who, err := c.WhoAmI(ctx)
	if err != nil {
		return fmt.Errorf("log in to %s: %w", c.Server(), err)
	}
	path := g.configFile()
	if err := saveConfig(path, Config{Server: c.Server(), Token: token}); err != nil {
		return err
	}
	fmt.Fprintf(streams.Out, "logged in to %s as %s (%s); saved in %s\n", c.Server(), who.Name, strings.Join(who.Roles, ", "), path)
	return nil
}

// newLogoutCommand removes the token from the config file.
func newLogoutCommand(streams Streams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Remove the API token from the config file",
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := g.configFile()
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			if cfg.Token == "" {
				fmt.Fprintf(streams.Out, "not logged in (%s holds no token)\n", path)
				return nil
			}
			cfg.Token = ""
			if err := saveConfig(path, cfg); err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "logged out of %s; the token itself stays valid until an admin revokes it\n", cfg.Server)
			return nil
		},
	}
	return clientCommand(cmd, cobra.NoArgs)
}

// newWhoAmICommand prints the identity and roles of the token in use.
func newWhoAmICommand(streams Streams, g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who the server knows you as, and your roles",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, outputJSON, outputYAML); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			who, err := c.WhoAmI(cmd.Context())
			if err != nil {
				return err
			}
			if output != "" {
				return printData(streams.Out, output, who)
			}
			fmt.Fprintf(streams.Out, "%s (%s)\n", who.Name, strings.Join(who.Roles, ", "))
			if who.AuthDisabled {
				fmt.Fprintln(streams.ErrOut, "warning: the server runs with --auth=none: anyone can act as anyone")
			}
			return nil
		},
	}
	addOutputFlag(cmd.Flags(), &output, outputJSON, outputYAML)
	return clientCommand(cmd, cobra.NoArgs)
}

// newTokenCommand manages API tokens (admin only).
func newTokenCommand(streams Streams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens (admin)",
		Long: `Manage API tokens. A token's name is the identity of everything done with
it; its roles say what it may do:

  viewer     read pipelines, deployments and events (every token can)
  deployer   start, roll back and cancel runs
  approver   approve and reject deployments waiting for approval
  admin      everything: resources, tokens, webhook secrets, the audit log

deployer and approver may be scoped to one pipeline: approver:web.`,
	}
	cmd.AddCommand(newTokenCreateCommand(streams, g), newTokenListCommand(streams, g), newTokenRevokeCommand(streams, g))
	return clientCommand(cmd, nil)
}

type tokenCreateOptions struct {
	roles     []string
	expiresIn time.Duration
	output    string
}

func newTokenCreateCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &tokenCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create NAME --role ROLE[:PIPELINE] [--role ...]",
		Short: "Create a token and print its secret, which is never shown again",
		Example: `  fledge token create ci --role deployer
  fledge token create alice --role approver:webpage-canary-deployment-pipeline --role deployer
  TOKEN=$(fledge token create release-bot --role deployer --expires-in 720h)`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(o.output, outputJSON, outputYAML); err != nil {
				return err
			}
			if len(o.roles) == 0 {
				return usageErrorf("token create needs at least one --role (viewer, deployer, approver, admin, or deployer:PIPELINE, approver:PIPELINE)")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			req := v1alpha1.TokenRequest{Name: args[0], Roles: o.roles}
			if o.expiresIn > 0 {
				req.ExpiresIn = &v1alpha1.Duration{Duration: o.expiresIn}
			}
			t, err := c.CreateToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if o.output != "" {
				return printData(streams.Out, o.output, t)
			}
			fmt.Fprintln(streams.Out, t.Secret)
			fmt.Fprintf(streams.ErrOut, "token %q created with roles %s; the secret above is shown only once\n", t.Name, strings.Join(t.Roles, ", "))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.roles, "role", nil, "a role, optionally scoped to a pipeline: viewer, deployer, approver, admin, deployer:PIPELINE, approver:PIPELINE (repeatable)")
	f.DurationVar(&o.expiresIn, "expires-in", 0, "make the token stop working after this long (for example 720h); 0 never expires")
	addOutputFlag(f, &o.output, outputJSON, outputYAML)
	return clientCommand(cmd, argsBetween(1, 1, "the token's NAME"))
}

func newTokenListCommand(streams Streams, g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens: names, roles and dates (never secrets)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, outputJSON, outputYAML); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			now := nowFrom(cmd.Context())
			return printList(streams.Out, output, list, list.Items, columns[v1alpha1.Token]{
				headers: []string{"NAME", "ROLES", "CREATED BY", "AGE", "EXPIRES"},
				row: func(tok v1alpha1.Token, _ bool) []string {
					expires := "never"
					if tok.ExpiresAt != nil {
						expires = tok.ExpiresAt.In(now.Location()).Format(time.RFC3339)
						if !now.Before(*tok.ExpiresAt) {
							expires += " (expired)"
						}
					}
					created := tok.CreatedAt
					return []string{tok.Name, strings.Join(tok.Roles, ","), orDash(tok.CreatedBy), age(now, &created), expires}
				},
			})
		},
	}
	addOutputFlag(cmd.Flags(), &output, outputJSON, outputYAML)
	return clientCommand(cmd, cobra.NoArgs)
}

func newTokenRevokeCommand(streams Streams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token: requests with it fail from now on",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "token/%s revoked\n", args[0])
			return nil
		},
	}
	return clientCommand(cmd, argsBetween(1, 1, "the token's NAME"))
}

// newSecretCommand manages webhook and registry secrets (admin only).
func newSecretCommand(streams Streams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Create, set, list and delete webhook and registry secrets (admin)",
		Long: `Manage secrets. A webhook secret signs webhook deliveries (see
docs/ci-triggers.md); a pipeline's trigger names one with secretRef. A
registry secret is a container registry login that an environment names in
spec.registryCredentials: Fledge applies it as a kubernetes.io/dockerconfigjson
Secret into every namespace it deploys to. Secrets are stored encrypted and
never shown again by the server.`,
	}
	cmd.AddCommand(newSecretWriteCommand(streams, g, true), newSecretWriteCommand(streams, g, false),
		newSecretListCommand(streams, g), newSecretDeleteCommand(streams, g))
	return clientCommand(cmd, nil)
}

type secretWriteOptions struct {
	typ           string
	file          string
	stdin         bool
	generate      bool
	server        string
	username      string
	passwordFile  string
	passwordStdin bool
}

// request builds the secret request from the flags; generated is the
// value to print once when --generate made it.
func (o *secretWriteOptions) request(streams Streams) (req v1alpha1.SecretRequest, generated string, err error) {
	webhookFlags := o.file != "" || o.stdin || o.generate
	registryFlags := o.server != "" || o.username != "" || o.passwordFile != "" || o.passwordStdin
	switch o.typ {
	case v1alpha1.SecretTypeWebhook:
		if registryFlags {
			return req, "", usageErrorf("--registry-server, --username and --password-* are for --type registry")
		}
		req.Type = v1alpha1.SecretTypeWebhook
		if o.generate {
			if o.file != "" || o.stdin {
				return req, "", usageErrorf("--generate cannot be combined with --value-file or --value-stdin")
			}
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return req, "", err
			}
			req.Value = base64.RawURLEncoding.EncodeToString(b)
			return req, req.Value, nil
		}
		req.Value, err = readSecret(streams, o.file, o.stdin, "value")
		return req, "", err
	case v1alpha1.SecretTypeRegistry:
		if webhookFlags {
			return req, "", usageErrorf("--value-file, --value-stdin and --generate are for --type webhook; a registry secret takes --registry-server, --username and --password-stdin or --password-file")
		}
		if o.server == "" || o.username == "" {
			return req, "", usageErrorf("--type registry needs --registry-server and --username")
		}
		pw, err := readSecret(streams, o.passwordFile, o.passwordStdin, "password")
		if err != nil {
			return req, "", err
		}
		return v1alpha1.SecretRequest{Type: v1alpha1.SecretTypeRegistry, Registry: &v1alpha1.RegistryLogin{Server: o.server, Username: o.username, Password: pw}}, "", nil
	}
	return req, "", usageErrorf("--type must be %s or %s, got %q", v1alpha1.SecretTypeWebhook, v1alpha1.SecretTypeRegistry, o.typ)
}

// newSecretWriteCommand is "secret create" (refuses an existing secret)
// or "secret set" (creates or replaces: rotation).
func newSecretWriteCommand(streams Streams, g *globalOptions, create bool) *cobra.Command {
	o := &secretWriteOptions{}
	cmd := &cobra.Command{
		Use:   "set NAME [--type webhook] (--value-file FILE | --value-stdin | --generate) | set NAME --type registry --registry-server HOST --username USER (--password-stdin | --password-file FILE)",
		Short: "Create or replace a secret (rotation)",
		Example: `  fledge secret set github --generate        # prints the new secret once
  fledge secret set github --value-file secret.txt
  printf '%s' "$NEW_TOKEN" | fledge secret set ghcr --type registry --registry-server ghcr.io --username robot --password-stdin`,
	}
	if create {
		cmd.Use = strings.ReplaceAll(cmd.Use, "set NAME", "create NAME")
		cmd.Short = "Create a secret; an existing one is refused (replace it with set)"
		cmd.Example = `  printf '%s' "$REGISTRY_TOKEN" | fledge secret create ghcr --type registry --registry-server ghcr.io --username robot --password-stdin
  fledge secret create github --generate      # a webhook secret, printed once`
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		req, generated, err := o.request(streams)
		if err != nil {
			return err
		}
		c, err := g.client()
		if err != nil {
			return err
		}
		created, err := c.SetSecret(cmd.Context(), args[0], req, create)
		if err != nil {
			return err
		}
		action := "configured"
		if created {
			action = "created"
		}
		if generated != "" {
			fmt.Fprintln(streams.Out, generated)
			fmt.Fprintf(streams.ErrOut, "secret/%s %s; the value above is shown only once: give it to the webhook's sender\n", args[0], action)
			return nil
		}
		fmt.Fprintf(streams.Out, "secret/%s %s\n", args[0], action)
		return nil
	}
	f := cmd.Flags()
	f.StringVar(&o.typ, "type", v1alpha1.SecretTypeWebhook, "the secret's type: webhook (signs webhook deliveries) or registry (a container registry login)")
	f.StringVar(&o.file, "value-file", "", "file holding a webhook secret")
	f.BoolVar(&o.stdin, "value-stdin", false, "read a webhook secret from standard input")
	f.BoolVar(&o.generate, "generate", false, "generate a random webhook secret and print it once")
	f.StringVar(&o.server, "registry-server", "", "registry: the registry host images are pulled from (ghcr.io, registry.example.com:5000); --server names the Fledge server")
	f.StringVar(&o.username, "username", "", "registry: the user name")
	f.StringVar(&o.passwordFile, "password-file", "", "registry: file holding the password or access token")
	f.BoolVar(&o.passwordStdin, "password-stdin", false, "registry: read the password or access token from standard input")
	return clientCommand(cmd, argsBetween(1, 1, "the secret's NAME"))
}

func newSecretListCommand(streams Streams, g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List secrets, their type and what uses them (never values)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, outputJSON, outputYAML); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.ListSecrets(cmd.Context())
			if err != nil {
				return err
			}
			now := nowFrom(cmd.Context())
			return printList(streams.Out, output, list, list.Items, columns[v1alpha1.Secret]{
				headers: []string{"NAME", "TYPE", "SERVER", "USED BY", "UPDATED"},
				row: func(s v1alpha1.Secret, _ bool) []string {
					u := s.UpdatedAt
					return []string{s.Name, s.Type, orDash(s.Server), orDash(strings.Join(s.UsedBy, ",")), age(now, &u)}
				},
			})
		},
	}
	addOutputFlag(cmd.Flags(), &output, outputJSON, outputYAML)
	return clientCommand(cmd, cobra.NoArgs)
}

func newSecretDeleteCommand(streams Streams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a secret that no pipeline or environment uses",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.DeleteSecret(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "secret/%s deleted\n", args[0])
			return nil
		},
	}
	return clientCommand(cmd, argsBetween(1, 1, "the secret's NAME"))
}

type auditOptions struct {
	user   string
	action string
	since  string
	limit  int
	output string
}

// newAuditCommand shows the audit log (admin only).
func newAuditCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &auditOptions{}
	cmd := &cobra.Command{
		Use:   "audit [--user NAME] [--action ACTION] [--since 1h|TIME]",
		Short: "Show the audit log: who changed what, when, from where (admin)",
		Long: `Show the append-only audit log, newest first: every change (resources
applied or deleted, runs, approvals, rejections, cancellations, rollbacks,
tokens, secrets, webhook deliveries) and every refused request (401, 403).`,
		Example: `  fledge audit --since 24h
  fledge audit --user alice --action deployment.approve
  fledge audit --action auth.forbidden -o json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(o.output, outputWide, outputJSON, outputYAML); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.ListAudit(cmd.Context(), apiclient.AuditOptions{Actor: o.user, Action: o.action, Since: o.since, Limit: o.limit})
			if err != nil {
				return err
			}
			now := nowFrom(cmd.Context())
			return printList(streams.Out, o.output, list, list.Items, columns[v1alpha1.AuditEntry]{
				headers: []string{"TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME"},
				wide:    []string{"FROM", "DETAIL"},
				row: func(e v1alpha1.AuditEntry, wide bool) []string {
					at := e.At
					cells := []string{timestamp(now, &at), orDash(e.Actor), e.Action, orDash(e.Target), e.Outcome}
					if wide {
						cells = append(cells, orDash(e.RemoteAddr), orDash(oneLine(e.Detail)))
					}
					return cells
				},
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.user, "user", "", "only entries of this identity (a token name)")
	f.StringVar(&o.action, "action", "", "only this action (resource.apply, run.create, deployment.approve, token.create, auth.forbidden, ...)")
	f.StringVar(&o.since, "since", "", "only entries since a time (RFC 3339) or for a duration back from now (1h)")
	f.IntVar(&o.limit, "limit", 100, "at most this many entries (up to 1000)")
	addOutputFlag(f, &o.output, outputWide, outputJSON, outputYAML)
	cmd.AddCommand(newAuditExportCommand(streams, g), newAuditPruneCommand(streams, g))
	return clientCommand(cmd, cobra.NoArgs)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}
