package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/deskpilot/deskpilot/internal/fault"
)

// checkSlack checks a body as Slack checks an incoming-webhook message, by the limits of the
// Block Kit reference (docs.slack.dev/reference/block-kit), for the block types deskpilot has
// reason to send. It returns the problems found, none for a message Slack takes. It counts
// characters as UTF-16 units, the stricter of the ways Slack might.
func checkSlack(body []byte) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	var msg map[string]any
	if err := json.Unmarshal(body, &msg); err != nil {
		return []string{"invalid_payload: " + err.Error()}
	}
	for k := range msg {
		if !slices.Contains([]string{"text", "blocks", "attachments", "thread_ts", "mrkdwn", "unfurl_links", "unfurl_media"}, k) {
			bad("message: unknown key %q", k)
		}
	}
	// With blocks, text is the fallback for notifications: required, and Slack asks for at
	// most 4,000 characters.
	text, _ := msg["text"].(string)
	if strings.TrimSpace(text) == "" {
		bad("message: no text (fallback) given")
	}
	checkMrkdwn(bad, "text", text, 4000)

	blocks, ok := msg["blocks"].([]any)
	if !ok || len(blocks) == 0 {
		bad("message: blocks is not a non-empty array")
	}
	if len(blocks) > 50 {
		bad("message: %d blocks, more than 50", len(blocks))
	}
	total := 0
	textObject := func(path string, v any, max int, types ...string) {
		o, ok := v.(map[string]any)
		if !ok {
			bad("%s: not a text object", path)
			return
		}
		typ, _ := o["type"].(string)
		if !slices.Contains(types, typ) {
			bad("%s: text type %q, want one of %v", path, typ, types)
		}
		for k := range o {
			if !slices.Contains([]string{"type", "text", "emoji", "verbatim"}, k) {
				bad("%s: unknown key %q", path, k)
			}
		}
		if _, ok := o["emoji"]; ok && typ != "plain_text" {
			bad("%s: emoji is only for plain_text", path)
		}
		s, ok := o["text"].(string)
		if !ok || s == "" {
			bad("%s: text must be a string of at least 1 character", path)
		}
		total += u16(s)
		if typ == "mrkdwn" {
			checkMrkdwn(bad, path, s, max)
		} else if u16(s) > max {
			bad("%s: %d characters, more than %d", path, u16(s), max)
		}
	}
	allowed := map[string][]string{
		"header":  {"type", "text", "block_id"},
		"section": {"type", "text", "fields", "accessory", "block_id"},
		"context": {"type", "elements", "block_id"},
		"divider": {"type", "block_id"},
	}
	for i, v := range blocks {
		path := fmt.Sprintf("blocks[%d]", i)
		b, ok := v.(map[string]any)
		if !ok {
			bad("%s: not an object", path)
			continue
		}
		typ, _ := b["type"].(string)
		keys, known := allowed[typ]
		if !known {
			bad("%s: unknown block type %q", path, typ)
			continue
		}
		for k := range b {
			if !slices.Contains(keys, k) {
				bad("%s: unknown key %q in a %s block", path, k, typ)
			}
		}
		switch typ {
		case "header":
			textObject(path+".text", b["text"], 150, "plain_text")
		case "section":
			if b["text"] == nil && b["fields"] == nil {
				bad("%s: a section needs text or fields", path)
			}
			if b["text"] != nil {
				textObject(path+".text", b["text"], 3000, "mrkdwn", "plain_text")
			}
			if f, ok := b["fields"]; ok {
				fields, ok := f.([]any)
				if !ok || len(fields) == 0 || len(fields) > 10 {
					bad("%s.fields: want 1 to 10 text objects", path)
				}
				for j, f := range fields {
					textObject(fmt.Sprintf("%s.fields[%d]", path, j), f, 2000, "mrkdwn", "plain_text")
				}
			}
		case "context":
			els, ok := b["elements"].([]any)
			if !ok || len(els) == 0 || len(els) > 10 {
				bad("%s.elements: want 1 to 10 elements", path)
			}
			for j, e := range els {
				textObject(fmt.Sprintf("%s.elements[%d]", path, j), e, 3000, "mrkdwn", "plain_text")
			}
		}
	}
	// Not documented, but observed: msg_blocks_too_long past about 13,000 characters.
	if total > 13000 {
		bad("msg_blocks_too_long: %d characters in blocks", total)
	}
	return p
}

// entityRE matches the escapes Slack's mrkdwn knows.
var entityRE = regexp.MustCompile(`^&(amp|lt|gt);`)

// checkMrkdwn checks a mrkdwn text: within max characters, and with no control sequence
// (<...>: a link, @channel, a user) and no & that does not start one of the escapes, as
// deskpilot sends neither links nor mentions.
func checkMrkdwn(bad func(string, ...any), path, s string, max int) {
	if u16(s) > max {
		bad("%s: %d characters, more than %d", path, u16(s), max)
	}
	if strings.ContainsAny(s, "<>") {
		bad("%s: unescaped < or > in %.60q", path, s)
	}
	for i := range len(s) {
		if s[i] == '&' && !entityRE.MatchString(s[i:]) {
			bad("%s: & not part of an escape at %.30q", path, s[i:])
			break
		}
	}
}

func u16(s string) int { return len(utf16.Encode([]rune(s))) }

// startSlack starts a validating fake Slack incoming webhook: 200 "ok" for a message it takes,
// 400 invalid_blocks for one it does not.
func startSlack(t *testing.T) *chatServer {
	return startChat(t, checkSlack,
		func(w http.ResponseWriter) { _, _ = io.WriteString(w, "ok") },
		func(w http.ResponseWriter, p []string) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, "invalid_blocks\n"+strings.Join(p, "\n"))
		})
}

