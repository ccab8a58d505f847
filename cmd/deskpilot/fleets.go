package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/deskpilot/deskpilot/internal/api"
)

func (c *cli) fleetsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "fleets",
		Short: "List the AppStream fleets: image, state, capacity, scaling bounds, rollout",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := c.client().Fleets(cmd.Context())
			if err != nil {
				return err
			}
			for _, w := range list.Warnings {
				fmt.Fprintln(c.stderr, "deskpilot: warning:", w)
			}
			targets := map[string]bool{}
			for _, f := range list.Fleets {
				targets[f.Account+"/"+f.Region] = true
			}
			return c.emit(list, func(w io.Writer) {
				row(w, "NAME", "TYPE", "STATE", "IMAGE", "DESIRED", "RUNNING", "IN USE", "AVAILABLE", "MIN/MAX", "ROLLOUT")
				for _, f := range list.Fleets {
					bounds := "-"
					if t := f.ScalableTarget; t != nil {
						bounds = fmt.Sprintf("%d/%d", t.Min, t.Max)
					}
					ro := "-"
					if f.Rollout != nil {
						ro = fmt.Sprintf("%d (%s, %s)", f.Rollout.ID, f.Rollout.State, f.Rollout.Step)
					}
					state := f.State
					if len(f.Errors) > 0 {
						state += " (" + strconv.Itoa(len(f.Errors)) + " errors)"
					}
					name := f.Name
					if len(targets) > 1 { // a fleet name is unique only in its account and region
						name = f.Account + "/" + f.Region + "/" + f.Name
					}
					row(w, name, f.Type, state, orDash(f.Image.Name), itoa(f.Capacity.Desired), itoa(f.Capacity.Running),
						itoa(f.Capacity.InUse), itoa(f.Capacity.Available), bounds, ro)
				}
			})
		},
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func (c *cli) resetsCommand() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "resets",
		Short: "The WorkSpaces reset history, and the resets pending",
	})
	var since string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the reset history (logoffs, resets, skips) with reasons, oldest first",
		Example: `  deskpilot resets list
  deskpilot resets list --since 7d
  deskpilot resets list --since 2026-03-01T00:00:00Z -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var from time.Time
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return usageErrorf(cmd, "--since: %v", err)
				}
				from = t
			}
			res, err := c.client().Resets(cmd.Context(), from)
			if err != nil {
				return err
			}
			if res.Truncated {
				fmt.Fprintf(c.stderr, "deskpilot: warning: only the first %d records since %s; use a later --since\n", len(res.Resets), whenT(res.Since))
			}
			return c.emit(res, func(w io.Writer) {
				row(w, "TIME", "WORKSPACE", "USER", "MODE", "OUTCOME", "REASON")
				targets := map[string]bool{}
				for _, r := range res.Resets {
					targets[r.Account+"/"+r.Region] = true
				}
				for _, r := range res.Resets {
					id := r.WorkspaceID
					if len(targets) > 1 { // several accounts or regions: say where each WorkSpace is
						id = r.Account + "/" + r.Region + "/" + id
					}
					row(w, whenT(r.At), id, orDash(r.UserName), r.Mode, r.Outcome, cut(r.Reason, 80))
				}
			})
		},
	}
	list.Flags().StringVar(&since, "since", "", "from this long ago (24h, 90m, 7d) or this RFC 3339 time (default: the last 24 hours)")
	pending := &cobra.Command{
		Use:   "pending",
		Short: "List the WorkSpaces whose reset is pending (in their grace, or being reset), soonest first",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := c.client().PendingResets(cmd.Context())
			if err != nil {
				return err
			}
			return c.emit(res, func(w io.Writer) {
				row(w, "WORKSPACE", "USER", "MODE", "PHASE", "DUE", "DISCONNECTED", "ATTEMPTS")
				for _, p := range res.Pending {
					row(w, p.WorkspaceID, orDash(p.UserName), p.Mode, p.Phase, when(p.DueAt), when(p.DisconnectedAt), strconv.Itoa(p.Attempts))
				}
			})
		},
	}
	cmd.AddCommand(list, pending)
	return cmd
}

// parseSince reads --since: a duration before now (Go's units, and d for days) or an RFC 3339
// time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither a duration such as 24h, 90m or 7d nor an RFC 3339 time such as 2026-03-01T00:00:00Z", s)
	}
	return now.Add(-d), nil
}

// status is what `deskpilot status` reports.
type status struct {
	Server    string        `json:"server"`
	Readiness api.Readiness `json:"readiness"`
	// ActiveRollouts counts the pending and running rollouts.
	ActiveRollouts struct {
		Pending int `json:"pending"`
		Running int `json:"running"`
	} `json:"active_rollouts"`
	// DrainedFleets are the fleets whose Min/Max deskpilot holds (drained, or being
	// restored).
	DrainedFleets []string `json:"drained_fleets"`
	// Targets are the accounts and regions served, each with its health.
	Targets []api.TargetStatus `json:"targets"`
}

func (c *cli) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Is the daemon ready? How many rollouts are active, which fleets are drained? (exit 1 when not ready)",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cl := cmd.Context(), c.client()
			var st status
			st.Server = cl.BaseURL
			var err error
			if st.Readiness, err = cl.Ready(ctx); err != nil {
				return err
			}
			pending, err := cl.Rollouts(ctx, api.RolloutFilter{State: "pending", Limit: api.MaxLimit})
			if err != nil {
				return err
			}
			running, err := cl.Rollouts(ctx, api.RolloutFilter{State: "running", Limit: api.MaxLimit})
			if err != nil {
				return err
			}
			targets, err := cl.Targets(ctx)
			if err != nil {
				return err
			}
			st.Targets = targets.Targets
			saved, err := cl.SavedCapacity(ctx)
			if err != nil {
				return err
			}
			st.ActiveRollouts.Pending, st.ActiveRollouts.Running = len(pending.Rollouts), len(running.Rollouts)
			st.DrainedFleets = []string{}
			for _, s := range saved.SavedCapacity {
				name := s.Fleet
				if len(st.Targets) > 1 { // a fleet name is only unique in its account and region
					name = s.Account + "/" + s.Region + "/" + s.Fleet
				}
				st.DrainedFleets = append(st.DrainedFleets, name)
			}
			err = c.emit(st, func(w io.Writer) {
				row(w, "Server:", st.Server)
				row(w, "Ready:", yesNo(st.Readiness.Ready))
				for _, ch := range st.Readiness.Checks {
					mark := "ok"
					if !ch.OK {
						mark = "FAIL"
					}
					row(w, "  "+ch.Name+":", mark+" "+ch.Message)
				}
				row(w, "Active rollouts:", fmt.Sprintf("%d (%d pending, %d running)", st.ActiveRollouts.Pending+st.ActiveRollouts.Running,
					st.ActiveRollouts.Pending, st.ActiveRollouts.Running))
				drained := strconv.Itoa(len(st.DrainedFleets))
				if len(st.DrainedFleets) > 0 {
					drained += " (" + strings.Join(st.DrainedFleets, ", ") + ")"
				}
				row(w, "Drained fleets:", drained)
				row(w, "Targets:", fmt.Sprintf("%d", len(st.Targets)))
				for _, t := range st.Targets {
					line := t.State
					if t.State == api.TargetFailing {
						line += fmt.Sprintf(" (%s, last failed %s: %s)", t.ErrorClass, t.ErrorAt.UTC().Format(time.RFC3339), t.LastError)
					} else if !t.LastOK.IsZero() {
						line += " (last good pass " + t.LastOK.UTC().Format(time.RFC3339) + ")"
					}
					if t.RoleARN != "" && !t.CredentialsExpire.IsZero() {
						line += "; role credentials expire " + t.CredentialsExpire.UTC().Format(time.RFC3339)
					}
					row(w, "  "+t.Account+"/"+t.Region+":", line)
				}
			})
			if err != nil {
				return err
			}
			if !st.Readiness.Ready {
				var failed []string
				for _, ch := range st.Readiness.Checks {
					if !ch.OK {
						failed = append(failed, ch.Name+": "+ch.Message)
					}
				}
				return errors.New("the daemon is not ready: " + strings.Join(failed, "; "))
			}
			return nil
		},
	}
}
