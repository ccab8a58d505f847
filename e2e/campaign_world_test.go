package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/sim"
)

// campaignMutating are the AWS calls after which the campaign may SIGKILL the daemon, before it
// hears the answer (as the crash test does, for the WorkSpaces resets and the mail too).
var campaignMutating = map[string]bool{
	"appstream.UpdateFleet":                          true,
	"appstream.TagResource":                          true,
	"appstream.UntagResource":                        true,
	"application-autoscaling.RegisterScalableTarget": true,
	"workspaces.RebuildWorkspaces":                   true,
	"workspaces.RestoreWorkspace":                    true,
	"sesv2.SendEmail":                                true,
	"ses.SendRawEmail":                               true,
	"ses.SendEmail":                                  true,
}

// campaignWorld is the emulator of a campaign on the wall clock (sped up), served on a fixed
// loopback port by a server that can be shut down and started again on the same port (the
// emulator "restarting": connection refused for a while, its state kept). Its handler watches
// the daemon's calls: it counts them by operation, notes every reset call with its outcome,
// and can kill the daemon right after a mutating call took effect.
type campaignWorld struct {
	tb  testing.TB
	sim *sim.Sim
	// addr is the emulator's host:port, the same across restarts; url is http://addr.
	addr, url string
	// direct serves the emulator to the driver's own AWS calls (seeding, scheduled actions,
	// the final reads), so that they never go through the kill hook and are not counted as the
	// daemon's.
	direct *httptest.Server

	mu       sync.Mutex
	srv      *http.Server // nil while down
	downAt   time.Time
	outages  int
	downFor  time.Duration
	stopOnce sync.Once

	// killArmed asks for a kill right after the next successful mutating call; onKill does it
	// (it blocks until the daemon is dead) and is told which call it followed.
	killArmed atomic.Bool
	onKill    func(op string)

	stats   sync.Mutex
	calls   map[string]int // the daemon's calls by service.Operation
	failed  map[string]int // of which answered with an error status
	resets  []campaignResetCall
	inMails int // SES sends answered 200
}

// campaignResetCall is one RebuildWorkspaces or RestoreWorkspace call the daemon made.
type campaignResetCall struct {
	At        time.Time // the emulator's clock when it was answered
	Op        string
	Workspace string
	// Accepted: HTTP 200 and, for a rebuild, no FailedRequests: the WorkSpace is being reset.
	Accepted bool
	Failure  string // the error code or the FailedRequests' codes
}

func newCampaignWorld(tb testing.TB, opts sim.Options, seed sim.Seed) *campaignWorld {
	tb.Helper()
	s := sim.New(opts)
	if err := s.ApplySeed(seed); err != nil {
		tb.Fatal(err)
	}
	w := &campaignWorld{tb: tb, sim: s, calls: map[string]int{}, failed: map[string]int{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	w.addr = l.Addr().String()
	w.url = "http://" + w.addr
	w.serveOn(l)
	s.SetBaseURL(w.url)
	w.direct = httptest.NewServer(s)
	tb.Cleanup(func() {
		w.mu.Lock()
		if w.srv != nil {
			w.srv.Close()
			w.srv = nil
		}
		w.mu.Unlock()
		w.direct.Close()
	})
	return w
}

func (w *campaignWorld) serveOn(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(w.serve), ErrorLog: nil}
	w.mu.Lock()
	w.srv = srv
	w.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// down stops serving: the port refuses connections and requests in flight lose theirs. The
// emulator's state and clock go on.
func (w *campaignWorld) down() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.srv == nil {
		return
	}
	_ = w.srv.Close()
	w.srv = nil
	w.downAt = time.Now()
	w.outages++
}

// up serves again on the same port.
func (w *campaignWorld) up() error {
	w.mu.Lock()
	if w.srv != nil {
		w.mu.Unlock()
		return nil
	}
	downAt := w.downAt
	w.mu.Unlock()
	var l net.Listener
	var err error
	for range 100 { // the port is ours; a closing socket may hold it for a moment
		if l, err = net.Listen("tcp", w.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("listen again on %s: %w", w.addr, err)
	}
	w.serveOn(l)
	w.mu.Lock()
	w.downFor += time.Since(downAt)
	w.mu.Unlock()
	return nil
}

func (w *campaignWorld) isUp() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.srv != nil
}

// campaignOp names a request as the emulator's call log does (service.Operation), reading the
// form of a query request (and putting its body back).
func campaignOp(r *http.Request) string {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, op, _ := strings.Cut(target, ".")
		service := map[string]string{
			"PhotonAdminProxyService": sim.ServiceAppStream, "AnyScaleFrontendService": sim.ServiceAutoScaling,
			"WorkspacesService": sim.ServiceWorkSpaces,
		}[prefix]
		if service == "" {
			service = "unknown"
		}
		return service + "." + op
	}
	if p, ok := strings.CutPrefix(r.URL.Path, "/v2/email/"); ok {
		if p == "outbound-emails" {
			return sim.ServiceSESv2 + ".SendEmail"
		}
		return sim.ServiceSESv2 + "." + r.Method + " " + p
	}
	if r.Method == http.MethodPost {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		service := map[string]string{"2011-06-15": "sts", "2010-12-01": "ses", "2010-03-31": "sns"}[form.Get("Version")]
		if service == "" {
			service = "unknown"
		}
		return service + "." + form.Get("Action")
	}
	return "unknown." + r.Method
}

