package rollout

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/internal/notice"
)

// The notices of a rollout. Each has a stable ID so that enqueueing it again (after a restart)
// is a no-op and receivers can recognise a resend. The domain mints the ID from what it knows
// before the store does (the image and the rollout's creation time, not the store's row id),
// so a notice is committed in the same transaction as the rollout it announces.

func noticeID(r Rollout, what string) string {
	sum := sha256.Sum256([]byte(r.ImageARN))
	return "rollout/" + hex.EncodeToString(sum[:4]) + "." + strconv.FormatInt(r.CreatedAt.UnixMilli(), 36) + "/" + what
}

func fleetsOf(r Rollout) string {
	names := make([]string, 0, len(r.Steps))
	for _, s := range r.Steps {
		names = append(names, s.Fleet)
	}
	return strings.Join(names, ", ")
}

func utc(t time.Time) string { return t.UTC().Format("Mon 2006-01-02 15:04 MST") }

// windowFields shows each distinct window opening in UTC and in the window's own zone.
func windowFields(r Rollout, zoneOf func(fleet string) *time.Location) []notice.Field {
	type span struct{ start, end time.Time }
	seen := map[span]bool{}
	var fields []notice.Field
	for _, s := range r.Steps {
		sp := span{s.WindowStart, s.WindowEnd}
		if seen[sp] {
			continue
		}
		seen[sp] = true
		label := "Window"
		if len(r.Steps) > 1 {
			label = "Window for " + s.Fleet
		}
		fields = append(fields, notice.Field{Name: label + " (UTC)", Value: utc(s.WindowStart) + " to " + s.WindowEnd.UTC().Format("15:04 MST")})
		if loc := zoneOf(s.Fleet); loc != nil && loc != time.UTC && loc.String() != "UTC" {
			fields = append(fields, notice.Field{Name: label + " (" + loc.String() + ")",
				Value: s.WindowStart.In(loc).Format("Mon 2006-01-02 15:04 MST") + " to " + s.WindowEnd.In(loc).Format("15:04 MST")})
		}
	}
	return fields
}

// DrainMeaning says what a drain mode means for a fleet's users, for notices and the plan.
func DrainMeaning(mode string, deadline time.Duration) string {
	switch mode {
	case DrainScaleToZero:
		return "scale-to-zero: after the update the fleet is scaled to 0/0 with its scaling suspended, so idle instances on the old image go away; its Min/Max and scaling are then restored exactly. Connected users keep their session."
	case DrainSessions:
		return "sessions: instances still serving sessions on the old image stop taking new ones and are replaced when their last user leaves, while other instances keep room for new sessions. Nobody is disconnected."
	case DrainDeadline:
		return fmt.Sprintf("deadline: as scale-to-zero (or sessions, on multi-session fleets), and sessions still on the old image %s after the update are ended; admins are warned before.", deadline)
	}
	return "none: fleets keep their capacity; idle instances move to the new image over time, in-use ones when their session ends."
}

// drainModes describes the rollout's drain modes, fleet by fleet when they differ.
func drainModes(r Rollout, deadline time.Duration) string {
	byMode := map[string][]string{}
	var order []string
	for _, s := range r.Steps {
		m := s.DrainMode
		if m == "" {
			m = DrainNone
			if r.ScaleImmediately {
				m = DrainScaleToZero
			}
		}
		if _, ok := byMode[m]; !ok {
			order = append(order, m)
		}
		byMode[m] = append(byMode[m], s.Fleet)
	}
	if len(order) == 1 {
		return DrainMeaning(order[0], deadline)
	}
	parts := make([]string, len(order))
	for i, m := range order {
		parts[i] = strings.Join(byMode[m], ", ") + ": " + DrainMeaning(m, deadline)
	}
	return strings.Join(parts, " ")
}

