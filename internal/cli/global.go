package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/apiclient"
)

// globalOptions are the root's persistent flags that every client command
// uses to reach the server.
type globalOptions struct {
	server     string
	token      string
	user       string
	configPath string
	timeout    time.Duration
}

// DefaultServer is the server a client talks to when nothing names one.
const DefaultServer = "http://127.0.0.1:8080"

// addFlags declares the persistent flags. The server and token come from
// the flags, else the environment, else the config file (fledge login),
// as kubectl's come from the kubeconfig.
func (g *globalOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&g.server, "server", "", "URL of the Fledge server ($FLEDGE_SERVER, else the config file, else "+DefaultServer+")")
	fs.StringVar(&g.token, "token", "", "API token ($FLEDGE_TOKEN, else the config file written by fledge login)")
	fs.StringVar(&g.user, "user", "", "your name, sent only to a server started with --auth=none ($FLEDGE_USER, else your OS user name); a server with authentication knows you by your token")
	fs.StringVar(&g.configPath, "config", "", "the CLI config file ($FLEDGE_CONFIG, else ~/.config/fledge/config.yaml)")
	fs.DurationVar(&g.timeout, "request-timeout", apiclient.DefaultTimeout, "how long to wait for one answer of the server (0 waits forever)")
}

func defaultUser() string {
	if u := os.Getenv("FLEDGE_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

func (g *globalOptions) configFile() string {
	if g.configPath != "" {
		return g.configPath
	}
	return defaultConfigPath()
}

// endpoint resolves the server and token: flag, environment, config file.
func (g *globalOptions) endpoint() (server, token string, err error) {
	cfg, err := loadConfig(g.configFile())
	if err != nil {
		return "", "", usageErrorf("%v", err)
	}
	server = firstOf(g.server, os.Getenv("FLEDGE_SERVER"), cfg.Server, DefaultServer)
	token = firstOf(g.token, os.Getenv("FLEDGE_TOKEN"), cfg.Token)
	return server, strings.TrimSpace(token), nil
}

// serverConfigured reports whether a server is named by the flag, the
// environment or the config file, rather than only the default.
func (g *globalOptions) serverConfigured() (bool, error) {
	if g.server != "" || os.Getenv("FLEDGE_SERVER") != "" {
		return true, nil
	}
	cfg, err := loadConfig(g.configFile())
	if err != nil {
		return false, usageErrorf("%v", err)
	}
	return cfg.Server != "", nil
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// client returns a client of the server the flags name.
func (g *globalOptions) client() (*apiclient.Client, error) {
	server, token, err := g.endpoint()
	if err != nil {
		return nil, err
	}
	name := g.user
	if name == "" {
		name = defaultUser()
	}
	c, err := apiclient.New(server, apiclient.WithUser(name), apiclient.WithToken(token), apiclient.WithTimeout(g.timeout))
	if err != nil {
		return nil, usageErrorf("--server: %v", err)
	}
	return c, nil
}

// usageErrorf is an error in how a command was called: exit code 2.
func usageErrorf(format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format, args...)}
}

// failedf is an error that ends the command with exit code 1 once its
// details were printed.
func failedf(format string, args ...any) error {
	return &ExitError{Code: 1, Err: fmt.Errorf(format, args...)}
}

// clientCommand finishes a client command: flag errors and wrong arguments
// become usage errors (exit code 2), and the usage line is shown with them.
func clientCommand(cmd *cobra.Command, args cobra.PositionalArgs) *cobra.Command {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v\nSee '%s --help'.", err, c.CommandPath())
	})
	if args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return usageErrorf("%v\nUsage: %s", err, c.UseLine())
			}
			return nil
		}
	}
	return cmd
}

// argsBetween accepts from min to max positional arguments (max < 0: no
// limit), naming what is expected.
func argsBetween(minN, maxN int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) < minN:
			return fmt.Errorf("missing %s", what)
		case maxN >= 0 && len(args) > maxN:
			return fmt.Errorf("unexpected argument %q", args[maxN])
		}
		return nil
	}
}

// parseDeploymentRef reads a deployment written as 42, deployment/42,
// PIPELINE#NUMBER or PIPELINE/NUMBER.
func parseDeploymentRef(s string) (v1alpha1.DeploymentRef, error) {
	ref, err := v1alpha1.ParseDeploymentRef(s)
	if err != nil {
		return ref, usageErrorf("%v", err)
	}
	return ref, nil
}

// clockKey is the context key of the clock; only tests set it.
type clockKey struct{}

// nowFrom returns the current time from the clock in ctx, or time.Now.
// Ages and times are shown in the clock's location.
func nowFrom(ctx context.Context) time.Time {
	if f, ok := ctx.Value(clockKey{}).(func() time.Time); ok {
		return f()
	}
	return time.Now()
}

// isTerminal reports whether r is an interactive terminal. A reader may
// say so itself with an IsTerminal method.
func isTerminal(r io.Reader) bool {
	switch v := r.(type) {
	case interface{ IsTerminal() bool }:
		return v.IsTerminal()
	case *os.File:
		return term.IsTerminal(int(v.Fd()))
	}
	return false
}
