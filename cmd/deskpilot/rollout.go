package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/deskpilot/deskpilot/internal/api"
)

func (c *cli) rolloutCommand() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "rollout",
		Aliases: []string{"rollouts"},
		Short:   "List, show, plan, approve, cancel and roll back image rollouts",
	})
	cmd.AddCommand(c.rolloutListCommand(), c.rolloutShowCommand(), c.rolloutPlanCommand(),
		c.rolloutRequestCommand("approve", "Approve the wait of a rollout for a person (after its canary, or when it halted)", "approved"),
		c.rolloutRequestCommand("cancel", "Stop a rollout where it is: nothing more starts, fleets in progress finish", "cancelled"),
		c.rolloutRequestCommand("rollback", "Take every fleet a rollout changed back to its previous image", "rolling back"))
	return cmd
}

func (c *cli) rolloutListCommand() *cobra.Command {
	var f api.RolloutFilter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List rollouts, newest first",
		Example: `  deskpilot rollout list
  deskpilot rollout list --state active
  deskpilot rollout list --image desktop-2026-12 -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := c.client().Rollouts(cmd.Context(), f)
			if err != nil {
				return err
			}
			targets := map[string]bool{}
			for _, r := range list.Rollouts {
				targets[r.Account+"/"+r.Region] = true
			}
			// With several accounts or regions, the same image and fleet names may be in each.
			many := len(targets) > 1
			return c.emit(list, func(w io.Writer) {
				head := []string{"ID", "IMAGE", "STATE", "WAVE", "FLEETS", "START", "UPDATED", "REASON"}
				if many {
					head = slices.Insert(head, 1, "TARGET")
				}
				row(w, head...)
				for _, r := range list.Rollouts {
					state := r.State
					if r.Gate != "" {
						state += " (" + r.Gate + ")"
					}
					cells := []string{strconv.FormatInt(r.ID, 10), r.ImageName, state, waveOf(r), cut(r.FleetTag, 40),
						when(r.Start), whenT(r.UpdatedAt), cut(r.Reason, 60)}
					if many {
						cells = slices.Insert(cells, 1, r.Account+"/"+r.Region)
					}
					row(w, cells...)
				}
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.State, "state", "", "only rollouts in this state: active, pending, running, succeeded, failed, cancelled, superseded, refused, rolled-back (comma-separated)")
	fl.StringVar(&f.Image, "image", "", "only rollouts of this image")
	fl.IntVar(&f.Limit, "limit", 0, fmt.Sprintf("at most this many (default %d, at most %d)", api.DefaultLimit, api.MaxLimit))
	return cmd
}

func waveOf(r api.Rollout) string {
	if r.Waves <= 1 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", r.Wave, r.Waves)
}

// rolloutID reads a rollout id argument.
func rolloutID(cmd *cobra.Command, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, usageErrorf(cmd, "rollout id must be a positive whole number (see deskpilot rollout list), not %q", s)
	}
	return id, nil
}

func (c *cli) rolloutShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "show ID",
		Short:   "Show a rollout: its fleets, waves and history",
		Example: `  deskpilot rollout show 7`,
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := rolloutID(cmd, args[0])
			if err != nil {
				return err
			}
			d, err := c.client().Rollout(cmd.Context(), id)
			if err != nil {
				return err
			}
			return c.emit(d, func(w io.Writer) { showRollout(w, d) })
		},
	}
}

func showRollout(w io.Writer, d api.RolloutDetail) {
	r := d.Rollout
	row(w, "Rollout:", fmt.Sprintf("%d: image %s to %s", r.ID, r.ImageName, r.FleetTag))
	state := r.State
	if r.Gate != "" {
		state += " (" + r.Gate + ")"
	}
	row(w, "State:", state)
	row(w, "Reason:", orDash(r.Reason))
	row(w, "Start:", when(r.Start))
	row(w, "Drain:", yesNo(r.ScaleImmediately))
	if r.Waves > 1 || r.Canary != "" {
		row(w, "Waves:", fmt.Sprintf("%d of %d released; canary %s", r.Wave, r.Waves, orDash(r.Canary)))
	}
	if r.Approval {
		approved := "waiting"
		if r.Approved {
			approved = "approved by " + r.ApprovedBy
		}
		row(w, "Approval:", "manual, "+approved)
	}
	if r.Checks != "" {
		row(w, "Failed checks:", r.Checks)
	}
	row(w, "Created:", whenT(r.CreatedAt))
	row(w, "Updated:", whenT(r.UpdatedAt))
	fmt.Fprintln(w)
	row(w, "FLEET", "WAVE", "STATE", "WINDOW (UTC)", "DRAIN", "MESSAGE")
	for _, s := range r.Steps {
		state := s.State
		if s.RollingBack {
			state += " (rolling back)"
		}
		drain := yesNo(s.Drain)
		if s.SavedCapacity != nil {
			drain += fmt.Sprintf(" (saved %d/%d)", s.SavedCapacity.Min, s.SavedCapacity.Max)
		}
		row(w, s.Fleet, strconv.Itoa(s.Wave), state, when(s.WindowStart)+" to "+when(s.WindowEnd), drain, cut(s.Message, 70))
	}
	if len(d.Waves) > 1 {
		fmt.Fprintln(w)
		waves(w, d.Waves)
	}
	if len(d.Events) > 0 {
		fmt.Fprintln(w)
		row(w, "TIME", "EVENT", "FLEET", "STATE", "DETAIL")
		for _, e := range d.Events {
			detail := e.Reason
			if e.Call != "" {
				detail = strings.TrimSpace(e.Call + " " + e.Result + " " + e.Error + " " + e.Reason)
			}
			row(w, whenT(e.At), e.Kind, orDash(e.Fleet), orDash(e.State), cut(detail, 80))
		}
	}
}

func waves(w io.Writer, ws []api.Wave) {
	row(w, "WAVE", "FLEETS", "STATE", "EXPECTED START", "GATE")
	for _, wv := range ws {
		name := strconv.Itoa(wv.Wave)
		if wv.Canary {
			name += " (canary)"
		}
		row(w, name, cut(strings.Join(wv.Fleets, ", "), 50), wv.State, when(wv.ExpectedStart), wv.Gate)
	}
}

func (c *cli) rolloutPlanCommand() *cobra.Command {
	var req api.PlanRequest
	cmd := &cobra.Command{
		Use:   "plan --image NAME --fleets FLEETS",
		Short: "Show what tagging an image would do, changing nothing",
		Long: `Show what tagging an image with these rollout tags would do: the daemon plans it exactly as its
scan would, with the fleets and windows as they are now, and changes nothing. The answer is the
steps with their window openings (in UTC and in each fleet's zone), the waves, and the
rollouts it would supersede; or the refusal with every reason, and exit code 1.

--fleets is written as the FleetName tag: fleet names separated by "/", or prefix:NAME-START.`,
		Example: `  deskpilot rollout plan --image desktop-2026-12 --fleets finance/engineering --scale-immediately
  deskpilot rollout plan --image desktop-2026-12 --fleets prefix:web- --canary web-1 --waves 5 --approval Manual`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Image == "" || req.Fleets == "" {
				return usageErrorf(cmd, "rollout plan needs --image and --fleets")
			}
			if req.Waves < 0 {
				return usageErrorf(cmd, "--waves must be 1 or more fleets per wave (0: no Waves tag)")
			}
			res, err := c.client().Plan(cmd.Context(), req)
			if err != nil {
				return err
			}
			if err := c.emit(res, func(w io.Writer) { showPlan(w, req, res) }); err != nil {
				return err
			}
			if res.Refused {
				return errors.New("the rollout would be refused: " + strings.Join(res.Reasons, "; "))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Image, "image", "", "the image to roll out (required)")
	fl.StringVar(&req.Fleets, "fleets", "", `the fleets, as the FleetName tag: "a/b", "prefix:web-" (required)`)
	fl.BoolVar(&req.ScaleImmediately, "scale-immediately", false, "drain each running fleet after the update (ScaleImmediately=True)")
	fl.StringVar(&req.Canary, "canary", "", "the canary fleets, written as --fleets (the Canary tag)")
	fl.IntVar(&req.Waves, "waves", 0, "the most fleets in each wave after the canary (the Waves tag)")
	fl.StringVar(&req.Approval, "approval", "", "Manual: wait for a person after the canary (the Approval tag)")
	fl.StringVar(&req.DrainMode, "drain", "", "the drain mode: none, scale-to-zero, sessions or deadline (the Drain tag)")
	fl.StringVar(&req.Account, "account", "", "the target's account, with --region (default: the first target)")
	fl.StringVar(&req.Region, "region", "", "the target's region, with --account (default: the first target)")
	return cmd
}

func showPlan(w io.Writer, req api.PlanRequest, res api.PlanResult) {
	img := res.Image.Name
	if res.Image.State != "" {
		img += " (" + res.Image.State + ")"
	}
	if res.Refused {
		row(w, "Refused:", fmt.Sprintf("image %s to %s", img, req.Fleets))
		for _, r := range res.Reasons {
			row(w, "", "- "+r)
		}
		return
	}
	row(w, "Plan:", fmt.Sprintf("image %s to %s", img, req.Fleets))
	row(w, "Would start:", when(res.Start))
	row(w, "Tags:", tagList(res.Tags))
	for _, id := range res.Supersedes {
		row(w, "Supersedes:", fmt.Sprintf("rollout %d (its waiting steps on these fleets are cancelled)", id))
	}
	for _, n := range res.Notes {
		row(w, "Note:", n)
	}
	fmt.Fprintln(w)
	row(w, "FLEET", "WAVE", "WINDOW (UTC)", "WINDOW (LOCAL)", "ZONE", "DRAIN", "MODE")
	for _, s := range res.Steps {
		row(w, s.Fleet, strconv.Itoa(s.Wave), whenT(s.WindowStart)+" to "+whenT(s.WindowEnd),
			localTime(s.WindowStartLocal)+" to "+localTime(s.WindowEndLocal), s.Zone, yesNo(s.Drain), s.DrainMode)
	}
	modes := map[string]string{}
	for _, s := range res.Steps {
		modes[s.DrainMode] = s.WhatUsersSee
	}
	fmt.Fprintln(w)
	for _, m := range slices.Sorted(maps.Keys(modes)) {
		row(w, "Users ("+m+"):", modes[m])
	}
	if len(res.Waves) > 1 {
		fmt.Fprintln(w)
		waves(w, res.Waves)
	}
}

// localTime shows an RFC 3339 time with its offset as "2006-01-02 15:04 -07:00".
func localTime(s string) string {
	if len(s) < 16 {
		return s
	}
	return s[:10] + " " + s[11:16] + " " + s[19:]
}

func tagList(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, " ")
}

// rolloutRequestCommand is approve, cancel or rollback.
func (c *cli) rolloutRequestCommand(kind, short, done string) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:     kind + " ID",
		Short:   short,
		Long:    short + ". It needs the daemon's API token (--token or $" + TokenEnv + ").",
		Example: "  " + TokenEnv + "=... deskpilot rollout " + kind + " 7",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := rolloutID(cmd, args[0])
			if err != nil {
				return err
			}
			cl := c.client()
			if kind == "rollback" && !yes {
				// Rolling back a rollout that has ended changes fleets that are in service now,
				// outside any window: a person must say so.
				cur, err := cl.Rollout(cmd.Context(), id)
				if err != nil {
					return err
				}
				if !cur.Rollout.Active {
					return usageErrorf(cmd, "rollout %d has ended (%s): rolling it back updates (and, with ScaleImmediately, drains) its fleets now, outside any maintenance window; run again with --yes to do it", id, cur.Rollout.State)
				}
			}
			var d api.RolloutDetail
			switch kind {
			case "approve":
				d, err = cl.Approve(cmd.Context(), id)
			case "cancel":
				d, err = cl.Cancel(cmd.Context(), id)
			default:
				d, err = cl.Rollback(cmd.Context(), id)
			}
			if err != nil {
				return err
			}
			return c.emit(d, func(w io.Writer) {
				r := d.Rollout
				state := r.State
				if r.Gate != "" {
					state += " (" + r.Gate + ")"
				}
				fmt.Fprintf(w, "rollout %d %s: now %s", r.ID, done, state)
				if r.Reason != "" {
					fmt.Fprintf(w, ": %s", r.Reason)
				}
				fmt.Fprintln(w)
			})
		},
	}
	if kind == "rollback" {
		cmd.Flags().BoolVar(&yes, "yes", false, "roll back a rollout that has ended too (its fleets are updated now, outside any window)")
	}
	return cmd
}
