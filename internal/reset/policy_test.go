package reset

import (
	"strings"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/history"
)

var t0 = time.Date(2026, 11, 23, 17, 0, 0, 0, time.UTC)

func TestSelection_ModeFor(t *testing.T) {
	s := Selection{TagKey: "deskpilot:reset", Mode: Rebuild, Directories: []string{"d-1234567890"}, Users: []string{"kiosk-*"}}
	ws := WorkSpace{ID: "ws-1", DirectoryID: "d-1234567890", UserName: "kiosk-07"}
	tests := []struct {
		name string
		ws   WorkSpace
		tags map[string]string
		want Mode
	}{
		{"tag rebuild", WorkSpace{}, map[string]string{"deskpilot:reset": "rebuild"}, Rebuild},
		{"tag restore any case", WorkSpace{}, map[string]string{"deskpilot:reset": " Restore "}, Restore},
		{"tag off opts a selected one out", ws, map[string]string{"deskpilot:reset": "off"}, Off},
		{"unknown tag value is off", ws, map[string]string{"deskpilot:reset": "yes"}, Off},
		{"selected by directory and user pattern", ws, nil, Rebuild},
		{"user not matching", WorkSpace{DirectoryID: "d-1234567890", UserName: "alice"}, nil, Off},
		{"directory not matching", WorkSpace{DirectoryID: "d-0000000000", UserName: "kiosk-1"}, nil, Off},
	}
	for _, tt := range tests {
		if got, why := s.ModeFor(tt.ws, tt.tags); got != tt.want {
			t.Errorf("%s: %s (%s), want %s", tt.name, got, why, tt.want)
		}
	}
	if got, _ := (Selection{TagKey: "k", Mode: Rebuild}).ModeFor(ws, nil); got != Off {
		t.Errorf("empty selectors chose %s", got)
	}
}

func TestObserve(t *testing.T) {
	grace := 15 * time.Minute
	base := Tracked{ID: "ws-1", Mode: Rebuild, Phase: Idle, LastState: "CONNECTED", LastConnected: t0.Add(-time.Hour), HandledLogon: t0.Add(-2 * time.Hour)}
	conn := func(state string, last time.Time) Connection {
		return Connection{ID: "ws-1", State: state, LastConnected: last}
	}
	tests := []struct {
		name      string
		tracked   Tracked
		conn      Connection
		wantPhase Phase
		wantRec   string
	}{
		{"connected stays idle", base, conn("CONNECTED", base.LastConnected), Idle, ""},
		{"disconnect starts the grace", base, conn("DISCONNECTED", base.LastConnected), Grace, "logoff"},
		{"stopped (UNKNOWN) after connected is a logoff", base, conn("UNKNOWN", base.LastConnected), Grace, "logoff"},
		{"short session between two polls", func() Tracked { b := base; b.LastState = "DISCONNECTED"; b.HandledLogon = b.LastConnected; return b }(),
			conn("DISCONNECTED", t0.Add(-time.Minute)), Grace, "logoff"},
		{"already handled session", func() Tracked { b := base; b.LastState = "DISCONNECTED"; b.HandledLogon = b.LastConnected; return b }(),
			conn("DISCONNECTED", base.LastConnected), Idle, ""},
		{"reconnect cancels the grace", func() Tracked { b := base; b.Phase = Grace; b.DueAt = t0.Add(time.Minute); return b }(),
			conn("CONNECTED", t0), Idle, "cancelled"},
		{"not opted in: never", func() Tracked { b := base; b.Mode = Off; return b }(), conn("DISCONNECTED", base.LastConnected), Idle, ""},
		{"first sight: baseline, never a logoff", func() Tracked { b := base; b.LastState = ""; b.HandledLogon = time.Time{}; return b }(), conn("DISCONNECTED", base.LastConnected), Idle, ""},
		{"a session between two polls during the grace restarts it", func() Tracked {
			b := base
			b.Phase, b.PendingLogon, b.DueAt, b.LastState = Grace, b.LastConnected, t0.Add(time.Minute), "DISCONNECTED"
			return b
		}(), conn("DISCONNECTED", t0.Add(-30*time.Second)), Grace, "logoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rec := Observe(tt.tracked, tt.conn, t0, grace)
			if got.Phase != tt.wantPhase {
				t.Errorf("phase %s, want %s", got.Phase, tt.wantPhase)
			}
			if (rec == nil) != (tt.wantRec == "") || (rec != nil && rec.Outcome != tt.wantRec) {
				t.Errorf("record %+v, want outcome %q", rec, tt.wantRec)
			}
			if got.Phase == Grace && (!got.DueAt.Equal(t0.Add(grace)) || got.PendingLogon.IsZero()) {
				t.Errorf("grace: due %v pending %v", got.DueAt, got.PendingLogon)
			}
		})
	}
}