func (w *campaignWorld) serve(rw http.ResponseWriter, r *http.Request) {
	op := campaignOp(r)
	var body []byte
	if op == "workspaces.RebuildWorkspaces" || op == "workspaces.RestoreWorkspace" {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	rec := httptest.NewRecorder()
	w.sim.ServeHTTP(rec, r)
	w.note(op, rec, body)
	if campaignMutating[op] && rec.Code < 300 && w.killArmed.CompareAndSwap(true, false) {
		// The call took effect in AWS; the daemon dies before it learns the outcome.
		w.onKill(op)
		panic(http.ErrAbortHandler)
	}
	for k, v := range rec.Header() {
		rw.Header()[k] = v
	}
	rw.WriteHeader(rec.Code)
	_, _ = rw.Write(rec.Body.Bytes())
}

func (w *campaignWorld) note(op string, rec *httptest.ResponseRecorder, body []byte) {
	w.stats.Lock()
	defer w.stats.Unlock()
	w.calls[op]++
	if rec.Code >= 400 {
		w.failed[op]++
	}
	if (op == "sesv2.SendEmail" || strings.HasPrefix(op, "ses.Send")) && rec.Code < 300 {
		w.inMails++
	}
	if body == nil {
		return
	}
	call := campaignResetCall{At: w.sim.Now(), Op: strings.TrimPrefix(op, "workspaces."), Accepted: rec.Code == http.StatusOK}
	var in struct {
		WorkspaceId              string
		RebuildWorkspaceRequests []struct{ WorkspaceId string }
	}
	_ = json.Unmarshal(body, &in)
	call.Workspace = in.WorkspaceId
	if len(in.RebuildWorkspaceRequests) > 0 {
		call.Workspace = in.RebuildWorkspaceRequests[0].WorkspaceId
	}
	if rec.Code != http.StatusOK {
		call.Failure = rec.Header().Get("X-Amzn-ErrorType")
	} else {
		var out struct{ FailedRequests []struct{ ErrorCode string } }
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		for _, f := range out.FailedRequests {
			call.Accepted = false
			call.Failure += f.ErrorCode + " "
		}
	}
	w.resets = append(w.resets, call)
}

// daemonCalls returns the daemon's calls by operation and the failed ones.
func (w *campaignWorld) daemonCalls() (calls, failed map[string]int, total, totalFailed int) {
	w.stats.Lock()
	defer w.stats.Unlock()
	calls, failed = map[string]int{}, map[string]int{}
	for k, v := range w.calls {
		calls[k] = v
		total += v
	}
	for k, v := range w.failed {
		failed[k] = v
		totalFailed += v
	}
	return calls, failed, total, totalFailed
}

func (w *campaignWorld) resetCalls() []campaignResetCall {
	w.stats.Lock()
	defer w.stats.Unlock()
	return append([]campaignResetCall(nil), w.resets...)
}
