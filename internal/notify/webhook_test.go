package notify

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/fault"
)

// hookServer records webhook requests and answers with status.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	reqs   []hookRequest
}

type hookRequest struct {
	Header http.Header
	Body   []byte
}

func startHook(t *testing.T, status int) *hookServer {
	t.Helper()
	h := &hookServer{status: status}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, hookRequest{Header: r.Header.Clone(), Body: b})
		h.mu.Unlock()
		if r.Method != http.MethodPost {
			http.Error(w, "want POST", http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(h.status)
		_, _ = io.WriteString(w, "rejected: reasons\n")
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.reqs...)
}

func TestWebhookSender_Send(t *testing.T) {
	const secret = "shh"
	h := startHook(t, http.StatusNoContent)
	w := NewWebhook(h.URL+"/hooks/deskpilot", h.Client(), secret)
	n := pendingNotice()
	if err := w.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	reqs := h.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	r := reqs[0]

	// The signature is the HMAC of the exact body, under the shared secret.
	sig := r.Header.Get("X-Deskpilot-Signature")
	if !strings.HasPrefix(sig, "sha256=") {
		t.Fatalf("X-Deskpilot-Signature = %q, want sha256=<hex>", sig)
	}
	if want := Sign([]byte(secret), r.Body); !hmac.Equal([]byte(sig), []byte(want)) {
		t.Errorf("signature %q does not verify; want %q", sig, want)
	}
	if Sign([]byte("other"), r.Body) == sig {
		t.Error("signature verifies under the wrong secret")
	}
	for k, want := range map[string]string{
		"Content-Type":       "application/json",
		"X-Deskpilot-Notice": "rollout/42/pending",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}

	// The body shape is the public contract of the webhook.
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.Body)
	}
	want := map[string]any{
		"id":       "rollout/42/pending",
		"kind":     "rollout.pending",
		"severity": "warning",
		"subject":  n.Subject,
		"summary":  n.Summary,
		"fields": []any{
			map[string]any{"name": "Image", "value": "office-2025-03"},
			map[string]any{"name": "Fleets", "value": "finance, <script>alert(1)</script>"},
			map[string]any{"name": "Window (UTC)", "value": "Tue 2025-03-11 02:00–04:00 UTC"},
			map[string]any{"name": "Window (Europe/Berlin)", "value": "Tue 2025-03-11 03:00–05:00 CET"},
			map[string]any{"name": "How to cancel", "value": "Remove the FleetName tag from the image,\nor run: deskpilot rollout cancel 42"},
		},
		"items": []any{
			map[string]any{"name": "finance", "status": "pending", "detail": "runs office-2025-02; will drain"},
			map[string]any{"name": "<script>alert(1)</script>", "status": "pending", "detail": `ON_DEMAND & "idle"`},
		},
		"time": "2025-03-10T14:05:00Z",
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s", diff)
	}

	// Sending the same notice again yields the same body (so the same "id"), signature and
	// X-Deskpilot-Notice: the receiver can tell it is a resend.
	if err := w.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	again := h.requests()[1]
	if string(again.Body) != string(r.Body) || again.Header.Get("X-Deskpilot-Signature") != sig ||
		again.Header.Get(HeaderNotice) != n.ID {
		t.Error("resending the same notice changed the body, the signature or X-Deskpilot-Notice")
	}
}

func TestWebhookSender_EmptyListsAndNoSecret(t *testing.T) {
	h := startHook(t, http.StatusOK)
	w := NewWebhook(h.URL, nil, "")
	n := Notice{ID: "digest/1", Kind: "workspaces.digest", Subject: "Nothing reset"}
	if err := w.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	r := h.requests()[0]
	if sig := r.Header.Get("X-Deskpilot-Signature"); sig != "" {
		t.Errorf("unsigned webhook sent X-Deskpilot-Signature %q", sig)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{}, body["fields"]); diff != "" {
		t.Errorf("fields: %s", diff)
	}
	if diff := cmp.Diff([]any{}, body["items"]); diff != "" {
		t.Errorf("items: %s", diff)
	}
	if body["severity"] != "info" {
		t.Errorf("severity = %v, want info", body["severity"])
	}
}

func TestWebhookSender_Status(t *testing.T) {
	tests := []struct {
		status    int
		wantErr   bool
		class     fault.Class
		permanent bool
	}{
		{200, false, fault.Transient, false},
		{202, false, fault.Transient, false},
		{400, true, fault.Invalid, true},
		// The receiver's credentials or allow-list: an operator fixes them, the notice waits.
		{401, true, fault.Denied, false},
		{403, true, fault.Denied, false},
		{404, true, fault.NotFound, true},
		{408, true, fault.Transient, false},
		{409, true, fault.Conflict, false},
		{410, true, fault.NotFound, true},
		{422, true, fault.Invalid, true},
		{429, true, fault.Throttled, false},
		{500, true, fault.Transient, false},
		{502, true, fault.Transient, false},
		{503, true, fault.Transient, false},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			h := startHook(t, tc.status)
			err := NewWebhook(h.URL, h.Client(), "k").Send(context.Background(), pendingNotice())
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
			if !strings.Contains(err.Error(), "rejected: reasons") {
				t.Errorf("error %q does not quote the response body", err)
			}
		})
	}
}

func TestWebhookSender_ErrorsHideURL(t *testing.T) {
	h := startHook(t, http.StatusOK)
	h.Close() // connection refused from now on
	const token = "T0K3N"
	w := NewWebhook(h.URL+"/services/"+token, h.Client(), "")
	err := w.Send(context.Background(), pendingNotice())
	if err == nil {
		t.Fatal("Send to a closed server succeeded")
	}
	if IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = true, want false", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error %q reveals the webhook URL", err)
	}

	err = NewWebhook("://bad url "+token, nil, "").Send(context.Background(), pendingNotice())
	if !IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = false for an invalid URL, want true", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error %q reveals the webhook URL", err)
	}
}

func TestWebhookSender_Name(t *testing.T) {
	w := NewWebhook("http://127.0.0.1/", nil, "")
	if w.Name() != "webhook" {
		t.Errorf("Name() = %q, want webhook", w.Name())
	}
	if got := w.WithName("webhook:teams").Name(); got != "webhook:teams" {
		t.Errorf("Name() after WithName = %q", got)
	}
}
