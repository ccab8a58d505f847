package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/fault"
)

// The notices every chat format is tried with: between them, every part a Notice has, each
// severity, and texts and lists far over every service's limits.
func chatNotices() map[string]Notice {
	return map[string]Notice{
		"pending": pendingNotice(),
		"info": {
			ID: "digest/2025-03-10T15", Kind: "workspaces.digest", Severity: SeverityInfo,
			Subject: "3 WorkSpaces reset in the last hour",
			Summary: "deskpilot rebuilt or restored these WorkSpaces after their users logged off.",
			Fields: []Field{
				{Name: "Directory", Value: "d-1234567890"},
				{Name: "Period", Value: "2025-03-10 14:00–15:00 UTC"},
			},
			Items: []Item{
				{Name: "ws-0a1b2c3d", Status: "rebuilt", Detail: "alice"},
				{Name: "ws-4e5f6a7b", Status: "restored"},
				{Name: "ws-8c9d0e1f", Status: "failed", Detail: "ResourceLimitExceeded & retried"},
			},
			Time: time.Date(2025, 3, 10, 15, 0, 0, 0, time.UTC),
		},
		"error": {
			ID: "rollout/42/failed", Kind: "rollout.failed", Severity: SeverityError,
			Subject: "Rollout 42 failed: fleet finance did not start",
			Summary: "The image was applied but the fleet stayed STOPPED. Its capacity was restored.",
			Fields:  []Field{{Name: "Error", Value: "InvalidResourceStateException: <fleet> is not RUNNING"}},
			Time:    time.Date(2025, 3, 11, 2, 17, 0, 0, time.UTC),
		},
		// Only what Validate requires: no summary, fields, items or time, and no severity.
		"bare": {ID: "x/1", Kind: "test.bare", Subject: "Nothing else"},
		"long": longNotice(),
		"many": manyNotice(),
	}
}

// longNotice has texts far over every limit, in characters of one, two and three bytes and of
// two UTF-16 units, with characters that need escaping where a cut would fall.
func longNotice() Notice {
	mixed := strings.Repeat("Ünïcødé € 😀 & <b> ", 700) // 12,600 runes
	n := Notice{
		ID: "rollout/7/long&<>", Kind: "rollout.done", Severity: SeverityWarning,
		Subject: strings.Repeat("A very long subject 😀 ", 50),
		Summary: mixed,
		Time:    time.Date(2025, 3, 10, 14, 5, 0, 0, time.UTC),
	}
	for i := range 25 {
		n.Fields = append(n.Fields, Field{Name: fmt.Sprintf("Field %d %s", i, strings.Repeat("n", 900)), Value: mixed[:5000]})
	}
	for i := range 300 {
		n.Items = append(n.Items, Item{Name: fmt.Sprintf("fleet-%03d", i), Status: "done", Detail: mixed[:4000]})
	}
	return n
}

// manyNotice has short texts but more items than fit in one message.
func manyNotice() Notice {
	n := Notice{ID: "digest/many", Kind: "workspaces.digest", Subject: "1,000 WorkSpaces reset"}
	for i := range 1000 {
		n.Items = append(n.Items, Item{Name: fmt.Sprintf("ws-%08x", i), Status: "rebuilt", Detail: "user" + fmt.Sprint(i)})
	}
	return n
}

// chatServer is a validating fake of a chat service's webhook: it records every body, checks
// it with check, and answers like the service: ok when check finds nothing, else reject with
// the problems found.
type chatServer struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   [][]byte
	problems [][]string
}

func startChat(t *testing.T, check func(body []byte) []string, ok func(w http.ResponseWriter), reject func(w http.ResponseWriter, problems []string)) *chatServer {
	t.Helper()
	s := &chatServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		p := check(b)
		s.mu.Lock()
		s.bodies = append(s.bodies, b)
		s.problems = append(s.problems, p)
		s.mu.Unlock()
		if len(p) > 0 {
			reject(w, p)
			return
		}
		ok(w)
	}))
	t.Cleanup(s.Close)
	return s
}

// last returns the last body received and the problems found in it.
func (s *chatServer) last(t *testing.T) ([]byte, []string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bodies) == 0 {
		t.Fatal("the server received nothing")
	}
	return s.bodies[len(s.bodies)-1], s.problems[len(s.problems)-1]
}

// checkGolden compares body, indented, with testdata/name; go test -update rewrites it.
func checkGolden(t *testing.T, name string, body []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	b.WriteByte('\n')
	got := b.Bytes()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got); run go test -update if intended:\n%s", name, diff)
	}
}

