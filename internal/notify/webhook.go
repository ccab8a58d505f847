package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Webhook headers, besides HeaderNotice.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256 of the request
	// body under the shared secret; absent when there is no secret.
	HeaderSignature = "X-Deskpilot-Signature"
)

// DefaultWebhookTimeout bounds a webhook request when NewWebhook is given no
// client.
const DefaultWebhookTimeout = 10 * time.Second

// Webhook payload formats, the values WithFormat takes. The format decides only the body; the
// headers, the signature and the sorting of answers into faults are the same for all three,
// except where a service's answers need reading (see Send).
const (
	// FormatJSON posts the JSON form of Notice, for receivers written for deskpilot. It is the
	// default.
	FormatJSON = "json"
	// FormatSlack posts a Slack incoming-webhook message: fallback text and Block Kit blocks,
	// kept within Slack's limits (see slackBody).
	FormatSlack = "slack"
	// FormatTeams posts a Microsoft Teams message holding one Adaptive Card, the shape Teams
	// incoming webhooks and Workflows' "when a Teams webhook request is received" trigger accept
	// (see teamsBody).
	FormatTeams = "teams"
)

// WebhookSender posts notices to a URL, such as a chat integration or an
// incident tool, as deskpilot's JSON or as a Slack or Teams message.
type WebhookSender struct {
	name   string
	url    string
	client *http.Client
	secret []byte
	format string
}

var _ Sender = (*WebhookSender)(nil)

// NewWebhook returns a sender that posts to url with client (nil means a
// client with DefaultWebhookTimeout). With a non-empty secret every request
// is signed in HeaderSignature. The URL is checked when a notice is sent; a
// bad one is a permanent error. Errors never include the URL, which often
// holds a token.
func NewWebhook(url string, client *http.Client, secret string) *WebhookSender {
	if client == nil {
		client = &http.Client{Timeout: DefaultWebhookTimeout}
	}
	return &WebhookSender{name: "webhook", url: url, client: client, secret: []byte(secret), format: FormatJSON}
}

// WithFormat sets the payload format, FormatJSON (also for ""), FormatSlack or FormatTeams, and
// returns w. It panics on any other value: config.Validate refuses them, so one reaching here is
// a bug, and it shows when the senders are built rather than when a notice is due.
func (w *WebhookSender) WithFormat(format string) *WebhookSender {
	switch format {
	case "":
		format = FormatJSON
	case FormatJSON, FormatSlack, FormatTeams:
	default:
		panic(fmt.Sprintf("notify: unknown webhook format %q", format))
	}
	w.format = format
	return w
}

// WithName sets the name the sender reports, so that several webhooks can be
// configured side by side ("webhook" by default), and returns w.
func (w *WebhookSender) WithName(name string) *WebhookSender {
	w.name = name
	return w
}

// Name returns the sender's name, "webhook" unless set by WithName.
func (w *WebhookSender) Name() string { return w.name }

// Send posts n in w's format. With FormatJSON the body is the JSON form of
// Notice (fields and items are always arrays, time is RFC 3339 in UTC); with
// FormatSlack and FormatTeams it is a chat message showing the same notice,
// its ID included. In every format the same notice always yields the same
// body and signature, and a resend carries the same ID in HeaderNotice (and,
// as JSON, in "id"), for the receiver to dedupe on; a chat service does not
// dedupe, but the ID it shows lets a person see a resend for what it is.
//
// Any status but 2xx is an error with the status in StatusCode, which
// fault.Classify sorts: 400, 404, 410 and other 4xx are permanent; 401 and
// 403 (Denied), 408, 409, 429 and 5xx are retried (see IsPermanent). Slack
// answers in this way (200 "ok"; 400 invalid_payload or invalid_blocks, 403
// action_prohibited or invalid_token, 404 channel_not_found or no_service,
// 410 channel_is_archived, 429, 500 rollup_error), as do Teams Workflows (202)
// and Teams incoming webhooks, except that the latter may answer 200 with
// "Microsoft Teams endpoint returned HTTP error 429" in the body: with
// FormatTeams such an answer is an error with the status it names.
func (w *WebhookSender) Send(ctx context.Context, n Notice) error {
	body, err := w.body(n)
	if err != nil {
		return fmt.Errorf("%s: %w", w.name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		// Do not wrap: url.Error would print the URL.
		return Permanent(fmt.Errorf("%s: invalid URL", w.name))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "deskpilot")
	req.Header.Set(HeaderNotice, n.ID)
	if len(w.secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(w.secret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err // drop the URL
		}
		return fmt.Errorf("%s: post notice %q: %w", w.name, n.ID, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if err := w.answer(resp.StatusCode, strings.TrimSpace(string(snippet))); err != nil {
		return fmt.Errorf("%s: post notice %q: %w", w.name, n.ID, err)
	}
	return nil
}

// teamsFailedRE finds the status a Teams incoming webhook (an Office 365 connector) reports
// inside a 200 answer, as in "Webhook message delivery failed with error: Microsoft Teams
// endpoint returned HTTP error 429 with ContextId ...". The connector answers 200 because it
// hands the message on asynchronously; the failure is Teams'.
var teamsFailedRE = regexp.MustCompile(`Microsoft Teams endpoint returned HTTP error (\d{3})`)

// answer returns nil if a response with status code and the start of its body, snippet, says
// the notice was taken, else a *statusError for fault.Classify.
func (w *WebhookSender) answer(code int, snippet string) error {
	if code < 200 || code > 299 {
		return &statusError{code: code, body: snippet}
	}
	if w.format == FormatTeams {
		if m := teamsFailedRE.FindStringSubmatch(snippet); m != nil {
			if c, _ := strconv.Atoi(m[1]); c >= 400 {
				return &statusError{code: c, body: snippet}
			}
		}
	}
	return nil
}

// Sign returns the HeaderSignature value for body under secret:
// "sha256=" followed by the hex HMAC-SHA256. Receivers compute the same and
// compare with hmac.Equal.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// body renders n in w's format. An invalid notice, or one that does not encode, is a permanent
// error: no retry can change it.
func (w *WebhookSender) body(n Notice) ([]byte, error) {
	if err := n.Validate(); err != nil {
		return nil, Permanent(err)
	}
	var (
		b   []byte
		err error
	)
	switch w.format {
	case FormatSlack:
		b, err = marshal(slackBody(n))
	case FormatTeams:
		b, err = teamsBody(n)
	default:
		b, err = jsonBody(n)
	}
	if err != nil {
		return nil, Permanent(fmt.Errorf("encode notice %q: %w", n.ID, err))
	}
	return b, nil
}

// jsonBody is the body of FormatJSON, unchanged since the first release: the JSON form of n,
// with the empty severity written as info, time in UTC and fields and items never null.
func jsonBody(n Notice) ([]byte, error) {
	n.Severity = severityOf(n)
	n.Time = n.Time.UTC()
	if n.Fields == nil {
		n.Fields = []Field{}
	}
	if n.Items == nil {
		n.Items = []Item{}
	}
	return json.Marshal(n)
}

// marshal encodes v as compact JSON without escaping <, > and &, which chat services take as
// they are (and which would otherwise count six bytes each against their size limits).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// statusError is a webhook response outside 2xx.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	if e.body == "" {
		return fmt.Sprintf("HTTP %d", e.code)
	}
	return fmt.Sprintf("HTTP %d: %s", e.code, e.body)
}

// StatusCode returns the HTTP status, by which fault.Classify sorts the error.
func (e *statusError) StatusCode() int { return e.code }

var _ interface {
	error
	StatusCode() int
} = (*statusError)(nil)