// Every notice, however long, becomes a message Slack takes.
func TestWebhookSender_Slack(t *testing.T) {
	s := startSlack(t)
	for name, n := range chatNotices() {
		t.Run(name, func(t *testing.T) {
			err := NewWebhook(s.URL, s.Client(), "").WithFormat(FormatSlack).Send(context.Background(), n)
			body, problems := s.last(t)
			if err != nil || len(problems) > 0 {
				t.Fatalf("Send = %v; Slack would refuse the message:\n%s\n%s", err, strings.Join(problems, "\n"), body)
			}
			var msg slackMessage
			if err := json.Unmarshal(body, &msg); err != nil {
				t.Fatal(err)
			}
			text := slackAllText(msg)
			// The notice is there: its subject, its severity and its ID.
			if h := msg.Blocks[0]; h.Type != "header" || !strings.Contains(h.Text.Text, strings.Fields(title(n))[0]) {
				t.Errorf("first block %+v is not a header with the subject", h)
			}
			last := msg.Blocks[len(msg.Blocks)-1]
			if last.Type != "context" || !strings.Contains(text, "Notice "+clip(n.ID, 3000, slackEscape)) ||
				!strings.Contains(last.Elements[0].Text, slackSeverity[severityOf(n)].label) {
				t.Errorf("last block %+v does not show the severity and the notice ID", last)
			}
			// The first field and item are shown, and whatever is left out is said to be.
			if len(n.Fields) > 0 && !strings.Contains(text, "*"+clip(oneLine(n.Fields[0].Name), 500, slackEscape)+":*") {
				t.Errorf("the first field is not shown")
			}
			// (The long notice's fields fill the message: its items give way to them.)
			if len(n.Items) > 0 && name != "long" && !strings.Contains(text, "• *"+clip(n.Items[0].Name, 750, slackEscape)+"*") {
				t.Errorf("the first item is not shown")
			}
			cut := strings.Contains(text, "not shown here")
			if want := name == "long" || name == "many"; cut != want {
				t.Errorf("message says some of the notice is not shown: %v, want %v", cut, want)
			}
		})
	}
}

// slackAllText is every text of a message, one per line.
func slackAllText(m slackMessage) string {
	var b strings.Builder
	for _, bl := range m.Blocks {
		if bl.Text != nil {
			b.WriteString(bl.Text.Text + "\n")
		}
		for _, t := range append(bl.Fields, bl.Elements...) {
			b.WriteString(t.Text + "\n")
		}
	}
	return b.String()
}

func TestSlackBody_Golden(t *testing.T) {
	body, err := NewWebhook("http://x", nil, "").WithFormat(FormatSlack).body(pendingNotice())
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "pending.slack.golden", body)
}

// The fields are laid out ten to a section, as Slack allows, and the items fill sections of
// up to 3,000 characters (here, three); nothing is cut that fits.
func TestSlackBody_Packing(t *testing.T) {
	n := Notice{ID: "a/1", Kind: "k", Subject: "s"}
	for i := range 23 {
		n.Fields = append(n.Fields, Field{Name: fmt.Sprint("F", i), Value: "v"})
	}
	for i := range 200 {
		n.Items = append(n.Items, Item{Name: fmt.Sprintf("item-%03d", i), Status: "ok", Detail: strings.Repeat("d", 20)})
	}
	m := slackBody(n)
	var fieldBlocks, itemBlocks, items int
	for _, b := range m.Blocks {
		if len(b.Fields) > 0 {
			fieldBlocks++
		}
		if b.Text != nil && strings.HasPrefix(b.Text.Text, "• ") {
			itemBlocks++
			items += strings.Count(b.Text.Text, "• ")
		}
	}
	if fieldBlocks != 3 {
		t.Errorf("23 fields in %d sections, want 3", fieldBlocks)
	}
	if itemBlocks != 3 {
		t.Errorf("200 items in %d sections, want 3", itemBlocks)
	}
	if items != 200 {
		t.Errorf("%d items shown, want all 200", items)
	}
	if p := checkSlack(mustMarshal(t, m)); len(p) > 0 {
		t.Errorf("Slack would refuse it: %v", p)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// What a fleet name or detail holds is shown, never taken as a mention or a link.
func TestSlackBody_Escapes(t *testing.T) {
	n := pendingNotice()
	n.Items = append(n.Items, Item{Name: "<!channel>", Status: "<https://evil.example|click>"})
	text := slackAllText(slackBody(n))
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;!channel&gt;", "ON_DEMAND &amp; \"idle\""} {
		if !strings.Contains(text, want) {
			t.Errorf("message lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "<!channel>") {
		t.Error("message mentions @channel")
	}
}

func TestWebhookSender_SlackAnswers(t *testing.T) {
	testAnswers(t, FormatSlack, []answerCase{
		{"ok", 200, "ok", false, 0, false},
		{"invalid_payload", 400, "invalid_payload", true, fault.Invalid, true},
		{"invalid_blocks", 400, "invalid_blocks", true, fault.Invalid, true},
		{"no_text", 400, "no_text", true, fault.Invalid, true},
		// A workspace's policy or a revoked token: an admin fixes it and the notices wait.
		{"action_prohibited", 403, "action_prohibited", true, fault.Denied, false},
		{"invalid_token", 403, "invalid_token", true, fault.Denied, false},
		// The webhook or its channel is gone: no retry brings it back.
		{"channel_not_found", 404, "channel_not_found", true, fault.NotFound, true},
		{"no_service", 404, "no_service", true, fault.NotFound, true},
		{"channel_is_archived", 410, "channel_is_archived", true, fault.NotFound, true},
		{"rate limited", 429, "rate_limited", true, fault.Throttled, false},
		{"rollup_error", 500, "rollup_error", true, fault.Transient, false},
	})
}