func TestBaseline_IgnoresSessionsBeforeDeskpilot(t *testing.T) {
	tr := Baseline(WorkSpace{ID: "ws-1"}, Connection{State: "DISCONNECTED", LastConnected: t0.Add(-time.Hour)})
	tr.Mode = Rebuild
	if got, rec := Observe(tr, Connection{State: "DISCONNECTED", LastConnected: t0.Add(-time.Hour)}, t0, time.Minute); got.Phase != Idle || rec != nil {
		t.Errorf("a session that ended before deskpilot started triggered a reset: %+v", got)
	}
}

func TestDecide(t *testing.T) {
	due := Tracked{ID: "ws-1", Mode: Rebuild, Phase: Grace, DueAt: t0, PendingLogon: t0.Add(-time.Hour), DisconnectedAt: t0.Add(-15 * time.Minute), UserName: "alice"}
	check := func(edit func(*Check)) Check {
		c := Check{Now: t0, WS: WorkSpace{ID: "ws-1", State: "AVAILABLE", IPAddress: "10.0.0.5"}, Found: true, Conn: Connection{State: "DISCONNECTED"}, Mode: Rebuild, Grace: 15 * time.Minute,
			SnapshotsRead: true, Snapshot: t0.Add(-5 * time.Hour), MaxSnapshotWait: 13 * time.Hour}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	tests := []struct {
		name      string
		tracked   Tracked
		check     Check
		wantAct   bool
		wantPhase Phase
		wantRec   string
	}{
		{"reset", due, check(nil), true, Resetting, ""},
		{"user back at the re-check", due, check(func(c *Check) { c.Conn.State = "CONNECTED" }), false, Idle, "cancelled"},
		{"opted out meanwhile", due, check(func(c *Check) { c.Mode = Off }), false, Idle, "skipped"},
		{"gone", due, check(func(c *Check) { c.Found = false }), false, Idle, "skipped"},
		{"already rebuilding", due, check(func(c *Check) { c.WS.State = "REBUILDING" }), false, Idle, "skipped"},
		{"stopped is allowed", due, check(func(c *Check) { c.WS.State = "STOPPED" }), true, Resetting, ""},
		{"transitional waits", due, check(func(c *Check) { c.WS.State = "STARTING" }), false, Grace, ""},
		{"restore not in REBOOTING", func() Tracked { d := due; d.Mode = Restore; return d }(), check(func(c *Check) { c.Mode = Restore; c.WS.State = "REBOOTING" }), false, Grace, ""},
		{"quiet hours wait", due, check(func(c *Check) { c.QuietUntil = t0.Add(time.Hour) }), false, Grace, ""},
		{"UNKNOWN on a running WorkSpace waits", due, check(func(c *Check) { c.Conn.State = "UNKNOWN" }), false, Grace, ""},
		{"no connection answer waits", due, check(func(c *Check) { c.Conn = Connection{} }), false, Grace, ""},
		{"UNKNOWN because stopped is a logoff", due, check(func(c *Check) { c.Conn.State = "UNKNOWN"; c.WS.State = "STOPPED" }), true, Resetting, ""},
		{"a newer session restarts the grace", due, check(func(c *Check) { c.Conn.LastConnected = t0.Add(-time.Minute) }), false, Grace, "logoff"},
		{"busy waits", due, check(func(c *Check) { c.Busy = "max" }), false, Grace, ""},
		{"snapshots not read: never acts", due, check(func(c *Check) { c.SnapshotsRead = false }), false, Grace, ""},
		{"a snapshot before the logoff is enough unless required", due, check(nil), true, Resetting, ""},
		{"required and newer than the logoff", due, check(func(c *Check) { c.RequireSnapshot = true; c.Snapshot = t0.Add(-time.Minute) }), true, Resetting, ""},
		{"required, at the logoff is not newer", due, check(func(c *Check) { c.RequireSnapshot = true; c.Snapshot = due.DisconnectedAt }), false, Grace, ""},
		{"required, waiting past max_snapshot_wait: skipped", due, check(func(c *Check) { c.RequireSnapshot = true; c.Now = due.DisconnectedAt.Add(13 * time.Hour) }), false, Idle, "skipped"},
		{"no snapshot yet (young): waits even unrequired", due, check(func(c *Check) { c.Snapshot = time.Time{} }), false, Grace, ""},
		{"no snapshot past max_snapshot_wait: skipped", due, check(func(c *Check) { c.Snapshot = time.Time{}; c.Now = due.DisconnectedAt.Add(13 * time.Hour) }), false, Idle, "skipped"},
		{"restore uses its own snapshot, the same rules", func() Tracked { d := due; d.Mode = Restore; return d }(), check(func(c *Check) { c.Mode = Restore; c.Snapshot = time.Time{} }), false, Grace, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, act, rec := Decide(tt.tracked, tt.check, time.Minute)
			if act != tt.wantAct || got.Phase != tt.wantPhase {
				t.Fatalf("act %v phase %s, want %v %s", act, got.Phase, tt.wantAct, tt.wantPhase)
			}
			if (rec == nil) != (tt.wantRec == "") || (rec != nil && rec.Outcome != tt.wantRec) {
				t.Errorf("record %+v, want %q", rec, tt.wantRec)
			}
			if act && got.IPBefore != "10.0.0.5" {
				t.Errorf("IPBefore %q not recorded before the call", got.IPBefore)
			}
			if got.Phase == Idle && tt.wantRec == "skipped" && !got.HandledLogon.Equal(due.PendingLogon) {
				t.Error("a skipped logoff is not marked handled")
			}
			if tt.check.QuietUntil.After(t0) && !got.DueAt.Equal(tt.check.QuietUntil) {
				t.Errorf("due %v, want the end of the quiet hours", got.DueAt)
			}
		})
	}
}

