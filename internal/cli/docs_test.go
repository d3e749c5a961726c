package cli

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docCommand is one fledge command line of a shell block of the docs.
type docCommand struct {
	where string
	line  string
}

// docCommands returns every line of README.md and docs/*.md shell blocks
// that runs fledge.
func docCommands(t *testing.T) []docCommand {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"../../README.md"}, files...)
	var out []docCommand
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inShell := false
		for i, line := range strings.Split(string(b), "\n") {
			trimmed := strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(trimmed, "```"):
				lang := strings.TrimPrefix(trimmed, "```")
				inShell = !inShell && (lang == "sh" || lang == "bash" || lang == "shell" || lang == "console")
				continue
			case !inShell:
				continue
			}
			trimmed = strings.TrimPrefix(trimmed, "$ ")
			if strings.HasPrefix(trimmed, "fledge ") {
				out = append(out, docCommand{where: strings.TrimPrefix(f, "../../") + ":" + strconv.Itoa(i+1), line: trimmed})
			}
		}
	}
	return out
}

// shellWords splits a command line as a shell would for the simple lines
// of the docs: quotes, a trailing comment, and the end of the command at
// a pipe, redirection, && or &. A $( ... ) stays in its word.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	quote := rune(0)
	depth := 0 // inside $( ... )
	prev := rune(0)
	for _, r := range line {
		last := prev
		prev = r
		switch {
		case depth > 0:
			cur.WriteRune(r)
			switch r {
			case '(':
				depth++
			case ')':
				depth--
			}
		case r == '(' && last == '$':
			cur.WriteRune(r)
			depth++
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case !inWord && (r == '#' || r == '|' || r == '<' || r == '>' || r == '&'):
			return words
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

var placeholder = regexp.MustCompile(`^[A-Z][A-Z_]*$|\.\.\.`)

// Every fledge command of the README and the docs names a real command,
// with flags it has and as many arguments as it takes; the files it
// applies exist. (test/e2e runs the walkthrough itself against a server.)
func TestDocCommandsParse(t *testing.T) {
	cmds := docCommands(t)
	if len(cmds) < 10 {
		t.Fatalf("found %d fledge commands in the docs; the extraction is broken", len(cmds))
	}
	for _, dc := range cmds {
		if err := checkDocCommand(dc.line); err != nil {
			t.Errorf("%s: %s: %v", dc.where, dc.line, err)
		}
	}
	// The check itself can fail.
	for _, bad := range []string{
		"fledge get pipelines --bogus",
		"fledge aprove 3",
		"fledge approve",
		"fledge apply -f examples/no-such-dir/",
		"fledge dev cluster up --no-such-flag",
	} {
		if checkDocCommand(bad) == nil {
			t.Errorf("%q passed the check", bad)
		}
	}
}

// checkDocCommand parses a fledge command line against the command tree.
func checkDocCommand(line string) error {
	args := shellWords(line)[1:]
	root := NewRootCommand(Streams{In: strings.NewReader(""), Out: &strings.Builder{}, ErrOut: &strings.Builder{}})
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if cmd == root {
		return errors.New("names no command")
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	positional := cmd.Flags().Args()
	skipArgs := false
	for _, a := range positional {
		skipArgs = skipArgs || placeholder.MatchString(a)
	}
	if cmd.Args != nil && !skipArgs {
		if err := cmd.Args(cmd, positional); err != nil {
			return err
		}
	}
	if f := cmd.Flags().Lookup("filename"); f != nil {
		for _, p := range strings.Split(strings.Trim(f.Value.String(), "[]"), ",") {
			if p == "" || p == "-" || placeholder.MatchString(p) || !strings.HasPrefix(p, "examples/") {
				continue
			}
			if _, err := os.Stat(filepath.Join("../..", p)); err != nil {
				return err
			}
		}
	}
	return nil
}
