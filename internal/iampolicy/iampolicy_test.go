package iampolicy_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/cloud"
	"github.com/deskpilot/deskpilot/internal/iampolicy"
	"github.com/deskpilot/deskpilot/internal/notify"
)

var (
	identityActions = []string{"sts:GetCallerIdentity"}
	eventActions    = []string{"sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"}
	rolloutActions  = []string{
		"application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScheduledActions", "application-autoscaling:RegisterScalableTarget",
		"appstream:DescribeFleets", "appstream:DescribeImages", "appstream:DescribeSessions", "appstream:DrainSessionInstance",
		"appstream:ExpireSession", "appstream:ListAssociatedStacks", "appstream:ListTagsForResource",
		"appstream:TagResource", "appstream:UntagResource", "appstream:UpdateFleet",
	}
	resetActions = []string{
		"workspaces:DescribeTags", "workspaces:DescribeWorkspaceSnapshots", "workspaces:DescribeWorkspaces",
		"workspaces:DescribeWorkspacesConnectionStatus", "workspaces:ModifyWorkspaceState",
		"workspaces:RebuildWorkspaces", "workspaces:RestoreWorkspace",
	}
	sesActions = []string{"ses:SendEmail"}
)

func sorted(lists ...[]string) []string {
	out := slices.Concat(lists...)
	slices.Sort(out)
	return out
}

func TestFeatures(t *testing.T) {
	if diff := cmp.Diff([]string{"rollouts", "events", "resets", "sns", "ses"}, iampolicy.Features()); diff != "" {
		t.Errorf("Features (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"rollouts", "resets", "ses"}, iampolicy.Defaults()); diff != "" {
		t.Errorf("Defaults (-want +got):\n%s", diff)
	}
	for _, f := range iampolicy.Features() {
		if iampolicy.Describe(f) == "" {
			t.Errorf("feature %s has no description", f)
		}
	}
	if d := iampolicy.Describe("nope"); d != "" {
		t.Errorf("Describe(unknown) = %q, want empty", d)
	}
}

func TestActions(t *testing.T) {
	tests := []struct {
		name     string
		features []string
		want     []string
	}{
		{"none means the defaults", nil, sorted(identityActions, rolloutActions, resetActions, sesActions)},
		{"empty names are ignored", []string{"", " "}, sorted(identityActions, rolloutActions, resetActions, sesActions)},
		{"rollouts", []string{"rollouts"}, sorted(identityActions, rolloutActions)},
		{"resets", []string{"resets"}, sorted(identityActions, resetActions)},
		{"ses", []string{"ses"}, sorted(identityActions, sesActions)},
		{"sns brings resets and needs nothing more", []string{"sns"}, sorted(identityActions, resetActions)},
		{"names are trimmed, duplicates once", []string{" ses", "rollouts ", "ses"}, sorted(identityActions, rolloutActions, sesActions)},
		{"events brings rollouts", []string{"events"}, sorted(identityActions, rolloutActions, eventActions)},
		{"all", iampolicy.Features(), sorted(identityActions, rolloutActions, eventActions, resetActions, sesActions)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := iampolicy.Actions(tt.features)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Actions(%q) (-want +got):\n%s", tt.features, diff)
			}
		})
	}
}

func TestPolicy_UnknownFeature(t *testing.T) {
	tests := []struct {
		features []string
		want     string
	}{
		{[]string{"rollout"}, `unknown feature "rollout": the features are rollouts, events, resets, sns, ses`},
		{[]string{"x", "ses", "y"}, `unknown features "x", "y": the features are rollouts, events, resets, sns, ses`},
	}
	for _, tt := range tests {
		if _, err := iampolicy.Policy(tt.features); err == nil || err.Error() != tt.want {
			t.Errorf("Policy(%q) error = %v, want %q", tt.features, err, tt.want)
		}
		if _, err := iampolicy.Actions(tt.features); err == nil || err.Error() != tt.want {
			t.Errorf("Actions(%q) error = %v, want %q", tt.features, err, tt.want)
		}
	}
}

// policyDoc is a policy document read back from JSON (or YAML): Action and Resource may each
// be a string or a list.
type policyDoc struct {
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Sid       string
	Effect    string
	Action    any
	Resource  any
	Condition map[string]map[string]string
}

func list(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, len(v))
		for i, s := range v {
			out[i], _ = s.(string)
		}
		return out
	}
	return nil
}

func parsePolicy(t *testing.T, features []string) policyDoc {
	t.Helper()
	p, err := iampolicy.Policy(features)
	if err != nil {
		t.Fatal(err)
	}
	var doc policyDoc
	dec := json.NewDecoder(strings.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("Policy(%q) is not a policy document: %v\n%s", features, err, p)
	}
	return doc
}