// The waits for a snapshot: when the next look is, and that the reason is kept.
func TestDecide_snapshotWaits(t *testing.T) {
	logoff := t0.Add(-15 * time.Minute)
	due := Tracked{ID: "ws-1", Mode: Rebuild, Phase: Grace, DueAt: t0, PendingLogon: t0.Add(-time.Hour), DisconnectedAt: logoff}
	base := Check{Now: t0, WS: WorkSpace{ID: "ws-1", State: "AVAILABLE"}, Found: true, Conn: Connection{State: "DISCONNECTED"}, Mode: Rebuild,
		Grace: 15 * time.Minute, SnapshotsRead: true, RequireSnapshot: true, MaxSnapshotWait: 13 * time.Hour}
	tests := []struct {
		name    string
		edit    func(*Check)
		wantDue time.Time
		wantWhy string
	}{
		{"the next snapshot is due 12 hours after the latest", func(c *Check) { c.Snapshot = t0.Add(-5 * time.Hour) }, t0.Add(7 * time.Hour), "newer than the logoff"},
		{"the expected one is late: look again shortly", func(c *Check) { c.Snapshot = t0.Add(-12 * time.Hour) }, t0.Add(10 * time.Minute), "newer than the logoff"},
		{"never past the deadline", func(c *Check) { c.Snapshot = t0.Add(-20 * time.Minute); c.MaxSnapshotWait = 2 * time.Hour }, logoff.Add(2 * time.Hour), "newer than the logoff"},
		{"no snapshot yet: look again shortly, saying why", func(c *Check) { c.Snapshot = time.Time{} }, t0.Add(10 * time.Minute), "no snapshot yet"},
		{"no snapshot yet, near the deadline", func(c *Check) { c.Snapshot = time.Time{}; c.Now = logoff.Add(13*time.Hour - time.Minute) }, logoff.Add(13 * time.Hour), "first 12 hours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := base
			tt.edit(&ch)
			got, act, rec := Decide(due, ch, time.Minute)
			if act || rec != nil || got.Phase != Grace {
				t.Fatalf("act %v record %+v phase %s, want a wait", act, rec, got.Phase)
			}
			if !got.DueAt.Equal(tt.wantDue) {
				t.Errorf("next look at %v, want %v", got.DueAt, tt.wantDue)
			}
			if !strings.Contains(got.Waiting, tt.wantWhy) {
				t.Errorf("waiting %q, want it to say %q", got.Waiting, tt.wantWhy)
			}
		})
	}
	// Once the snapshot is there the reset acts and the reason is gone.
	waiting, _, _ := Decide(due, func() Check { c := base; c.Snapshot = t0.Add(-5 * time.Hour); return c }(), time.Minute)
	ch := base
	ch.Snapshot, ch.Now = t0.Add(7*time.Hour), t0.Add(7*time.Hour)
	got, act, _ := Decide(waiting, ch, time.Minute)
	if !act || got.Waiting != "" {
		t.Errorf("with a snapshot after the logoff: act %v waiting %q", act, got.Waiting)
	}
	// The user coming back during the wait cancels the reset, saying it was waiting.
	waiting.LastState = "DISCONNECTED"
	back, rec := Observe(waiting, Connection{ID: "ws-1", State: "CONNECTED", LastConnected: t0.Add(time.Hour)}, t0.Add(time.Hour), 15*time.Minute)
	if back.Phase != Idle || back.Waiting != "" || rec == nil || rec.Outcome != string(history.Cancelled) || !strings.Contains(rec.Reason, "waited") {
		t.Errorf("reconnect during the wait: %+v %+v", back, rec)
	}
}