func pendingNotice(r Rollout, keys TagKeys, zoneOf func(string) *time.Location, replaced *Rollout, waves WaveSettings, deadline time.Duration) notice.Notice {
	fields := []notice.Field{
		{Name: "Image", Value: r.ImageName},
		{Name: "Fleets", Value: fleetsOf(r)},
		{Name: "Drain (" + keys.ScaleImmediately + ", " + keys.Drain + ")", Value: drainModes(r, deadline)},
	}
	fields = append(fields, windowFields(r, zoneOf)...)
	if r.Progressive() {
		for _, w := range PlanWaves(r, waves) {
			name := fmt.Sprintf("Wave %d", w.Wave)
			if w.Canary {
				name += " (canary)"
			}
			when := "after the previous wave's gate"
			if !w.ExpectedStart.IsZero() {
				when = "expected " + utc(w.ExpectedStart)
			}
			fields = append(fields, notice.Field{Name: name, Value: fmt.Sprintf("%s; %s; gate: %s", strings.Join(w.Fleets, ", "), when, w.Gate)})
		}
	}
	fields = append(fields, notice.Field{Name: "How to cancel", Value: fmt.Sprintf("Remove the %s tag from image %s before the window opens. Changing the tag replans the rollout.", keys.FleetName, r.ImageName)})
	kind, subject, summary := "rollout.pending", fmt.Sprintf("Image %s scheduled for %s", r.ImageName, fleetsOf(r)),
		fmt.Sprintf("Image %s will be applied to %s in the maintenance window starting %s.", r.ImageName, fleetsOf(r), utc(r.Start))
	if replaced != nil {
		kind = "rollout.replanned"
		subject = "Replanned: " + subject
		summary = fmt.Sprintf("The %s tag of image %s changed from %q to %q; the earlier plan (rollout #%d) is replaced. ", keys.FleetName, r.ImageName, replaced.FleetTag, r.FleetTag, replaced.ID) + summary
	}
	return notice.Notice{ID: noticeID(r, "pending"), Kind: kind, Severity: notice.SeverityInfo, Subject: subject, Summary: summary, Fields: fields, Time: r.CreatedAt}
}

func refusedNotice(r Rollout, keys TagKeys) notice.Notice {
	return notice.Notice{
		ID: noticeID(r, "refused"), Kind: "rollout.refused", Severity: notice.SeverityError,
		Subject: fmt.Sprintf("Rollout of image %s refused", r.ImageName),
		Summary: fmt.Sprintf("The %s tag %q of image %s cannot be planned, so nothing was changed: %s.", keys.FleetName, r.FleetTag, r.ImageName, r.Reason),
		Fields: []notice.Field{{Name: "Image", Value: r.ImageName}, {Name: keys.FleetName, Value: r.FleetTag},
			{Name: "What to do", Value: "Correct the tag; deskpilot plans it again at its next scan."}},
		Time: r.UpdatedAt,
	}
}

func cancelledNotice(r Rollout, keys TagKeys) notice.Notice {
	return notice.Notice{
		ID: noticeID(r, "cancelled"), Kind: "rollout.cancelled", Severity: notice.SeverityInfo,
		Subject: fmt.Sprintf("Rollout of image %s cancelled", r.ImageName),
		Summary: fmt.Sprintf("Rollout #%d of image %s to %s is cancelled: %s.", r.ID, r.ImageName, fleetsOf(r), r.Reason),
		Fields:  []notice.Field{{Name: "Image", Value: r.ImageName}, {Name: "Fleets", Value: fleetsOf(r)}},
		Items:   stepItems(r),
		Time:    r.UpdatedAt,
	}
}