// Every policy is well formed: the version, unique Sids, Allow only, each action in one
// statement, "*" only alone, ARNs of the action's own service, and exactly Actions' actions.
func TestPolicy_WellFormed(t *testing.T) {
	sets := [][]string{nil, iampolicy.Features()}
	for _, f := range iampolicy.Features() {
		sets = append(sets, []string{f})
	}
	for _, features := range sets {
		p, _ := iampolicy.Policy(features)
		if !strings.HasPrefix(p, "{\n  \"Version\": \"2012-10-17\",\n") || !strings.HasSuffix(p, "}\n") {
			t.Errorf("Policy(%q) is not indented JSON starting with the version:\n%s", features, p)
		}
		doc := parsePolicy(t, features)
		sids := map[string]bool{}
		var all []string
		for _, s := range doc.Statement {
			if s.Sid == "" || sids[s.Sid] || strings.Trim(s.Sid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
				t.Errorf("Policy(%q): Sid %q is empty, repeated or not alphanumeric", features, s.Sid)
			}
			sids[s.Sid] = true
			if s.Effect != "Allow" {
				t.Errorf("Policy(%q) %s: Effect %q", features, s.Sid, s.Effect)
			}
			actions, resources := list(s.Action), list(s.Resource)
			if !slices.IsSorted(actions) || len(actions) == 0 {
				t.Errorf("Policy(%q) %s: actions %q not sorted or empty", features, s.Sid, actions)
			}
			all = append(all, actions...)
			for _, r := range resources {
				if r == "*" && len(resources) > 1 {
					t.Errorf("Policy(%q) %s: * among other resources %q", features, s.Sid, resources)
				}
				if r == "*" {
					continue
				}
				for _, a := range actions {
					service, _, _ := strings.Cut(a, ":")
					if !strings.HasPrefix(r, "arn:aws:"+service+":") {
						t.Errorf("Policy(%q) %s: resource %s is not of %s's service", features, s.Sid, r, a)
					}
				}
			}
		}
		want, _ := iampolicy.Actions(features)
		slices.Sort(all)
		if diff := cmp.Diff(want, all); diff != "" {
			t.Errorf("Policy(%q) allows other actions than Actions, or one twice (-Actions +policy):\n%s", features, diff)
		}
	}
}

// The IAM action of a signed call is its operation under the service's IAM prefix; only the
// SNS confirmation, an unsigned GET, has none.
func TestOperations_ActionNames(t *testing.T) {
	prefix := map[string]string{
		"appstream": "appstream", "application-autoscaling": "application-autoscaling",
		"workspaces": "workspaces", "sesv2": "ses", "sts": "sts", "sqs": "sqs",
	}
	ops, err := iampolicy.Operations(iampolicy.Features())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range ops {
		key := o.Service + "." + o.Name
		if seen[key] {
			t.Errorf("%s is in the table twice", key)
		}
		seen[key] = true
		switch {
		case o.Service == "sns" && o.Name == "ConfirmSubscription":
			if o.Action != "" {
				t.Errorf("%s: action %q, want none (the GET is unsigned)", key, o.Action)
			}
		case prefix[o.Service] == "":
			t.Errorf("%s: unknown service", key)
		case o.Action != prefix[o.Service]+":"+o.Name:
			t.Errorf("%s: action %q, want %s:%s", key, o.Action, prefix[o.Service], o.Name)
		}
	}
}

// Every SDK call the adapters can make (the methods of the interfaces they declare) is in the
// table, under the feature that builds the adapter. A method added to an interface without
// the table fails here.
func TestOperations_CoverTheAdapters(t *testing.T) {
	adapters := []struct {
		iface            reflect.Type
		feature, service string
	}{
		{reflect.TypeFor[cloud.AppStreamAPI](), "rollouts", "appstream"},
		{reflect.TypeFor[cloud.AutoScalingAPI](), "rollouts", "application-autoscaling"},
		{reflect.TypeFor[cloud.WorkSpacesAPI](), "resets", "workspaces"},
		{reflect.TypeFor[notify.SESAPI](), "ses", "sesv2"},
		{reflect.TypeFor[cloud.SQSAPI](), "events", "sqs"},
	}
	ops, _ := iampolicy.Operations(iampolicy.Features())
	listed := map[string]string{}
	for _, o := range ops {
		listed[o.Service+"."+o.Name] = o.Feature
	}
	for _, a := range adapters {
		for i := range a.iface.NumMethod() {
			key := a.service + "." + a.iface.Method(i).Name
			if got := listed[key]; got != a.feature {
				t.Errorf("%s (%s) is in the table under %q, want %q", key, a.iface, got, a.feature)
			}
		}
	}
	// cloud.Account calls STS directly.
	if got := listed["sts.GetCallerIdentity"]; got != "identity" {
		t.Errorf("sts.GetCallerIdentity is under %q, want identity", got)
	}
}

// Application Auto Scaling wants the caller of RegisterScalableTarget on an AppStream fleet to
// have appstream:DescribeFleets and appstream:UpdateFleet on it, and the fleet scalable
// dimension held by its condition is the one cloud.Scaler registers.
func TestPolicy_RegisterScalableTargetHasItsAppStreamActions(t *testing.T) {
	doc := parsePolicy(t, []string{"rollouts"})
	allowed := func(action, resource string) bool {
		for _, s := range doc.Statement {
			if slices.Contains(list(s.Action), action) && (slices.Contains(list(s.Resource), resource) || list(s.Resource)[0] == "*") {
				return true
			}
		}
		return false
	}
	for _, a := range []string{"appstream:DescribeFleets", "appstream:UpdateFleet"} {
		if !allowed(a, "arn:aws:appstream:*:*:fleet/*") {
			t.Errorf("%s is not allowed on fleets", a)
		}
	}
	for _, s := range doc.Statement {
		if s.Sid == "RolloutsSetFleetCapacity" {
			want := map[string]map[string]string{"StringEquals": {
				"application-autoscaling:service-namespace":  "appstream",
				"application-autoscaling:scalable-dimension": "appstream:fleet:DesiredCapacity",
			}}
			if diff := cmp.Diff(want, s.Condition); diff != "" {
				t.Errorf("condition (-want +got):\n%s", diff)
			}
		}
	}
}
