package sns

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// handlerEnv is a Handler wired to a certificate server, with OnAlarm and
// Confirm recording what they were given.
type handlerEnv struct {
	t       *testing.T
	srv     *files
	certURL string
	h       *Handler
	seen    *MemorySeen

	mu        sync.Mutex
	alarms    []call
	confirms  []string
	alarmErrs []error // returned by OnAlarm in turn; then nil
}

type call struct {
	MessageID    string
	WorkspaceIDs []string
}

func newHandlerEnv(t *testing.T) *handlerEnv {
	k := testKey(t)
	srv := newFiles(t, map[string][]byte{
		"/cert.pem": certPEM(t, k, now.Add(-time.Hour), now.Add(24*time.Hour)),
		"/confirm":  []byte("<ConfirmSubscriptionResponse/>"),
	})
	e := &handlerEnv{t: t, srv: srv, certURL: srv.URL + "/cert.pem", seen: &MemorySeen{Now: clock}}
	e.h = &Handler{
		Verifier: &Verifier{TrustedCertURLs: []string{e.certURL}, Client: srv.Client(), Now: clock},
		Topics:   []string{"arn:aws:sns:us-east-1:123456789012:other", testTopic},
		Seen:     e.seen,
		Confirm: func(_ context.Context, u string) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.confirms = append(e.confirms, u)
			return nil
		},
		OnAlarm: func(_ context.Context, a Alarm, m Message) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			if len(e.alarmErrs) > 0 {
				err := e.alarmErrs[0]
				e.alarmErrs = e.alarmErrs[1:]
				if err != nil {
					return err
				}
			}
			e.alarms = append(e.alarms, call{m.MessageID, a.WorkspaceIDs})
			return nil
		},
	}
	return e
}

// signed signs m with the test key and certificate.
func (e *handlerEnv) signed(m Message) Message {
	m.SigningCertURL = e.certURL
	sign(e.t, testKey(e.t), &m, "1")
	return m
}

// post delivers body as SNS would, with the x-amz-sns headers of m if given.
func (e *handlerEnv) post(body []byte, m *Message) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/sns", bytes.NewReader(body))
	r.Header.Set("Content-Type", "text/plain; charset=UTF-8")
	r.Header.Set("User-Agent", "Amazon Simple Notification Service Agent")
	if m != nil {
		r.Header.Set("x-amz-sns-message-type", m.Type)
		r.Header.Set("x-amz-sns-message-id", m.MessageID)
		r.Header.Set("x-amz-sns-topic-arn", m.TopicArn)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func (e *handlerEnv) deliver(m Message) *httptest.ResponseRecorder {
	return e.post(encode(m), &m)
}

func (e *handlerEnv) acted() ([]call, []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]call(nil), e.alarms...), append([]string(nil), e.confirms...)
}