// deadlineWarningNotice warns that a fleet's sessions on old-image instances are about to be
// ended (deadline mode).
func deadlineWarningNotice(r Rollout, s Step, deadline time.Time) notice.Notice {
	return notice.Notice{
		ID: noticeID(r, "fleet/"+s.Fleet+"/deadline-warning"), Kind: "rollout.deadline", Severity: notice.SeverityWarning,
		Subject: fmt.Sprintf("Sessions on fleet %s end at %s", s.Fleet, utc(deadline)),
		Summary: fmt.Sprintf("Fleet %s runs image %s, but some users are still on instances with the old image. Their sessions will be ended at %s (the drain deadline): %s.", s.Fleet, r.ImageName, utc(deadline), s.Message),
		Fields: []notice.Field{{Name: "Fleet", Value: s.Fleet}, {Name: "Deadline", Value: utc(deadline)},
			{Name: "What users see", Value: "Their session ends at the deadline; when they reconnect they get an instance with the new image."}},
		Time: s.WarnedAt,
	}
}

func startedNotice(r Rollout, now time.Time) notice.Notice {
	return notice.Notice{
		ID: noticeID(r, "started"), Kind: "rollout.started", Severity: notice.SeverityInfo,
		Subject: fmt.Sprintf("Rolling out image %s to %s", r.ImageName, fleetsOf(r)),
		Summary: fmt.Sprintf("The maintenance window is open: image %s is being applied to %s.", r.ImageName, fleetsOf(r)),
		Fields:  []notice.Field{{Name: "Image", Value: r.ImageName}, {Name: "Drain", Value: fmt.Sprint(r.ScaleImmediately)}},
		Items:   stepItems(r),
		Time:    now,
	}
}

// fleetNoticeWhat names a fleet's result notice; a rollback's result is a notice of its own.
func fleetNoticeWhat(s Step) string {
	if s.RollingBack {
		return "fleet/" + s.Fleet + "/rollback"
	}
	return "fleet/" + s.Fleet
}

func fleetNotice(r Rollout, s Step) notice.Notice {
	sev := notice.SeverityInfo
	if s.State == StepFailed {
		sev = notice.SeverityError
	}
	return notice.Notice{
		ID: noticeID(r, fleetNoticeWhat(s)), Kind: "rollout.fleet", Severity: sev,
		Subject: fmt.Sprintf("Fleet %s: %s (image %s)", s.Fleet, s.State, r.ImageName),
		Summary: fmt.Sprintf("Fleet %s: %s.", s.Fleet, s.Message),
		Fields:  stepFields(r, s),
		Time:    s.FinishedAt,
	}
}

func drainTimeoutNotice(r Rollout, s Step, now time.Time) notice.Notice {
	return notice.Notice{
		ID: noticeID(r, "drain-timeout/"+s.Fleet), Kind: "rollout.drain", Severity: notice.SeverityWarning,
		Subject: fmt.Sprintf("Fleet %s: drain timed out, capacity restored", s.Fleet),
		Summary: fmt.Sprintf("Fleet %s: %s.", s.Fleet, s.Message),
		Fields:  stepFields(r, s),
		Time:    now,
	}
}

func stepFields(r Rollout, s Step) []notice.Field {
	f := []notice.Field{{Name: "Image", Value: r.ImageName}, {Name: "Fleet", Value: s.Fleet}, {Name: "Result", Value: string(s.State)}}
	if s.Drain {
		f = append(f, notice.Field{Name: "Saved Min/Max", Value: Capacity{s.SavedMin, s.SavedMax}.String()})
	}
	return f
}

func stepItems(r Rollout) []notice.Item {
	items := make([]notice.Item, 0, len(r.Steps))
	for _, s := range r.Steps {
		items = append(items, notice.Item{Name: s.Fleet, Status: string(s.State), Detail: s.Message})
	}
	return items
}

// finishedWhat names a rollout's final notice; a rollback (also one requested after the
// rollout ended) ends with a notice of its own.
func finishedWhat(r Rollout) string {
	if r.State == RolledBack {
		return "rolled-back"
	}
	return "finished"
}