func TestMaintenanceFrom(t *testing.T) {
	for state, want := range map[string]bool{"AVAILABLE": true, "STOPPED": true, "ERROR": false, "UNHEALTHY": false, "REBOOTING": false, "ADMIN_MAINTENANCE": false} {
		if got := MaintenanceFrom(state); got != want {
			t.Errorf("MaintenanceFrom(%s) = %v, want %v", state, got, want)
		}
	}
}

func TestRelease(t *testing.T) {
	held := Tracked{ID: "ws-1", Mode: Rebuild, Phase: Resetting, Maintenance: true, PendingLogon: t0.Add(-time.Hour), DueAt: t0.Add(-time.Minute)}
	idle := held
	idle.Phase = Idle
	tests := []struct {
		name      string
		tracked   Tracked
		ws        WorkSpace
		found     bool
		wantCall  bool
		wantPhase Phase
	}{
		{"held while resetting: put back, the reset is due again", held, WorkSpace{State: "ADMIN_MAINTENANCE"}, true, true, Grace},
		{"held after a cancelled reset: put back", idle, WorkSpace{State: "ADMIN_MAINTENANCE"}, true, true, Idle},
		{"already back: mark dropped, nothing to call", held, WorkSpace{State: "AVAILABLE"}, true, false, Resetting},
		{"rebuilding: mark dropped, nothing to call", held, WorkSpace{State: "REBUILDING"}, true, false, Resetting},
		{"gone: mark dropped", held, WorkSpace{}, false, false, Resetting},
		{"an admin's own maintenance is never touched", func() Tracked { n := idle; n.Maintenance = false; return n }(), WorkSpace{State: "ADMIN_MAINTENANCE"}, true, false, Idle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, call := Release(tt.tracked, tt.ws, tt.found, t0)
			if call != tt.wantCall || got.Phase != tt.wantPhase || got.Maintenance {
				t.Errorf("call %v phase %s maintenance %v, want %v %s false", call, got.Phase, got.Maintenance, tt.wantCall, tt.wantPhase)
			}
			if tt.wantPhase == Grace && !got.DueAt.Equal(t0) {
				t.Errorf("due %v, want now", got.DueAt)
			}
		})
	}
}

