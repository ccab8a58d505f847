package iampolicy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/deskpilot/deskpilot/internal/iampolicy"
)

// The files these tests keep in step with the package, relative to this directory.
const (
	templatePath   = "../../deploy/deskpilot-iam.yaml"
	unitPath       = "../../deploy/deskpilot.service"
	operationsPath = "../../docs/operations.md"
)

// pseudo are the values !Sub gives CloudFormation's pseudo parameters in these tests: those
// of the aws partition, which Policy writes.
var pseudo = map[string]string{"${AWS::Partition}": "aws", "${AWS::URLSuffix}": "amazonaws.com"}

// cfnValue turns a YAML node of a CloudFormation template into plain values. CloudFormation's
// short tags become what their long forms would decode to: !Ref X is {"Ref": X}, !GetAtt A.B
// is {"Fn::GetAtt": [A, B]}, any other !Fn is {"Fn::Fn": value}, except that a !Sub of a
// string that uses only pseudo parameters is that string with them replaced.
func cfnValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		return cfnValue(n.Content[0])
	case yaml.AliasNode:
		return cfnValue(n.Alias)
	}
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := cfnValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		s := []any{}
		for _, c := range n.Content {
			val, err := cfnValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
			if err := n.Decode(&v); err != nil {
				return nil, err
			}
		} else {
			v = n.Value
		}
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}
	if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return v, nil
	}
	fn := strings.TrimPrefix(n.Tag, "!")
	switch s, isString := v.(string); {
	case fn == "Ref":
		return map[string]any{"Ref": v}, nil
	case fn == "GetAtt" && isString:
		res, attr, _ := strings.Cut(s, ".")
		return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
	case fn == "Sub" && isString:
		for k, val := range pseudo {
			s = strings.ReplaceAll(s, k, val)
		}
		if !strings.Contains(s, "${") {
			return s, nil
		}
	}
	return map[string]any{"Fn::" + fn: v}, nil
}

func readTemplate(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatalf("%s: %v", templatePath, err)
	}
	v, err := cfnValue(&root)
	if err != nil {
		t.Fatalf("%s: %v", templatePath, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is not a mapping", templatePath)
	}
	return m
}

// resourcesOfType returns the template's resources of a CloudFormation type by logical id.
func resourcesOfType(t *testing.T, tmpl map[string]any, typ string) map[string]map[string]any {
	t.Helper()
	resources, _ := tmpl["Resources"].(map[string]any)
	out := map[string]map[string]any{}
	for id, r := range resources {
		r, _ := r.(map[string]any)
		if r["Type"] == typ {
			props, _ := r["Properties"].(map[string]any)
			out[id] = props
		}
	}
	return out
}

// reencode turns a plain value into a policyDoc through JSON, as IAM would read it.
func reencode(t *testing.T, v any) policyDoc {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var doc policyDoc
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("not a policy document: %v\n%s", err, b)
	}
	return doc
}

// normal makes two documents comparable: Action and Resource as lists.
func normal(doc policyDoc) policyDoc {
	for i, s := range doc.Statement {
		s.Action, s.Resource = list(s.Action), list(s.Resource)
		doc.Statement[i] = s
	}
	return doc
}

