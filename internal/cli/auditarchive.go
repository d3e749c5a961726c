package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/internal/apiclient"
)

// exportAudit writes the audit entries that o selects to w as JSON lines,
// oldest first, page by page, and returns how many there were and the ID
// of the newest.
func exportAudit(ctx context.Context, c *apiclient.Client, o apiclient.AuditOptions, w io.Writer) (n int, last int64, err error) {
	o.Oldest, o.Limit = true, 1000
	enc := json.NewEncoder(w)
	for {
		page, err := c.ListAudit(ctx, o)
		if err != nil {
			return n, last, err
		}
		for _, e := range page.Items {
			if err := enc.Encode(e); err != nil {
				return n, last, fmt.Errorf("write the archive: %w", err)
			}
			n, last = n+1, e.ID
		}
		if page.NextAfter == 0 {
			return n, last, nil
		}
		o.After = page.NextAfter
	}
}

// newAuditExportCommand writes the audit log as JSON lines.
func newAuditExportCommand(streams Streams, g *globalOptions) *cobra.Command {
	var since, until string
	cmd := &cobra.Command{
		Use:   "export [--since 720h|TIME] [--until 24h|TIME]",
		Short: "Write the audit log as JSON lines, oldest first (admin)",
		Example: `  fledge audit export > audit.jsonl
  fledge audit export --until 2160h > audit-older-than-90d.jsonl`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := nowFrom(cmd.Context())
			u, err := timeBack(now, "--until", until)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			o := apiclient.AuditOptions{Since: since}
			if !u.IsZero() {
				o.Until = u.UTC().Format(time.RFC3339Nano)
			}
			_, _, err = exportAudit(cmd.Context(), c, o, streams.Out)
			return err
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only entries since a time (RFC 3339) or for a duration back from now (720h)")
	cmd.Flags().StringVar(&until, "until", "", "only entries before a time (RFC 3339) or a duration back from now (24h)")
	return clientCommand(cmd, cobra.NoArgs)
}

// newAuditPruneCommand archives and removes old audit entries.
func newAuditPruneCommand(streams Streams, g *globalOptions) *cobra.Command {
	var olderThan time.Duration
	var archive string
	cmd := &cobra.Command{
		Use:   "prune --older-than DURATION --archive FILE",
		Short: "Archive the audit entries older than a duration to a file, then remove them (admin)",
		Long: `Archive the audit entries older than --older-than (at least 24h) to
--archive as JSON lines (- for standard output), flush the file to disk,
then remove from the store exactly the entries archived. The prune is
itself audited (audit.prune) and recorded in the store; the database
refuses any other delete from the audit log.`,
		Example: `  fledge audit prune --older-than 2160h --archive audit-$(date +%F).jsonl`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan < 24*time.Hour {
				return usageErrorf("--older-than must be at least 24h, got %s", olderThan)
			}
			if archive == "" {
				return usageErrorf("--archive FILE is required (- for standard output): entries are removed only once archived")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			before := nowFrom(cmd.Context()).Add(-olderThan).UTC()
			out, report := streams.Out, streams.Out
			var f *os.File
			if archive != "-" {
				if f, err = os.OpenFile(archive, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
					return fmt.Errorf("archive: %w", err)
				}
				defer f.Close()
				out = f
			} else {
				report = streams.ErrOut
			}
			n, last, err := exportAudit(cmd.Context(), c, apiclient.AuditOptions{Until: before.Format(time.RFC3339Nano)}, out)
			if err != nil {
				return err
			}
			if f != nil {
				if err := f.Sync(); err != nil {
					return fmt.Errorf("archive: %w", err)
				}
				if err := f.Close(); err != nil {
					return fmt.Errorf("archive: %w", err)
				}
			}
			if n == 0 {
				fmt.Fprintf(report, "no audit entries older than %s\n", before.Format(time.RFC3339))
				return nil
			}
			res, err := c.PruneAudit(cmd.Context(), before, last)
			if err != nil {
				return err
			}
			fmt.Fprintf(report, "archived %d audit entries older than %s to %s; removed %d\n", n, before.Format(time.RFC3339), archive, res.Deleted)
			return nil
		},
	}
	cmd.Flags().DurationVar(&olderThan, "older-than", 0, "remove entries older than this (at least 24h), e.g. 2160h for 90 days")
	cmd.Flags().StringVar(&archive, "archive", "", "write the removed entries here first, as JSON lines (a new file, mode 0600; - for standard output)")
	return clientCommand(cmd, cobra.NoArgs)
}

// timeBack reads an RFC 3339 time or a duration back from now ("" is
// the zero time).
func timeBack(now time.Time, flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, usageErrorf("%s: %q is neither an RFC 3339 time nor a duration like 24h", flag, s)
}