func TestHandler_ServeHTTP(t *testing.T) {
	okState := strings.Replace(sampleAlarm, `"NewStateValue": "ALARM"`, `"NewStateValue": "OK"`, 1)
	awsSubscribe := "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + testTopic + "&Token=2336412f37"

	tests := []struct {
		name     string
		send     func(e *handlerEnv) *httptest.ResponseRecorder
		code     int
		alarms   []call
		confirms []string
	}{
		{
			name: "alarm",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				return e.deliver(e.signed(notification("n1", sampleAlarm)))
			},
			code:   http.StatusOK,
			alarms: []call{{"n1", []string{wsID}}},
		},
		{
			name: "metric-math alarm, v2, no headers, no subject",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				m := notification("n1", mathAlarm)
				m.Subject, m.hasSubject = "", false
				m.SigningCertURL = e.certURL
				sign(t, testKey(t), &m, "2")
				return e.post(encode(m), nil)
			},
			code:   http.StatusOK,
			alarms: []call{{"n1", []string{"ws-aaaaaaaa1", "ws-bbbbbbbb2"}}},
		},
		{
			name: "OK state acknowledged, not acted on",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				return e.deliver(e.signed(notification("n1", okState)))
			},
			code: http.StatusOK,
		},
		{
			name: "GET",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				w := httptest.NewRecorder()
				e.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/sns", nil))
				if got := w.Header().Get("Allow"); got != "POST" {
					t.Errorf("Allow = %q", got)
				}
				return w
			},
			code: http.StatusMethodNotAllowed,
		},
		{
			name: "PUT of a valid message",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				w := httptest.NewRecorder()
				e.h.ServeHTTP(w, httptest.NewRequest(http.MethodPut, "/sns", bytes.NewReader(encode(e.signed(notification("n1", sampleAlarm))))))
				return w
			},
			code: http.StatusMethodNotAllowed,
		},
		{
			name: "huge body",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				return e.post(bytes.Repeat([]byte(" "), MaxBodyBytes+1), nil)
			},
			code: http.StatusRequestEntityTooLarge,
		},
		{
			name: "huge body, length unknown",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				r := httptest.NewRequest(http.MethodPost, "/sns", bytes.NewReader(bytes.Repeat([]byte(" "), MaxBodyBytes+1)))
				r.ContentLength = -1
				w := httptest.NewRecorder()
				e.h.ServeHTTP(w, r)
				return w
			},
			code: http.StatusRequestEntityTooLarge,
		},
		{
			name: "malformed JSON",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				return e.post([]byte(`{"Type": "Notification",`), nil)
			},
			code: http.StatusBadRequest,
		},
		{
			name: "empty body",
			send: func(e *handlerEnv) *httptest.ResponseRecorder { return e.post(nil, nil) },
			code: http.StatusBadRequest,
		},
		{
			name: "type header disagrees",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				m := e.signed(notification("n1", sampleAlarm))
				h := m
				h.Type = TypeSubscriptionConfirmation
				return e.post(encode(m), &h)
			},
			code: http.StatusBadRequest,
		},
		{
			name: "message id header disagrees",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				m := e.signed(notification("n1", sampleAlarm))
				h := m
				h.MessageID = "n2"
				return e.post(encode(m), &h)
			},
			code: http.StatusBadRequest,
		},
		{
			name: "forged",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				m := e.signed(notification("n1", sampleAlarm))
				m.Message = strings.Replace(m.Message, wsID, "ws-aaaaaaaa9", 2)
				return e.deliver(m)
			},
			code: http.StatusForbidden,
		},
		{
			name: "subject stripped (moto)",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				m := e.signed(notification("n1", sampleAlarm))
				m.Subject, m.hasSubject = "", false
				return e.deliver(m)
			},
			code: http.StatusForbidden,
		},
		{
			name: "unsigned",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				return e.deliver(notification("n1", sampleAlarm))
			},
			code: http.StatusForbidden,
		},
		{
			name: "certificate on an untrusted server",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				other := newHandlerEnv(t)
				m := other.signed(notification("n1", sampleAlarm))
				return e.deliver(m)
			},
			code: http.StatusForbidden,
		},
		{
			name: "stale",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				return e.deliver(e.signed(withTimestamp(notification("n1", sampleAlarm), now.Add(-2*time.Hour))))
			},
			code: http.StatusForbidden,
		},
		{
			name: "wrong topic",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				m := notification("n1", sampleAlarm)
				m.TopicArn = "arn:aws:sns:us-east-1:123456789012:someone-elses"
				return e.deliver(e.signed(m))
			},
			code: http.StatusForbidden,
		},
		{
			name: "signed, but not an alarm",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				return e.deliver(e.signed(notification("n1", "hello")))
			},
			code: http.StatusBadRequest,
		},
		{
			name: "alarm without WorkspaceId",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				doc := strings.Replace(sampleAlarm, `"name": "WorkspaceId"`, `"name": "DirectoryId"`, 1)
				return e.deliver(e.signed(notification("n1", doc)))
			},
			code: http.StatusBadRequest,
		},
		{
			name: "subscription confirmation",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				return e.deliver(e.signed(confirmation("c1", awsSubscribe)))
			},
			code:     http.StatusOK,
			confirms: []string{awsSubscribe},
		},
		{
			name: "subscription confirmation for another topic",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				m := confirmation("c1", awsSubscribe)
				m.TopicArn = "arn:aws:sns:us-east-1:123456789012:someone-elses"
				return e.deliver(e.signed(m))
			},
			code: http.StatusForbidden,
		},
		{
			name: "forged subscription confirmation",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				m := e.signed(confirmation("c1", awsSubscribe))
				m.Token = "forged"
				return e.deliver(m)
			},
			code: http.StatusForbidden,
		},
		{
			name: "subscription confirmation with an evil SubscribeURL",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				return e.deliver(e.signed(confirmation("c1", "https://sns.us-east-1.amazonaws.com.evil.com/?Action=ConfirmSubscription")))
			},
			code: http.StatusForbidden,
		},
		{
			name: "unsubscribe confirmation",
			send: func(e *handlerEnv) *httptest.ResponseRecorder {
				m := confirmation("u1", awsSubscribe)
				m.Type = TypeUnsubscribeConfirmation
				return e.deliver(e.signed(m))
			},
			code: http.StatusOK,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newHandlerEnv(t)
			w := tt.send(e)
			if w.Code != tt.code {
				t.Errorf("status %d (%q), want %d", w.Code, w.Body.String(), tt.code)
			}
			alarms, confirms := e.acted()
			if diff := cmp.Diff(tt.alarms, alarms); diff != "" {
				t.Errorf("OnAlarm calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.confirms, confirms); diff != "" {
				t.Errorf("Confirm calls (-want +got):\n%s", diff)
			}
			if tt.code != http.StatusOK && e.seen.Len() != 0 {
				t.Errorf("a refused message was recorded in Seen")
			}
		})
	}
}