func finishedNotice(r Rollout) notice.Notice {
	n := notice.Notice{
		ID: noticeID(r, finishedWhat(r)), Kind: "rollout.finished", Severity: notice.SeverityInfo,
		Subject: fmt.Sprintf("Image %s rolled out to %s", r.ImageName, fleetsOf(r)),
		Summary: fmt.Sprintf("Rollout #%d of image %s is %s.", r.ID, r.ImageName, r.State),
		Fields:  []notice.Field{{Name: "Image", Value: r.ImageName}, {Name: "Result", Value: string(r.State)}},
		Items:   stepItems(r),
		Time:    r.UpdatedAt,
	}
	switch r.State {
	case Failed:
		n.Kind, n.Severity = "rollout.failed", notice.SeverityError
		n.Subject = fmt.Sprintf("Rollout of image %s failed", r.ImageName)
		n.Summary += " Fleets that were drained have their Min/Max restored; see each fleet below."
	case Superseded, Cancelled:
		n.Subject = fmt.Sprintf("Rollout of image %s ended: %s", r.ImageName, r.State)
		n.Summary += " " + r.Reason
	case RolledBack:
		n.Kind, n.Severity = "rollout.rolled-back", notice.SeverityError
		n.Subject = fmt.Sprintf("Image %s rolled back", r.ImageName)
		n.Summary = fmt.Sprintf("Rollout #%d of image %s was rolled back: %s. Drained fleets have their Min/Max restored exactly; later waves did not start.", r.ID, r.ImageName, r.Reason)
		if r.Checks != "" {
			n.Fields = append(n.Fields, notice.Field{Name: "Failed checks", Value: r.Checks})
		}
		n.Fields = append(n.Fields, notice.Field{Name: "What next", Value: "Fix the image, then remove and add its FleetName tag again to plan a new rollout."})
	}
	return n
}

// approvalNotice asks a person to approve the waves after a healthy canary.
func approvalNotice(r Rollout, keys TagKeys, now time.Time) notice.Notice {
	return notice.Notice{
		ID: noticeID(r, "approval"), Kind: "rollout.approval", Severity: notice.SeverityWarning,
		Subject: fmt.Sprintf("Approve image %s for the next wave", r.ImageName),
		Summary: fmt.Sprintf("The canary wave of rollout #%d (image %s) is healthy. The next wave waits for a person's approval.", r.ID, r.ImageName),
		Fields: []notice.Field{{Name: "Image", Value: r.ImageName}, {Name: "Canary fleets", Value: strings.Join(waveFleets(r, 1), ", ")},
			{Name: "How to approve", Value: fmt.Sprintf("Tag image %s with %s=True, or run: deskpilot rollout approve %d (POST /api/v1/rollouts/%d/approve)", r.ImageName, keys.Approve, r.ID, r.ID)},
			{Name: "How to stop", Value: fmt.Sprintf("POST /api/v1/rollouts/%d/rollback to take the canary back, or /cancel to stop here", r.ID)}},
		Items: stepItems(r),
		Time:  now,
	}
}

// haltedNotice says a wave failed its gate and the rollout waits for a person
// (rollouts.rollback: off).
func haltedNotice(r Rollout, problems []string, now time.Time) notice.Notice {
	return notice.Notice{
		ID: noticeID(r, fmt.Sprintf("halted/%d", r.Wave)), Kind: "rollout.halted", Severity: notice.SeverityError,
		Subject: fmt.Sprintf("Rollout of image %s stopped: wave %d failed its health gate", r.ImageName, r.Wave),
		Summary: fmt.Sprintf("Wave %d of rollout #%d (image %s) is not healthy, and automatic rollback is off: nothing more starts until a person decides.", r.Wave, r.ID, r.ImageName),
		Fields: []notice.Field{{Name: "Image", Value: r.ImageName}, {Name: "Failed checks", Value: strings.Join(problems, "; ")},
			{Name: "What to do", Value: fmt.Sprintf("POST /api/v1/rollouts/%d/rollback to take the changed fleets back, /approve to go on with the next wave, or /cancel to stop here", r.ID)}},
		Items: stepItems(r),
		Time:  now,
	}
}

