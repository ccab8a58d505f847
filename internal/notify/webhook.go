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

// WebhookSender posts notices as JSON to a URL, such as a chat integration
// or an incident tool.
type WebhookSender struct {
	name   string
	url    string
	client *http.Client
	secret []byte
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
	return &WebhookSender{name: "webhook", url: url, client: client, secret: []byte(secret)}
}

// WithName sets the name the sender reports, so that several webhooks can be
// configured side by side ("webhook" by default), and returns w.
func (w *WebhookSender) WithName(name string) *WebhookSender {
	w.name = name
	return w
}

// Name returns the sender's name, "webhook" unless set by WithName.
func (w *WebhookSender) Name() string { return w.name }

// Send posts n. The body is the JSON form of Notice (fields and items are
// always arrays, time is RFC 3339 in UTC); the same notice always yields the
// same body and signature, and a resend carries the same "id" in the body and
// in HeaderNotice, for the receiver to dedupe on. Any status but 2xx is an
// error with the status in StatusCode, which fault.Classify sorts: 400, 404,
// 410 and other 4xx are permanent; 401 and 403 (Denied), 408, 409, 429 and
// 5xx are retried (see IsPermanent).
func (w *WebhookSender) Send(ctx context.Context, n Notice) error {
	body, err := webhookBody(n)
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
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: post notice %q: %w", w.name, n.ID,
			&statusError{code: resp.StatusCode, body: strings.TrimSpace(string(snippet))})
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

func webhookBody(n Notice) ([]byte, error) {
	if err := n.Validate(); err != nil {
		return nil, Permanent(err)
	}
	n.Severity = severityOf(n)
	n.Time = n.Time.UTC()
	if n.Fields == nil {
		n.Fields = []Field{}
	}
	if n.Items == nil {
		n.Items = []Item{}
	}
	b, err := json.Marshal(n)
	if err != nil {
		return nil, Permanent(fmt.Errorf("encode notice %q: %w", n.ID, err))
	}
	return b, nil
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
