// Package iampolicy writes the least-privilege IAM policy deskpilot's credentials need, from
// one table (table.go) of every AWS operation deskpilot calls, by feature, with the IAM action
// that authorizes it and the resources that action can be held to. `deskpilot iam-policy`
// prints Policy; deploy/deskpilot-iam.yaml carries Policy(nil) as a CloudFormation managed
// policy; the end-to-end test e2e/iampolicy_test.go runs deskpilot against the emulator and
// checks that every call it makes is in the table and that the table holds nothing no scenario
// used.
//
// The features are rollouts, events, resets, sns and ses (Features). With none, Policy and Actions use
// rollouts and resets (Defaults). sts:GetCallerIdentity is always in.
package iampolicy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// version is the IAM policy language version of every policy this package writes.
const version = "2012-10-17"

// Operation is one AWS operation deskpilot calls.
type Operation struct {
	// Feature is the feature that makes the call ("identity" for the calls every deskpilot
	// makes).
	Feature string
	// Service and Name are the operation as the emulator's call log names it (sim.Call's
	// Service and Operation): the service's SigV4 signing name (sesv2 for SES API v2) and the
	// API operation.
	Service, Name string
	// Action is the IAM action that authorizes the call, such as appstream:UpdateFleet, or ""
	// when AWS authorizes it without IAM (the unsigned GET that confirms an SNS subscription).
	Action string
}

// feature is a part of deskpilot that can be on or off, and the statements it needs.
type feature struct {
	name string
	// doc says what the feature is, for Features' callers and error messages.
	doc string
	// requires are features this one works only with; choosing it chooses them.
	requires   []string
	statements []statement
	// unsigned are the calls the feature makes that no IAM action governs.
	unsigned []op
}

// statement is one Allow statement of the policy.
type statement struct {
	sid       string
	resources []string
	// condition is the statement's Condition block (operator → key → value), or nil.
	condition map[string]map[string]string
	ops       []op
}

// op is an AWS operation, as the emulator logs it, and the IAM action that allows it.
type op struct {
	service, name, action string
}

// Features returns the names of the valid features, in the order Policy writes their
// statements: rollouts, events, resets, sns, ses.
func Features() []string {
	out := make([]string, len(features))
	for i, f := range features {
		out[i] = f.name
	}
	return out
}

// Describe returns what a feature is (for a command's help), or "" for an unknown name.
func Describe(name string) string {
	for _, f := range features {
		if f.name == name {
			return f.doc
		}
	}
	return ""
}

// Defaults returns the features Policy and Actions use when given none: rollouts and resets.
// sts:GetCallerIdentity, which every deskpilot needs, comes with any set of features.
func Defaults() []string { return slices.Clone(defaults) }

// resolve turns the caller's feature names into the features to write, in table order,
// always first. Names are trimmed; empty names are ignored, and no names at all mean
// Defaults. A feature brings in the features it requires. An unknown name is an error that
// lists the valid ones.
func resolve(names []string) ([]feature, error) {
	want := map[string]bool{}
	var unknown []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
		case Describe(n) == "":
			unknown = append(unknown, fmt.Sprintf("%q", n))
		default:
			want[n] = true
		}
	}
	if len(unknown) > 0 {
		noun := "feature"
		if len(unknown) > 1 {
			noun = "features"
		}
		return nil, fmt.Errorf("unknown %s %s: the features are %s", noun, strings.Join(unknown, ", "), strings.Join(Features(), ", "))
	}
	if len(want) == 0 {
		for _, n := range defaults {
			want[n] = true
		}
	}
	for _, f := range features {
		if want[f.name] {
			for _, r := range f.requires {
				want[r] = true
			}
		}
	}
	out := []feature{always}
	for _, f := range features {
		if want[f.name] {
			out = append(out, f)
		}
	}
	return out, nil
}

// Operations returns the AWS operations deskpilot calls with the given features (chosen as
// Policy chooses them), in table order.
func Operations(features []string) ([]Operation, error) {
	fs, err := resolve(features)
	if err != nil {
		return nil, err
	}
	var out []Operation
	for _, f := range fs {
		for _, s := range f.statements {
			for _, o := range s.ops {
				out = append(out, Operation{Feature: f.name, Service: o.service, Name: o.name, Action: o.action})
			}
		}
		for _, o := range f.unsigned {
			out = append(out, Operation{Feature: f.name, Service: o.service, Name: o.name})
		}
	}
	return out, nil
}

// Actions returns the IAM actions Policy(features) allows, as sorted "service:Action" strings
// without duplicates.
func Actions(features []string) ([]string, error) {
	ops, err := Operations(features)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range ops {
		if o.Action != "" {
			out = append(out, o.Action)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// document is an IAM policy document as Policy writes it.
type document struct {
	Version   string
	Statement []policyStatement
}

// policyStatement is one statement of a document. Resource is a string when the statement
// has one resource ("*" or an ARN pattern), else a list; Action is always a list.
type policyStatement struct {
	Sid       string
	Effect    string
	Action    []string
	Resource  any
	Condition map[string]map[string]string `json:",omitempty"`
}

// build returns the policy document for the features.
func build(features []string) (document, error) {
	fs, err := resolve(features)
	if err != nil {
		return document{}, err
	}
	doc := document{Version: version}
	for _, f := range fs {
		for _, s := range f.statements {
			st := policyStatement{Sid: s.sid, Effect: "Allow", Condition: s.condition}
			for _, o := range s.ops {
				st.Action = append(st.Action, o.action)
			}
			slices.Sort(st.Action)
			if len(s.resources) == 1 {
				st.Resource = s.resources[0]
			} else {
				st.Resource = slices.Clone(s.resources)
			}
			doc.Statement = append(doc.Statement, st)
		}
	}
	return doc, nil
}

// Policy returns the IAM policy document (Version 2012-10-17) that allows the calls deskpilot
// makes with the features, as JSON indented by two spaces and ending in a newline: the
// document to attach to deskpilot's role or user. Its statements are sts:GetCallerIdentity's,
// then each chosen feature's in the order of Features. No features means Defaults; a feature
// brings in those it requires (sns brings resets); an unknown name is an error naming the
// valid ones.
func Policy(features []string) (string, error) { return PolicyFor(features, nil) }

// roleARN is an IAM role ARN.
var roleARN = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)

// PolicyFor is Policy with, when roles are given, a last statement (Sid AssumeTargetRoles)
// allowing sts:AssumeRole on them: the roles of the targets deskpilot serves in other accounts
// (targets[].role_arn). Each role then needs the policy of the features itself.
func PolicyFor(features, roles []string) (string, error) {
	doc, err := build(features)
	if err != nil {
		return "", err
	}
	if len(roles) > 0 {
		for _, r := range roles {
			if !roleARN.MatchString(r) {
				return "", fmt.Errorf("%q is not an IAM role ARN such as arn:aws:iam::111111111111:role/deskpilot", r)
			}
		}
		st := policyStatement{Sid: "AssumeTargetRoles", Effect: "Allow", Action: []string{"sts:AssumeRole"}}
		if len(roles) == 1 {
			st.Resource = roles[0]
		} else {
			st.Resource = slices.Clone(roles)
		}
		doc.Statement = append(doc.Statement, st)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode policy: %w", err)
	}
	return string(b) + "\n", nil
}
