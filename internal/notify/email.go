package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// EmailSink sends a plain-text mail. It upgrades the connection with
// STARTTLS and refuses a server that does not offer it, unless the server
// is on a loopback address; it authenticates (PLAIN) only over TLS.
type EmailSink struct {
	// Addr is the SMTP server, host:port.
	Addr     string
	Username string
	Password string
	From     string
	To       []string
	// TLS is the client's TLS configuration (default: verify the server
	// as Addr's host).
	TLS *tls.Config
	// Now is the clock of the Date header (default time.Now).
	Now func() time.Time
}

// Send implements Sink.
func (s *EmailSink) Send(ctx context.Context, m Message) error {
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("SMTP server %q: %w", s.Addr, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("SMTP %s: %w", s.Addr, err)
	}
	// The whole conversation is bounded by ctx.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("SMTP %s: %w", s.Addr, err)
	}
	defer c.Close()
	if err := s.converse(c, host, m); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("SMTP %s: %w", s.Addr, ctx.Err())
		}
		return fmt.Errorf("SMTP %s: %w", s.Addr, err)
	}
	return nil
}

func (s *EmailSink) converse(c *smtp.Client, host string, m Message) error {
	if err := c.Hello("fledge"); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := s.TLS
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		cfg = cfg.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	} else if !isLoopback(host) {
		return errors.New("the server does not offer STARTTLS; refusing to send in clear text")
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return fmt.Errorf("authenticate as %s: %w", s.Username, err)
		}
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return fmt.Errorf("from %q: %w", s.From, err)
	}
	if err := c.Mail(from.Address); err != nil {
		return err
	}
	var to []string
	for _, addr := range s.To {
		a, err := mail.ParseAddress(addr)
		if err != nil {
			return fmt.Errorf("to %q: %w", addr, err)
		}
		if err := c.Rcpt(a.Address); err != nil {
			return fmt.Errorf("recipient %s: %w", a.Address, err)
		}
		to = append(to, a.String())
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(s.compose(from.String(), to, m)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// compose writes the mail: headers, then the text with CRLF line ends.
func (s *EmailSink) compose(from string, to []string, m Message) []byte {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	var b strings.Builder
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from)
	h("To", strings.Join(to, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", "[Fledge] "+m.Title()))
	h("Date", now().Format(time.RFC1123Z))
	h("Message-ID", "<"+m.DeliveryID+"@fledge>")
	h("X-Fledge-Event", string(m.Event))
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Text(), "\r\n", "\n"), "\n", "\r\n"))
	return []byte(b.String())
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