// The template's managed policy is Policy(nil) statement for statement (with the partition
// filled in), attached to a role EC2 may assume, in an instance profile.
func TestCloudFormation_MatchesTheDefaultPolicy(t *testing.T) {
	tmpl := readTemplate(t)
	if v := tmpl["AWSTemplateFormatVersion"]; v != "2010-09-09" {
		t.Errorf("AWSTemplateFormatVersion = %v", v)
	}
	policies := resourcesOfType(t, tmpl, "AWS::IAM::ManagedPolicy")
	if len(policies) != 1 {
		t.Fatalf("%d managed policies, want 1", len(policies))
	}
	var policyID string
	var got policyDoc
	for id, props := range policies {
		policyID, got = id, reencode(t, props["PolicyDocument"])
	}
	want := parsePolicy(t, nil)

	var gotActions []string
	for _, s := range got.Statement {
		gotActions = append(gotActions, list(s.Action)...)
	}
	slices.Sort(gotActions)
	wantActions, _ := iampolicy.Actions(nil)
	if diff := cmp.Diff(wantActions, gotActions); diff != "" {
		t.Errorf("the template's actions are not Actions(nil) (-Actions +template):\n%s", diff)
	}
	if diff := cmp.Diff(normal(want), normal(got)); diff != "" {
		t.Errorf("the template's policy is not Policy(nil) (-Policy +template):\n%s", diff)
	}

	roles := resourcesOfType(t, tmpl, "AWS::IAM::Role")
	if len(roles) != 1 {
		t.Fatalf("%d roles, want 1", len(roles))
	}
	var roleID string
	for id, props := range roles {
		roleID = id
		b, _ := json.Marshal(props["AssumeRolePolicyDocument"])
		want := `{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"}}],"Version":"2012-10-17"}`
		if string(b) != want {
			t.Errorf("the role's trust policy is %s, want %s: EC2 may assume the role, nobody else", b, want)
		}
		if diff := cmp.Diff([]any{map[string]any{"Ref": policyID}}, props["ManagedPolicyArns"]); diff != "" {
			t.Errorf("ManagedPolicyArns (-want +got):\n%s", diff)
		}
	}
	profiles := resourcesOfType(t, tmpl, "AWS::IAM::InstanceProfile")
	if len(profiles) != 1 {
		t.Fatalf("%d instance profiles, want 1", len(profiles))
	}
	for _, props := range profiles {
		if diff := cmp.Diff([]any{map[string]any{"Ref": roleID}}, props["Roles"]); diff != "" {
			t.Errorf("instance profile Roles (-want +got):\n%s", diff)
		}
	}
}

// unit is a systemd unit file: section → key → values, in order.
type unit map[string]map[string][]string

// parseUnit reads a unit file as INI lines: [Section] headers, key=value settings, # and ;
// comments, blank lines. It does not join continued lines (the unit has none).
func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		case section == "":
			t.Fatalf("%s:%d: setting before any section", path, n)
		case strings.HasSuffix(line, `\`):
			t.Fatalf("%s:%d: continued lines are not expected", path, n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s:%d: not key=value: %q", path, n, line)
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, unitPath)
	want := map[string]map[string]string{
		"Service": {
			"ExecStart":       "/usr/local/bin/deskpilot serve --config /etc/deskpilot/deskpilot.yaml",
			"User":            "deskpilot",
			"Restart":         "on-failure",
			"StateDirectory":  "deskpilot",
			"EnvironmentFile": "-/etc/deskpilot/env",
			"NoNewPrivileges": "yes",
			"ProtectSystem":   "strict",
			"ProtectHome":     "yes",
			"PrivateTmp":      "yes",
			"ReadWritePaths":  "/var/lib/deskpilot",
		},
		"Install": {"WantedBy": "multi-user.target"},
	}
	for section, keys := range want {
		if u[section] == nil {
			t.Errorf("no [%s] section", section)
			continue
		}
		for k, v := range keys {
			if got := u[section][k]; len(got) != 1 || got[0] != v {
				t.Errorf("[%s] %s = %q, want exactly %q", section, k, got, v)
			}
		}
	}
	if u["Unit"] == nil || len(u["Unit"]["Description"]) != 1 {
		t.Errorf("[Unit] needs one Description")
	}
	// The store lives in the state directory, and relative paths resolve there.
	if got := u["Service"]["WorkingDirectory"]; len(got) != 1 || got[0] != "/var/lib/deskpilot" {
		t.Errorf("WorkingDirectory = %q, want the state directory", got)
	}
}

// docs/operations.md shows the default policy exactly as Policy(nil) writes it.
func TestOperationsDoc_ShowsTheDefaultPolicy(t *testing.T) {
	b, err := os.ReadFile(operationsPath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := iampolicy.Policy(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "```json\n"+p+"```\n") {
		t.Errorf("%s does not show Policy(nil) in a json block; paste this:\n```json\n%s```", operationsPath, p)
	}
}