func TestRecover(t *testing.T) {
	tr := Tracked{ID: "ws-1", Mode: Rebuild, Phase: Resetting, IPBefore: "10.0.0.5", PendingLogon: t0}
	restore := tr
	restore.Mode = Restore
	tests := []struct {
		name    string
		tracked Tracked
		ws      WorkSpace
		found   bool
		want    Phase
		wantRec string
	}{
		{"rebuilding: the call went through", tr, WorkSpace{State: "REBUILDING", IPAddress: "10.0.0.5"}, true, InFlight, "reset"},
		{"new IP: it went through and finished", tr, WorkSpace{State: "AVAILABLE", IPAddress: "10.0.0.9"}, true, InFlight, "reset"},
		{"same IP, available: due again, every check made anew", tr, WorkSpace{State: "AVAILABLE", IPAddress: "10.0.0.5"}, true, Grace, ""},
		{"no IP known: due again", tr, WorkSpace{State: "AVAILABLE"}, true, Grace, ""},
		{"restore cannot be told: not repeated", restore, WorkSpace{State: "AVAILABLE", IPAddress: "10.0.0.5"}, true, Idle, "failed"},
		{"gone", tr, WorkSpace{}, false, Idle, "skipped"},
	}
	for _, tt := range tests {
		got, rec := Recover(tt.tracked, tt.ws, tt.found, t0)
		if got.Phase != tt.want || (rec == nil) != (tt.wantRec == "") || (rec != nil && rec.Outcome != tt.wantRec) {
			t.Errorf("%s: phase %s record %+v, want %s %q", tt.name, got.Phase, rec, tt.want, tt.wantRec)
		}
		if got.Phase == Grace && !got.DueAt.Equal(t0) {
			t.Errorf("%s: due %v, want now", tt.name, got.DueAt)
		}
	}
}

// A logoff is timed when it was observed, or at the start of the session that ended when AWS's
// clock puts that later: never earlier than it can have happened. The grace and the record
// both count from that time.
func TestObserve_logoffNeverTimedBeforeItHappened(t *testing.T) {
	grace := 5 * time.Second
	connected := Tracked{ID: "ws-1", Mode: Rebuild, Phase: Idle, LastState: "CONNECTED", LastConnected: t0.Add(-time.Hour), HandledLogon: t0.Add(-2 * time.Hour)}
	inGrace := connected
	inGrace.Phase, inGrace.LastState, inGrace.PendingLogon, inGrace.DueAt = Grace, "DISCONNECTED", connected.LastConnected, t0.Add(time.Second)
	tests := []struct {
		name    string
		tracked Tracked
		logon   time.Time
		want    time.Time
	}{
		{"observed after the session began", connected, t0.Add(-time.Minute), t0},
		{"session stamped after our clock", connected, t0.Add(2 * time.Second), t0.Add(2 * time.Second)},
		{"a session between polls, stamped after our clock", inGrace, t0.Add(3 * time.Second), t0.Add(3 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rec := Observe(tt.tracked, Connection{ID: "ws-1", State: "DISCONNECTED", LastConnected: tt.logon}, t0, grace)
			if rec == nil || rec.Outcome != string(history.Logoff) {
				t.Fatalf("record %+v, want a logoff", rec)
			}
			if !got.DisconnectedAt.Equal(tt.want) || !got.DueAt.Equal(tt.want.Add(grace)) || !rec.At.Equal(tt.want) {
				t.Errorf("logoff at %v, due %v, recorded at %v; want %v, due %v", got.DisconnectedAt, got.DueAt, rec.At, tt.want, tt.want.Add(grace))
			}
		})
	}
}