// A replayed message is acknowledged and not acted on again.
func TestHandler_ServeHTTP_replay(t *testing.T) {
	e := newHandlerEnv(t)
	m := e.signed(notification("n1", sampleAlarm))
	for i := range 3 {
		if w := e.deliver(m); w.Code != http.StatusOK {
			t.Fatalf("delivery %d: status %d", i+1, w.Code)
		}
	}
	// The same message ID with another (genuine) body is still a replay.
	m2 := e.signed(notification("n1", mathAlarm))
	if w := e.deliver(m2); w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	alarms, _ := e.acted()
	if diff := cmp.Diff([]call{{"n1", []string{wsID}}}, alarms); diff != "" {
		t.Errorf("OnAlarm calls (-want +got):\n%s", diff)
	}
	// Another message is acted on.
	if w := e.deliver(e.signed(notification("n2", sampleAlarm))); w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if alarms, _ := e.acted(); len(alarms) != 2 {
		t.Errorf("%d OnAlarm calls, want 2", len(alarms))
	}
}

// Concurrent deliveries of one message act once.
func TestHandler_ServeHTTP_concurrentDuplicates(t *testing.T) {
	e := newHandlerEnv(t)
	m := e.signed(notification("n1", sampleAlarm))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if w := e.deliver(m); w.Code != http.StatusOK {
				t.Errorf("status %d", w.Code)
			}
		})
	}
	wg.Wait()
	if alarms, _ := e.acted(); len(alarms) != 1 {
		t.Errorf("%d OnAlarm calls, want 1", len(alarms))
	}
}

// When OnAlarm fails the answer is 500 and SNS's retry of the same message
// acts; once it has succeeded, further retries do not.
func TestHandler_ServeHTTP_onAlarmFails(t *testing.T) {
	e := newHandlerEnv(t)
	e.alarmErrs = []error{errors.New("store down"), errors.New("store still down")}
	m := e.signed(notification("n1", sampleAlarm))
	for i, want := range []int{500, 500, 200, 200} {
		if w := e.deliver(m); w.Code != want {
			t.Fatalf("delivery %d: status %d, want %d", i+1, w.Code, want)
		}
	}
	alarms, _ := e.acted()
	if diff := cmp.Diff([]call{{"n1", []string{wsID}}}, alarms); diff != "" {
		t.Errorf("successful OnAlarm calls (-want +got):\n%s", diff)
	}
}

// failingSeen is a Seen whose store is down.
type failingSeen struct{ forgets int }

func (*failingSeen) SeenBefore(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("database is locked")
}
func (f *failingSeen) Forget(context.Context, string) error { f.forgets++; return nil }

