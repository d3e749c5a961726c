package auth

import (
	"strings"
	"testing"
)

func TestParseGrant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Grant
		err  string
	}{
		{"viewer", Grant{Role: Viewer}, ""},
		{"admin", Grant{Role: Admin}, ""},
		{"deployer:web", Grant{Role: Deployer, Pipeline: "web"}, ""},
		{" approver:webpage-canary-deployment-pipeline ", Grant{Role: Approver, Pipeline: "webpage-canary-deployment-pipeline"}, ""},
		{"root", Grant{}, `unknown role "root"`},
		{"Admin", Grant{}, `unknown role "Admin"`},
		{"", Grant{}, `unknown role ""`},
		{"admin:web", Grant{}, "cannot be scoped"},
		{"viewer:web", Grant{}, "cannot be scoped"},
		{"approver:", Grant{}, "is not a pipeline name"},
		{"approver:Web", Grant{}, "is not a pipeline name"},
		{"approver:w\u0435b", Grant{}, "is not a pipeline name"},
		{"approver:web:prod", Grant{}, "is not a pipeline name"},
		{"approver:" + strings.Repeat("a", 64), Grant{}, "is not a pipeline name"},
	} {
		g, err := ParseGrant(tc.in)
		switch {
		case tc.err == "" && (err != nil || g != tc.want):
			t.Errorf("ParseGrant(%q) = %+v, %v; want %+v", tc.in, g, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseGrant(%q) error %v, want one with %q", tc.in, err, tc.err)
		case tc.err == "" && g.String() != strings.TrimSpace(tc.in):
			t.Errorf("Grant.String() = %q, want %q", g.String(), strings.TrimSpace(tc.in))
		}
	}
	gs, err := ParseGrants([]string{"deployer", "deployer", "approver:web"})
	if err != nil || FormatGrants(gs) != "deployer,approver:web" {
		t.Errorf("ParseGrants: %v %v", gs, err)
	}
	if _, err := ParseGrants(nil); err == nil {
		t.Error("ParseGrants(nil): no error, want one asking for a role")
	}
	if _, err := ParseGrants([]string{"root", "admin:x"}); err == nil || !strings.Contains(err.Error(), "root") || !strings.Contains(err.Error(), "cannot be scoped") {
		t.Errorf("ParseGrants reports every bad grant: %v", err)
	}
}

func TestCan(t *testing.T) {
	t.Parallel()
	p := func(grants ...Grant) Principal { return Principal{Name: "x", Grants: grants} }
	for _, tc := range []struct {
		p        Principal
		role     Role
		pipeline string
		want     bool
	}{
		{Principal{}, Viewer, "", false},
		{p(), Viewer, "", true},
		{p(), Deployer, "web", false},
		{p(Grant{Role: Viewer}), Deployer, "web", false},
		{p(Grant{Role: Deployer}), Deployer, "web", true},
		{p(Grant{Role: Deployer}), Deployer, "", true},
		{p(Grant{Role: Deployer}), Approver, "web", false},
		{p(Grant{Role: Deployer, Pipeline: "web"}), Deployer, "web", true},
		{p(Grant{Role: Deployer, Pipeline: "web"}), Deployer, "api", false},
		{p(Grant{Role: Deployer, Pipeline: "web"}), Deployer, "", false},
		{p(Grant{Role: Approver, Pipeline: "web"}), Approver, "web", true},
		{p(Grant{Role: Approver, Pipeline: "web"}), Deployer, "web", false},
		{p(Grant{Role: Admin}), Deployer, "web", true},
		{p(Grant{Role: Admin}), Admin, "", true},
		{p(Grant{Role: Deployer}, Grant{Role: Approver}), Admin, "", false},
	} {
		if got := tc.p.Can(tc.role, tc.pipeline); got != tc.want {
			t.Errorf("%+v.Can(%s, %q) = %v, want %v", tc.p, tc.role, tc.pipeline, got, tc.want)
		}
	}
	if Need(Approver, "web") != "approver (or approver:web)" || Need(Admin, "web") != "admin" {
		t.Errorf("Need: %q %q", Need(Approver, "web"), Need(Admin, "web"))
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != len(TokenPrefix)+43 || CheckToken(tok) != nil {
			t.Fatalf("token %q", tok)
		}
		if seen[tok] {
			t.Fatal("two equal tokens")
		}
		seen[tok] = true
		if h := HashToken(tok); len(h) != 32 || strings.Contains(string(h), tok) {
			t.Fatalf("hash of %q", tok)
		}
	}
	for _, bad := range []string{"short", strings.Repeat("a", 31), strings.Repeat("a", 40) + " b", strings.Repeat("é", 40), strings.Repeat("a", 600)} {
		if CheckToken(bad) == nil {
			t.Errorf("CheckToken(%q) accepted", bad)
		}
	}
	for name, ok := range map[string]bool{
		"alice": true, "ci-build": true, "alice@example.com": true, "bot.release_1": true,
		"": false, "-x": false, "a b": false, "w\u0435b": false, "a\u202eb": false, "a\u200bb": false,
		strings.Repeat("a", 63): true, strings.Repeat("a", 64): false,
	} {
		if (CheckName(name) == nil) != ok {
			t.Errorf("CheckName(%q): %v, want ok=%v", name, CheckName(name), ok)
		}
	}
}