// answerHook answers every request with status and body.
func answerHook(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

// answerCase is one answer of a service and what Send must make of it.
type answerCase struct {
	name      string
	status    int
	body      string
	wantErr   bool
	class     fault.Class
	permanent bool
}

func testAnswers(t *testing.T, format string, tests []answerCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := answerHook(t, tc.status, tc.body)
			err := NewWebhook(s.URL, s.Client(), "").WithFormat(format).Send(context.Background(), pendingNotice())
			if (err != nil) != tc.wantErr {
				t.Fatalf("Send error = %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				return
			}
			if got := fault.Classify(err); got != tc.class {
				t.Errorf("Classify(%v) = %s, want %s", err, got, tc.class)
			}
			if got := IsPermanent(err); got != tc.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tc.permanent)
			}
			if b := strings.TrimSpace(tc.body); b != "" && !strings.Contains(err.Error(), b) {
				t.Errorf("error %q does not quote the answer", err)
			}
		})
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		esc  bool
		want string
	}{
		{"short", 10, false, "short"},
		{"exactly", 7, false, "exactly"},
		{"too long", 7, false, "too lo…"},
		{"cut at a space", 8, false, "cut at…"},
		// Escapes count as they are sent, and a cut never splits one.
		{"a<b", 10, true, "a&lt;b"},
		{"a&b", 4, true, "a…"},
		{"a&b", 7, true, "a&amp;b"},
		{"a&b c", 7, true, "a&amp;…"},
		// A character outside the BMP is two units, and is never split.
		{"😀😀", 4, false, "😀😀"},
		{"😀😀", 3, false, "😀…"},
		{"😀😀", 2, false, "…"},
		{"ÜÜÜ", 2, false, "Ü…"},
	}
	for _, tc := range tests {
		var esc func(rune) string
		if tc.esc {
			esc = slackEscape
		}
		got := clip(tc.s, tc.max, esc)
		if got != tc.want {
			t.Errorf("clip(%q, %d, esc %v) = %q, want %q", tc.s, tc.max, tc.esc, got, tc.want)
		}
		if units(got) > tc.max {
			t.Errorf("clip(%q, %d) = %q is %d units long", tc.s, tc.max, got, units(got))
		}
	}
}

func TestFit(t *testing.T) {
	// A rendering's size: 10 per field, 1 per item.
	within := func(limit int) func(f, i int) bool {
		return func(f, i int) bool { return 10*f+i <= limit }
	}
	tests := []struct {
		name                  string
		fields, items, limit  int
		wantFields, wantItems int
	}{
		{"everything fits", 3, 50, 100, 3, 50},
		{"items are cut first", 3, 500, 100, 3, 70},
		{"then fields", 30, 500, 100, 10, 0},
		{"nothing", 0, 0, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, i := fit(tc.fields, tc.items, within(tc.limit))
			if f != tc.wantFields || i != tc.wantItems {
				t.Errorf("fit = %d fields, %d items; want %d, %d", f, i, tc.wantFields, tc.wantItems)
			}
		})
	}
}

func TestWebhookSender_WithFormat(t *testing.T) {
	// The default and "json" post today's body, byte for byte.
	h := startHook(t, http.StatusOK)
	for _, w := range []*WebhookSender{
		NewWebhook(h.URL, h.Client(), "k"),
		NewWebhook(h.URL, h.Client(), "k").WithFormat(""),
		NewWebhook(h.URL, h.Client(), "k").WithFormat(FormatJSON),
	} {
		if err := w.Send(context.Background(), pendingNotice()); err != nil {
			t.Fatal(err)
		}
	}
	reqs := h.requests()
	for _, r := range reqs[1:] {
		if string(r.Body) != string(reqs[0].Body) {
			t.Errorf("body with an explicit json format differs from the default:\n%s\n%s", r.Body, reqs[0].Body)
		}
	}

	defer func() {
		if recover() == nil {
			t.Error("WithFormat(\"discord\") did not panic")
		}
	}()
	NewWebhook(h.URL, nil, "").WithFormat("discord")
}

// Every format signs its body and names the notice in a header, and renders the same notice
// the same way every time, so a resend is the same request.
func TestWebhookSender_ChatFormatsHeaders(t *testing.T) {
	for _, format := range []string{FormatSlack, FormatTeams} {
		t.Run(format, func(t *testing.T) {
			h := startHook(t, http.StatusOK)
			w := NewWebhook(h.URL, h.Client(), "shh").WithFormat(format)
			for range 2 {
				if err := w.Send(context.Background(), longNotice()); err != nil {
					t.Fatal(err)
				}
			}
			reqs := h.requests()
			r := reqs[0]
			if got, want := r.Header.Get(HeaderSignature), Sign([]byte("shh"), r.Body); got != want {
				t.Errorf("%s = %q, want %q", HeaderSignature, got, want)
			}
			if got := r.Header.Get(HeaderNotice); got != longNotice().ID {
				t.Errorf("%s = %q", HeaderNotice, got)
			}
			if string(reqs[1].Body) != string(r.Body) {
				t.Error("sending the same notice twice gave two bodies")
			}
		})
	}
}

func TestWebhookSender_ChatFormatsInvalidNotice(t *testing.T) {
	h := startHook(t, http.StatusOK)
	for _, format := range []string{FormatSlack, FormatTeams} {
		err := NewWebhook(h.URL, h.Client(), "").WithFormat(format).Send(context.Background(), Notice{ID: "x/1", Kind: "k"})
		if !IsPermanent(err) {
			t.Errorf("%s: IsPermanent(%v) = false for a notice without subject", format, err)
		}
	}
	if n := len(h.requests()); n != 0 {
		t.Errorf("an invalid notice was posted %d times", n)
	}
}