func TestHandler_ServeHTTP_seenFails(t *testing.T) {
	e := newHandlerEnv(t)
	e.h.Seen = &failingSeen{}
	if w := e.deliver(e.signed(notification("n1", sampleAlarm))); w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", w.Code)
	}
	if alarms, _ := e.acted(); len(alarms) != 0 {
		t.Errorf("OnAlarm called without a record: %v", alarms)
	}
}

// The default Confirm GETs the SubscribeURL when it is on a trusted host, and
// never fetches one elsewhere.
func TestHandler_ServeHTTP_defaultConfirm(t *testing.T) {
	e := newHandlerEnv(t)
	e.h.Confirm = nil
	evil := newFiles(t, map[string][]byte{"/": []byte("ok")})

	good := e.srv.URL + "/confirm?Action=ConfirmSubscription&Token=x"
	if w := e.deliver(e.signed(confirmation("c1", good))); w.Code != http.StatusOK {
		t.Fatalf("status %d (%s)", w.Code, w.Body)
	}
	if n := e.srv.count("/confirm"); n != 1 {
		t.Errorf("confirmation URL fetched %d times, want 1", n)
	}
	// A replayed confirmation is not fetched again.
	if w := e.deliver(e.signed(confirmation("c1", good))); w.Code != http.StatusOK {
		t.Fatalf("status %d (%s)", w.Code, w.Body)
	}
	if n := e.srv.count("/confirm"); n != 1 {
		t.Errorf("confirmation URL fetched %d times, want 1", n)
	}

	for _, u := range []string{
		evil.URL + "/?Action=ConfirmSubscription",
		strings.Replace(evil.URL, "http://", "http://user@", 1) + "/",
		"https://sns.us-east-1.amazonaws.com@" + strings.TrimPrefix(evil.URL, "http://") + "/",
	} {
		if w := e.deliver(e.signed(confirmation("c2", u))); w.Code != http.StatusForbidden {
			t.Errorf("SubscribeURL %s: status %d, want 403", u, w.Code)
		}
	}
	if n := evil.total.Load(); n != 0 {
		t.Errorf("evil SubscribeURL fetched %d times", n)
	}

	// A confirmation that fails is answered 500 and can be retried.
	bad := e.srv.URL + "/missing?Action=ConfirmSubscription"
	if w := e.deliver(e.signed(confirmation("c3", bad))); w.Code != http.StatusInternalServerError {
		t.Errorf("failed confirmation: status %d, want 500", w.Code)
	}
	e.srv.set("/missing", []byte("ok"))
	if w := e.deliver(e.signed(confirmation("c3", bad))); w.Code != http.StatusOK {
		t.Errorf("retried confirmation: status %d, want 200", w.Code)
	}
}

// The zero Handler refuses everything and acts on nothing; in particular it
// cannot be talked into trusting the emulator's certificate.
func TestHandler_ServeHTTP_zero(t *testing.T) {
	e := newHandlerEnv(t)
	m := e.signed(notification("n1", sampleAlarm))

	var h Handler
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(encode(m))))
	if w.Code != http.StatusForbidden {
		t.Errorf("zero Handler: status %d, want 403", w.Code)
	}

	h2 := Handler{Topics: []string{testTopic}, OnAlarm: e.h.OnAlarm}
	w = httptest.NewRecorder()
	h2.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(encode(m))))
	if w.Code != http.StatusForbidden {
		t.Errorf("Handler without a Verifier: status %d, want 403", w.Code)
	}
	if alarms, _ := e.acted(); len(alarms) != 0 {
		t.Errorf("OnAlarm called: %v", alarms)
	}
}

// An unreachable certificate is 503, so SNS retries; nothing is recorded.
func TestHandler_ServeHTTP_certUnreachable(t *testing.T) {
	e := newHandlerEnv(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/cert.pem"
	dead.Close()
	e.h.Verifier.TrustedCertURLs = append(e.h.Verifier.TrustedCertURLs, deadURL)
	m := notification("n1", sampleAlarm)
	m.SigningCertURL = deadURL
	sign(t, testKey(t), &m, "1")
	if w := e.deliver(m); w.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", w.Code)
	}
	if e.seen.Len() != 0 {
		t.Error("message recorded")
	}
}
