package ses

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheckAddress(t *testing.T) {
	for _, tc := range []struct {
		in, addr, problem string
	}{
		{"ops@example.com", "ops@example.com", ""},
		{"Ops Team <ops@example.com>", "ops@example.com", ""},
		{`"Doe, Jane" <jane@mail.example.com>`, "jane@mail.example.com", ""},
		{"=?utf-8?q?D=C3=A9sk?= <a@example.com>", "a@example.com", ""},
		{"ops", "", "Missing final '@domain'"},
		{"", "", "Missing final '@domain'"},
		{"Désk <a@example.com>", "", "Email address contains non-ASCII characters: encode display names as MIME encoded-words and domains as Punycode."},
		{"ops@exämple.com", "", "Email address contains non-ASCII characters: encode display names as MIME encoded-words and domains as Punycode."},
		{"ops@@example.com", "", "Illegal address"},
		{"ops @example.com", "", "Illegal address"},
		{"ops@example..com", "", "Illegal address"},
		{"ops@-example.com", "", "Domain contains illegal character"},
		{"ops@[192.0.2.1]", "", "Domain contains illegal character"},
	} {
		addr, problem := checkAddress(tc.in)
		if addr != tc.addr || problem != tc.problem {
			t.Errorf("checkAddress(%q) = %q, %q; want %q, %q", tc.in, addr, problem, tc.addr, tc.problem)
		}
	}
}

func TestIdentityKey(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM":         "example.com",
		"Alerts@Example.COM":  "Alerts@example.com",
		`"a@b"@Example.COM`:   `"a@b"@example.com`,
		"plain@example.com":   "plain@example.com",
		"sub.Example.com":     "sub.example.com",
		"Ops@Sub.Example.com": "Ops@sub.example.com",
	} {
		if got := identityKey(in); got != want {
			t.Errorf("identityKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPage(t *testing.T) {
	var all []*identity
	for _, n := range []string{"a.com", "b.com", "c.com", "d.com", "e.com"} {
		all = append(all, &identity{name: n, kind: kindDomain})
	}
	names := func(ids []*identity) []string {
		out := []string{}
		for _, id := range ids {
			out = append(out, id.name)
		}
		return out
	}

	var got [][]string
	token := ""
	for {
		ids, next, err := page(all, token, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, names(ids))
		if next == "" {
			break
		}
		token = next
	}
	if diff := cmp.Diff([][]string{{"a.com", "b.com"}, {"c.com", "d.com"}, {"e.com"}}, got); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}

	// A token stays valid when the identity it names is deleted.
	_, token, _ = page(all, "", 2)
	withoutB := append([]*identity{all[0]}, all[2:]...)
	ids, _, err := page(withoutB, token, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"c.com", "d.com"}, names(ids)); diff != "" {
		t.Errorf("page after deletion (-want +got):\n%s", diff)
	}

	if _, _, err := page(all, "!!", 2); err == nil {
		t.Error("page accepted a malformed token")
	}
}