// waveWaitsNotice says a released wave waits for a later window opening.
func waveWaitsNotice(r Rollout, k int, at time.Time) notice.Notice {
	return notice.Notice{
		ID: noticeID(r, fmt.Sprintf("wave/%d", k)), Kind: "rollout.wave", Severity: notice.SeverityInfo,
		Subject: fmt.Sprintf("Image %s: wave %d of %d waits for the window at %s", r.ImageName, k, r.Waves, utc(at)),
		Summary: fmt.Sprintf("Wave %d of rollout #%d (image %s) passed its gate, but the window closed (or too little of it is left); wave %d starts in the opening at %s.", k-1, r.ID, r.ImageName, k, utc(at)),
		Fields: []notice.Field{{Name: "Image", Value: r.ImageName}, {Name: fmt.Sprintf("Wave %d", k), Value: strings.Join(waveFleets(r, k), ", ")},
			{Name: "Starts", Value: utc(at)}},
		Time: r.UpdatedAt,
	}
}

// waveFleets names the fleets of wave k.
func waveFleets(r Rollout, k int) []string {
	var out []string
	for _, i := range waveSteps(r, k) {
		out = append(out, r.Steps[i].Fleet)
	}
	return out
}

// escalationNotice tells admins, urgently, that a fleet needs a person: deskpilot keeps trying,
// but the fleet is without (or short of) capacity until then.
func escalationNotice(r Rollout, s Step, e Escalation, now time.Time) notice.Notice {
	saved := Capacity{s.SavedMin, s.SavedMax}
	id, subject := "escalation/"+s.Fleet+"/"+strconv.FormatInt(s.EscalatedAt.UnixMilli(), 36), "URGENT: fleet %s is stuck at 0/0"
	if e == EscalateRemind {
		id += "/" + strconv.FormatInt(now.UnixMilli(), 36)
		subject = "Reminder, URGENT: fleet %s is still at 0/0"
	}
	return notice.Notice{
		ID: noticeID(r, id), Kind: "rollout.escalation", Severity: notice.SeverityError,
		Subject: fmt.Sprintf(subject, s.Fleet),
		Summary: fmt.Sprintf("Fleet %s was drained for image %s and its Min/Max %s could not be restored since %s: %s. deskpilot keeps retrying; new users cannot start sessions until it succeeds. Check deskpilot's permissions (application-autoscaling:RegisterScalableTarget) or restore the Min/Max by hand.",
			s.Fleet, r.ImageName, saved, utc(s.DrainStartedAt), s.Message),
		Fields: append(stepFields(r, s), notice.Field{Name: "Failed attempts", Value: strconv.Itoa(s.Attempts)},
			notice.Field{Name: "Restore by hand", Value: fmt.Sprintf("aws application-autoscaling register-scalable-target --service-namespace appstream --scalable-dimension appstream:fleet:DesiredCapacity --resource-id fleet/%s --min-capacity %d --max-capacity %d", s.Fleet, saved.Min, saved.Max)}),
		Time: now,
	}
}

// resolvedNotice closes an escalation.
func resolvedNotice(r Rollout, s Step, escalatedAt, now time.Time) notice.Notice {
	return notice.Notice{
		ID: noticeID(r, "resolved/"+s.Fleet+"/"+strconv.FormatInt(escalatedAt.UnixMilli(), 36)), Kind: "rollout.resolved", Severity: notice.SeverityInfo,
		Subject: fmt.Sprintf("Resolved: fleet %s has its capacity back", s.Fleet),
		Summary: fmt.Sprintf("Fleet %s has its Min/Max %s again (image %s).", s.Fleet, Capacity{s.SavedMin, s.SavedMax}, r.ImageName),
		Fields:  stepFields(r, s),
		Time:    now,
	}
}
