package app

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHealthCheck_Check(t *testing.T) {
	long := strings.Repeat("0123456789", 30) // 300 bytes
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string // "" for healthy
	}{
		{"200", http.StatusOK, "ok", ""},
		{"204", http.StatusNoContent, "", ""},
		{"299", 299, "", ""},
		{"503 with a body", http.StatusServiceUnavailable, "draining\n", "check_url answered 503 Service Unavailable: draining"},
		{"500 without a body", http.StatusInternalServerError, "", "check_url answered 500 Internal Server Error"},
		{"404", http.StatusNotFound, "no such fleet", "check_url answered 404 Not Found: no such fleet"},
		{"a redirect not followed", http.StatusNotModified, "", "check_url answered 304 Not Modified"},
		{"an unknown status", 599, "x", "check_url answered 599: x"},
		{"a long body is cut at 200 bytes", http.StatusBadGateway, long, "check_url answered 502 Bad Gateway: " + long[:200]},
		{"HTML on one line", http.StatusServiceUnavailable, "<html>\n  <h1>Down</h1>\n\t for maintenance\n</html>",
			"check_url answered 503 Service Unavailable: <html> <h1>Down</h1> for maintenance </html>"},
		// 199 bytes, then a character of two bytes cut in half.
		{"a character cut at the limit", http.StatusBadRequest, strings.Repeat("a", 199) + "é", "check_url answered 400 Bad Request: " + strings.Repeat("a", 199)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var got url.Values
			var method string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got, method = r.URL.Query(), r.Method
				mu.Unlock()
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			h := &healthCheck{URL: srv.URL + "/check?key=abc&fleet=old", Client: srv.Client()}
			err := h.Check(t.Context(), "finance", "desktop-2026-12")
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Errorf("Check() = %q, want %q", gotErr, tt.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			// The URL's own query is kept; fleet and image are set.
			want := url.Values{"key": {"abc"}, "fleet": {"finance"}, "image": {"desktop-2026-12"}}
			if method != http.MethodGet || got.Encode() != want.Encode() {
				t.Errorf("request: %s ?%s, want GET ?%s", method, got.Encode(), want.Encode())
			}
		})
	}
}

// Names with characters that mean something in a query reach the check as they are.
func TestHealthCheck_Check_escapes(t *testing.T) {
	var mu sync.Mutex
	var fleet, image string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fleet, image = r.URL.Query().Get("fleet"), r.URL.Query().Get("image")
		mu.Unlock()
	}))
	defer srv.Close()
	h := &healthCheck{URL: srv.URL}
	if err := h.Check(t.Context(), "a&b=c", "img #1+2"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fleet != "a&b=c" || image != "img #1+2" {
		t.Errorf("the check got fleet %q, image %q", fleet, image)
	}
}

// A check that does not answer in time has failed, and a request never outlives the timeout.
func TestHealthCheck_Check_timeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // the client gave up
	}))
	defer srv.Close()
	h := &healthCheck{URL: srv.URL, Timeout: 50 * time.Millisecond}
	start := time.Now()
	err := h.Check(t.Context(), "finance", "img")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Check() = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Check took %s with a 50ms timeout", d)
	}
}

// Without a Timeout of its own, each request is bounded by HealthCheckTimeout through its
// context, whatever the client's settings.
func TestHealthCheck_Check_defaultTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	rt := &deadlineTransport{next: srv.Client().Transport}
	h := &healthCheck{URL: srv.URL, Client: &http.Client{Transport: rt}}
	start := time.Now()
	if err := h.Check(t.Context(), "finance", "img"); err != nil {
		t.Fatal(err)
	}
	if !rt.ok {
		t.Fatal("the request had no deadline")
	}
	end := time.Now()
	if rt.deadline.Before(start.Add(HealthCheckTimeout)) || rt.deadline.After(end.Add(HealthCheckTimeout)) {
		t.Errorf("the request's deadline was %s after the start, want %s", rt.deadline.Sub(start), HealthCheckTimeout)
	}
}

// deadlineTransport records the deadline of the request it forwards.
type deadlineTransport struct {
	next     http.RoundTripper
	deadline time.Time
	ok       bool
}

func (d *deadlineTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	d.deadline, d.ok = r.Context().Deadline()
	return d.next.RoundTrip(r)
}

// An endpoint that cannot be reached fails the check, and the error does not quote the URL,
// which may hold a token.
func TestHealthCheck_Check_unreachable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	u := srv.URL + "/check?token=s3cret"
	srv.Close()
	err := (&healthCheck{URL: u}).Check(t.Context(), "finance", "img")
	if err == nil {
		t.Fatal("Check() = nil for a closed server")
	}
	if !strings.HasPrefix(err.Error(), "check_url: ") || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), srv.URL) {
		t.Errorf("Check() = %q; want it to say check_url and not the URL", err)
	}
}
