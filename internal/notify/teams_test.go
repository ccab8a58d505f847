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

	"github.com/deskpilot/deskpilot/internal/fault"
)

// checkTeams checks a body as Teams checks a webhook message carrying an Adaptive Card (the
// envelope of "Send Adaptive Cards using an Incoming Webhook" and of Workflows' webhook
// trigger, and the Adaptive Card schema for the elements deskpilot sends). It returns the
// problems found, none for a message Teams takes.
func checkTeams(body []byte) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if len(body) > 28*1024 {
		bad("413: the message is %d bytes, more than 28 KB", len(body))
	}
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			ContentURL  *string         `json:"contentUrl"`
			Content     json.RawMessage `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return []string{"invalid JSON: " + err.Error()}
	}
	if msg.Type != "message" {
		bad("type is %q, want message", msg.Type)
	}
	if len(msg.Attachments) == 0 {
		return append(p, "no attachments")
	}
	a := msg.Attachments[0]
	if a.ContentType != "application/vnd.microsoft.card.adaptive" {
		bad("attachments[0].contentType is %q, want an Adaptive Card", a.ContentType)
	}
	var card map[string]any
	if err := json.Unmarshal(a.Content, &card); err != nil {
		return append(p, "attachments[0].content is not an object")
	}
	if card["type"] != "AdaptiveCard" {
		bad("content.type is %v, want AdaptiveCard", card["type"])
	}
	if s, _ := card["$schema"].(string); s != "http://adaptivecards.io/schemas/adaptive-card.json" {
		bad("content.$schema is %q", s)
	}
	if v, _ := card["version"].(string); !regexp.MustCompile(`^1\.[0-6]$`).MatchString(v) {
		bad("content.version is %q, want 1.0 to 1.6", v)
	}
	body_, ok := card["body"].([]any)
	if !ok || len(body_) == 0 {
		bad("content.body is not a non-empty array")
	}
	enum := func(path string, e map[string]any, key string, values ...string) {
		if v, ok := e[key]; ok && !slices.Contains(values, fmt.Sprint(v)) {
			bad("%s.%s is %v, not one of %v", path, key, v, values)
		}
	}
	boolean := func(path string, e map[string]any, key string) {
		if v, ok := e[key]; ok {
			if _, isBool := v.(bool); !isBool {
				bad("%s.%s is %v, not a boolean", path, key, v)
			}
		}
	}
	common := []string{"type", "id", "spacing", "separator", "isVisible", "height"}
	for i, v := range body_ {
		path := fmt.Sprintf("body[%d]", i)
		e, ok := v.(map[string]any)
		if !ok {
			bad("%s is not an object", path)
			continue
		}
		enum(path, e, "spacing", "None", "Small", "Default", "Medium", "Large", "ExtraLarge", "Padding")
		boolean(path, e, "separator")
		var keys []string
		switch e["type"] {
		case "TextBlock":
			keys = []string{"text", "size", "weight", "color", "isSubtle", "wrap", "maxLines", "fontType", "horizontalAlignment", "style"}
			if s, ok := e["text"].(string); !ok || s == "" {
				bad("%s: a TextBlock needs a text", path)
			}
			enum(path, e, "size", "Small", "Default", "Medium", "Large", "ExtraLarge")
			enum(path, e, "weight", "Lighter", "Default", "Bolder")
			enum(path, e, "color", "Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention")
			boolean(path, e, "isSubtle")
			boolean(path, e, "wrap")
		case "FactSet":
			keys = []string{"facts"}
			facts, ok := e["facts"].([]any)
			if !ok || len(facts) == 0 {
				bad("%s: a FactSet needs facts", path)
			}
			for j, f := range facts {
				fact, ok := f.(map[string]any)
				if !ok || len(fact) != 2 {
					bad("%s.facts[%d] is not {title, value}", path, j)
					continue
				}
				for _, k := range []string{"title", "value"} {
					if _, ok := fact[k].(string); !ok {
						bad("%s.facts[%d].%s is not a string", path, j, k)
					}
				}
			}
		default:
			bad("%s: element type %v is not one deskpilot sends", path, e["type"])
			continue
		}
		for k := range e {
			if !slices.Contains(keys, k) && !slices.Contains(common, k) {
				bad("%s: unknown property %q of a %v", path, k, e["type"])
			}
		}
	}
	return p
}

// startTeams starts a validating fake Teams webhook, answering as Workflows does: 202 for a
// message it takes, 400 (or 413 when too large) for one it does not.
func startTeams(t *testing.T) *chatServer {
	return startChat(t, checkTeams,
		func(w http.ResponseWriter) { w.WriteHeader(http.StatusAccepted) },
		func(w http.ResponseWriter, p []string) {
			code := http.StatusBadRequest
			if strings.HasPrefix(p[0], "413") {
				code = http.StatusRequestEntityTooLarge
			}
			w.WriteHeader(code)
			_, _ = io.WriteString(w, strings.Join(p, "\n"))
		})
}

// Every notice, however long, becomes a card Teams takes.
func TestWebhookSender_Teams(t *testing.T) {
	s := startTeams(t)
	for name, n := range chatNotices() {
		t.Run(name, func(t *testing.T) {
			err := NewWebhook(s.URL, s.Client(), "").WithFormat(FormatTeams).Send(context.Background(), n)
			body, problems := s.last(t)
			if err != nil || len(problems) > 0 {
				t.Fatalf("Send = %v; Teams would refuse the card:\n%s\n%.2000s", err, strings.Join(problems, "\n"), body)
			}
			if len(body) > teamsMaxBytes {
				t.Errorf("the body is %d bytes, more than %d", len(body), teamsMaxBytes)
			}
			var msg teamsMessage
			if err := json.Unmarshal(body, &msg); err != nil {
				t.Fatal(err)
			}
			els := msg.Attachments[0].Content.Body
			// The title: the subject, in bold, coloured by severity.
			head := els[0]
			if !strings.Contains(head.Text, strings.Fields(title(n))[0]) || head.Weight != "Bolder" {
				t.Errorf("first element %+v is not the subject in bold", head)
			}
			if want := map[string]string{SeverityError: "Attention", SeverityWarning: "Warning"}[severityOf(n)]; head.Color != want {
				t.Errorf("title colour %q, want %q", head.Color, want)
			}
			// The last line names the severity and the notice.
			foot := els[len(els)-1].Text
			if !strings.Contains(foot, "Notice "+n.ID) || !strings.Contains(foot, teamsLabel[severityOf(n)]) {
				t.Errorf("last line %q does not show the severity and the notice ID", foot)
			}
			var facts []teamsFact
			var text strings.Builder
			for _, e := range els {
				facts = append(facts, e.Facts...)
				text.WriteString(e.Text + "\n")
			}
			if len(n.Fields) > 0 && (len(facts) == 0 || facts[0].Title != clip(oneLine(n.Fields[0].Name), teamsMaxFactKey, nil)) {
				t.Errorf("the first field is not the first fact: %+v", facts)
			}
			if len(n.Items) > 0 && name != "long" && !strings.Contains(text.String(), "• **"+n.Items[0].Name+"**") {
				t.Errorf("the first item is not shown")
			}
			cut := strings.Contains(text.String(), "not shown here")
			if want := name == "long" || name == "many"; cut != want {
				t.Errorf("card says some of the notice is not shown: %v, want %v", cut, want)
			}
		})
	}
}

func TestTeamsBody_Golden(t *testing.T) {
	body, err := NewWebhook("http://x", nil, "").WithFormat(FormatTeams).body(pendingNotice())
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "pending.teams.golden", body)
}

// Items are dropped from the end, one by one if need be, until the card fits: as many as fit
// are shown.
func TestTeamsBody_KeepsWhatFits(t *testing.T) {
	n := manyNotice()
	body, err := teamsBody(n)
	if err != nil {
		t.Fatal(err)
	}
	var msg teamsMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatal(err)
	}
	shown := len(msg.Attachments[0].Content.Body) - 3 // title, the note, the last line
	one, _ := marshal(teamsCardOf(n, 0, shown+1))
	if len(body) > teamsMaxBytes || len(one) <= teamsMaxBytes {
		t.Errorf("%d items shown in %d bytes; with one more, %d bytes (limit %d)", shown, len(body), len(one), teamsMaxBytes)
	}
	if !strings.Contains(string(body), fmt.Sprintf("%d more items not shown", len(n.Items)-shown)) {
		t.Errorf("the card does not say how many items it leaves out")
	}
}

func TestWebhookSender_TeamsAnswers(t *testing.T) {
	const failed = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error %d with ContextId tcid=0,server=msgapi-production-eus-azsc7-2-35,cv=x.0."
	testAnswers(t, FormatTeams, []answerCase{
		{"workflow accepted", 202, "", false, 0, false},
		{"connector ok", 200, "1", false, 0, false},
		// An incoming webhook (Office 365 connector) answers 200 for what Teams refused.
		{"connector throttled", 200, fmt.Sprintf(failed, 429), true, fault.Throttled, false},
		{"connector too large", 200, fmt.Sprintf(failed, 413), true, fault.Invalid, true},
		{"connector bad card", 200, fmt.Sprintf(failed, 400), true, fault.Invalid, true},
		{"connector failing", 200, fmt.Sprintf(failed, 502), true, fault.Transient, false},
		{"bad request", 400, `{"error":{"code":"InvalidRequestContent"}}`, true, fault.Invalid, true},
		{"unauthorized", 401, "DirectApiAuthorizationRequired", true, fault.Denied, false},
		{"workflow gone", 404, "WorkflowNotFound", true, fault.NotFound, true},
		{"throttled", 429, "Rate limit is exceeded", true, fault.Throttled, false},
		{"server error", 503, "", true, fault.Transient, false},
	})
	// Only the Teams format reads a 200's body: a receiver of deskpilot's JSON may say what it
	// likes.
	s := answerHook(t, 200, fmt.Sprintf(failed, 429))
	if err := NewWebhook(s.URL, s.Client(), "").Send(context.Background(), pendingNotice()); err != nil {
		t.Errorf("json format: Send = %v for a 200", err)
	}
}