func TestDecide_newerSessionTimedNeverBeforeItHappened(t *testing.T) {
	due := Tracked{ID: "ws-1", Mode: Rebuild, Phase: Grace, DueAt: t0, PendingLogon: t0.Add(-time.Hour)}
	ch := Check{Now: t0, WS: WorkSpace{ID: "ws-1", State: "AVAILABLE"}, Found: true, Mode: Rebuild, Grace: 5 * time.Second,
		Conn: Connection{State: "DISCONNECTED", LastConnected: t0.Add(2 * time.Second)}} // AWS's clock is ahead
	got, act, rec := Decide(due, ch, time.Minute)
	if act || rec == nil || rec.Outcome != string(history.Logoff) {
		t.Fatalf("act %v record %+v, want the grace started over", act, rec)
	}
	if want := t0.Add(2 * time.Second); !got.DisconnectedAt.Equal(want) || !got.DueAt.Equal(want.Add(5*time.Second)) || !rec.At.Equal(want) {
		t.Errorf("logoff at %v due %v recorded at %v; want %v due %v", got.DisconnectedAt, got.DueAt, rec.At, want, want.Add(5*time.Second))
	}
}

func TestFollow(t *testing.T) {
	inflight := Tracked{ID: "ws-1", Mode: Rebuild, Phase: InFlight, PendingLogon: t0.Add(-time.Hour), HandledLogon: t0.Add(-time.Hour)}
	kicked := Connection{ID: "ws-1", State: "DISCONNECTED", LastConnected: t0.Add(-time.Second)} // logged on just before the call
	tests := []struct {
		name        string
		conn        Connection
		ws          WorkSpace
		found       bool
		wantPhase   Phase
		wantHandled time.Time
	}{
		{"rebuilding: the session it ended is handled", kicked, WorkSpace{State: "REBUILDING"}, true, InFlight, kicked.LastConnected},
		{"restoring: the same", kicked, WorkSpace{State: "RESTORING"}, true, InFlight, kicked.LastConnected},
		{"pending: the same", kicked, WorkSpace{State: "PENDING"}, true, InFlight, kicked.LastConnected},
		{"no connection answer: nothing learnt", Connection{}, WorkSpace{State: "REBUILDING"}, true, InFlight, inflight.HandledLogon},
		{"an older session changes nothing", Connection{State: "DISCONNECTED", LastConnected: t0.Add(-2 * time.Hour)}, WorkSpace{State: "REBUILDING"}, true, InFlight, inflight.HandledLogon},
		// Once it is usable a new session may have begun; its end is a logoff.
		{"available again: over, the session seen is not marked", kicked, WorkSpace{State: "AVAILABLE"}, true, Idle, inflight.HandledLogon},
		{"gone: over", Connection{}, WorkSpace{}, false, Idle, inflight.HandledLogon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Follow(inflight, tt.conn, tt.ws, tt.found)
			if got.Phase != tt.wantPhase || !got.HandledLogon.Equal(tt.wantHandled) {
				t.Errorf("phase %s handled %v, want %s %v", got.Phase, got.HandledLogon, tt.wantPhase, tt.wantHandled)
			}
		})
	}
	// The session the reset ended never counts as a logoff once the reset is over.
	n := Follow(inflight, kicked, WorkSpace{State: "REBUILDING"}, true)
	n = Follow(n, kicked, WorkSpace{State: "AVAILABLE"}, true)
	n.LastState = "DISCONNECTED"
	if got, rec := Observe(n, kicked, t0.Add(time.Hour), time.Minute); got.Phase != Idle || rec != nil {
		t.Errorf("the session the reset ended became a logoff: %+v %+v", got, rec)
	}
}
