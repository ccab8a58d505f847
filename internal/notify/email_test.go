package notify

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// pendingNotice is the notice a controller sends when it schedules a rollout.
// One fleet name carries markup, which the HTML part must escape.
func pendingNotice() Notice {
	return Notice{
		ID:       "rollout/42/pending",
		Kind:     "rollout.pending",
		Severity: SeverityWarning,
		Subject:  "Image office-2025-03 will be applied to 2 fleets on Tue 11 Mar 02:00 UTC",
		Summary:  "deskpilot will apply image office-2025-03 to 2 fleets in the next maintenance window. Users are drained first; sessions in progress are not interrupted.",
		Fields: []Field{
			{Name: "Image", Value: "office-2025-03"},
			{Name: "Fleets", Value: "finance, <script>alert(1)</script>"},
			{Name: "Window (UTC)", Value: "Tue 2025-03-11 02:00–04:00 UTC"},
			{Name: "Window (Europe/Berlin)", Value: "Tue 2025-03-11 03:00–05:00 CET"},
			{Name: "How to cancel", Value: "Remove the FleetName tag from the image,\nor run: deskpilot rollout cancel 42"},
		},
		Items: []Item{
			{Name: "finance", Status: "pending", Detail: "runs office-2025-02; will drain"},
			{Name: "<script>alert(1)</script>", Status: "pending", Detail: `ON_DEMAND & "idle"`},
		},
		Time: time.Date(2025, 3, 10, 14, 5, 0, 0, time.UTC),
	}
}

func TestRenderEmail_Golden(t *testing.T) {
	e, err := RenderEmail(pendingNotice(), "deskpilot@example.com", []string{"ops@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, got string }{
		{"pending.txt.golden", e.Text},
		{"pending.html.golden", e.HTML},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, []byte(tc.got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), tc.got); diff != "" {
				t.Errorf("%s mismatch (-want +got); run go test -update if intended:\n%s", tc.file, diff)
			}
		})
	}
}

func TestRenderEmail_EscapesHTML(t *testing.T) {
	e, err := RenderEmail(pendingNotice(), "deskpilot@example.com", []string{"ops@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.HTML, "<script>") {
		t.Errorf("HTML part contains an unescaped <script>:\n%s", e.HTML)
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "ON_DEMAND &amp; &#34;idle&#34;"} {
		if !strings.Contains(e.HTML, want) {
			t.Errorf("HTML part lacks %q", want)
		}
	}
	// The text part is not HTML: it shows user content as it is.
	if !strings.Contains(e.Text, "<script>alert(1)</script>") {
		t.Errorf("text part altered the fleet name:\n%s", e.Text)
	}
}

func TestRenderEmail_Headers(t *testing.T) {
	n := pendingNotice()
	n.Subject = "two\r\nlines"
	e, err := RenderEmail(n, "deskpilot@example.com", []string{"a@example.com", "b@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := Email{
		From:      "deskpilot@example.com",
		To:        []string{"a@example.com", "b@example.com"},
		Subject:   "two lines",
		MessageID: MessageID(n.ID),
		Headers: map[string]string{
			"X-Deskpilot-Notice":   "rollout/42/pending",
			"X-Deskpilot-Kind":     "rollout.pending",
			"X-Deskpilot-Severity": "warning",
			"Auto-Submitted":       "auto-generated",
		},
	}
	if diff := cmp.Diff(want, e, cmpIgnoreBodies); diff != "" {
		t.Errorf("RenderEmail mismatch (-want +got):\n%s", diff)
	}
}

var cmpIgnoreBodies = cmp.FilterPath(func(p cmp.Path) bool {
	s := p.String()
	return s == "Text" || s == "HTML"
}, cmp.Ignore())

func TestMessageID(t *testing.T) {
	// Stable across runs and releases: receivers dedupe on it.
	// printf 'rollout/42/pending' | sha256sum | cut -c1-32
	if got, want := MessageID("rollout/42/pending"), "<cb5019d31faaab086819c4fa668751db@deskpilot>"; got != want {
		t.Errorf("MessageID = %q, want %q", got, want)
	}
	if MessageID("rollout/42/pending") == MessageID("rollout/42/started") {
		t.Error("different notices share a Message-ID")
	}
	a, _ := RenderEmail(pendingNotice(), "d@example.com", []string{"o@example.com"})
	b, _ := RenderEmail(pendingNotice(), "d@example.com", []string{"o@example.com"})
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("rendering the same notice twice differs:\n%s", diff)
	}
}

func TestRenderEmail_Invalid(t *testing.T) {
	ok := pendingNotice()
	tests := []struct {
		name string
		edit func(*Notice)
		from string
		to   []string
	}{
		{name: "no ID", edit: func(n *Notice) { n.ID = "" }},
		{name: "ID with space", edit: func(n *Notice) { n.ID = "rollout 42" }},
		{name: "ID with newline", edit: func(n *Notice) { n.ID = "rollout/42\r\nBcc: x@example.com" }},
		{name: "ID too long", edit: func(n *Notice) { n.ID = strings.Repeat("x", maxIDLen+1) }},
		{name: "no kind", edit: func(n *Notice) { n.Kind = "" }},
		{name: "kind with space", edit: func(n *Notice) { n.Kind = "rollout pending" }},
		{name: "bad severity", edit: func(n *Notice) { n.Severity = "critical" }},
		{name: "no subject", edit: func(n *Notice) { n.Subject = "" }},
		{name: "bad from", from: "not an address"},
		{name: "no recipients", to: []string{}},
		{name: "bad recipient", to: []string{"ops@example.com", "nobody"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := ok
			if tc.edit != nil {
				tc.edit(&n)
			}
			from, to := "d@example.com", []string{"ops@example.com"}
			if tc.from != "" {
				from = tc.from
			}
			if tc.to != nil {
				to = tc.to
			}
			_, err := RenderEmail(n, from, to)
			if err == nil {
				t.Fatal("RenderEmail succeeded, want an error")
			}
			if !IsPermanent(err) {
				t.Errorf("IsPermanent(%v) = false, want true: an invalid notice never becomes sendable", err)
			}
		})
	}
}
