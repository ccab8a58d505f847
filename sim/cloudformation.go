package sim

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// A minimal CloudFormation (query protocol, Version=2010-05-15): CreateStack, UpdateStack,
// DescribeStacks and DeleteStack, enough for `deskpilot bootstrap --apply` to run against the
// emulator. Templates (JSON or YAML, short-form tags included) are parsed and their intrinsic
// functions resolved; two resource types act on the emulated world, AWS::SQS::Queue (a queue
// of the emulated SQS) and AWS::Events::Rule (its queue targets become event targets, filtered
// by its EventPattern); every other resource is kept with a made-up physical id and does
// nothing. Stacks complete at once: the status a call leaves is *_COMPLETE, or
// ROLLBACK_COMPLETE / UPDATE_ROLLBACK_COMPLETE when a resource failed, with nothing changed.

const (
	cfnVersion   = "2010-05-15"
	cfnNamespace = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
)

// cfnStack is a stack. Its resources own the queues and event targets they made.
type cfnStack struct {
	id, name, description string
	// template is the parsed template, params the parameter values in effect.
	template     map[string]any
	body         string
	params       map[string]string
	capabilities []string
	tags         []cfnTag
	status       string
	reason       string
	created      time.Time
	updated      time.Time
	outputs      []cfnOutput
	resources    map[string]*cfnResource
}

type cfnTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type cfnOutput struct {
	OutputKey   string `xml:"OutputKey"`
	OutputValue string `xml:"OutputValue"`
	Description string `xml:"Description,omitempty"`
	ExportName  string `xml:"ExportName,omitempty"`
}

// cfnResource is one resource of a stack: its physical id (what Ref answers) and the values
// Fn::GetAtt answers.
type cfnResource struct {
	logical, typ, physical string
	atts                   map[string]string
	props                  map[string]any
	// queue is the name of the queue an AWS::SQS::Queue made, with its canonical attributes
	// and tags; targets are the event targets of an AWS::Events::Rule.
	queue      string
	queueAttrs map[string]string
	redrive    *redrivePolicy
	queueTags  map[string]string
	targets    []*eventTarget
}

// cfnError is a CloudFormation error: ValidationError and the modelled exceptions, HTTP 400.
func cfnError(code, format string, args ...any) *wire.Error {
	return wire.Errorf(code, format, args...)
}

func validationError(format string, args ...any) *wire.Error {
	return cfnError("ValidationError", format, args...)
}

// serveCloudFormation answers a CloudFormation query call (the router has parsed the form).
func (s *Sim) serveCloudFormation(w http.ResponseWriter, r *http.Request, action string) {
	var out any
	var err error
	form := r.PostForm
	base := requestBase(r)
	switch action {
	case "CreateStack":
		out, err = s.cfnCreateStack(form, base)
	case "UpdateStack":
		out, err = s.cfnUpdateStack(form, base)
	case "DescribeStacks":
		out, err = s.cfnDescribeStacks(form)
	case "DeleteStack":
		out, err = s.cfnDeleteStack(form)
	default:
		err = cfnError("InvalidAction", "Could not find operation %s for version %s (deskpilot sim answers CreateStack, UpdateStack, DescribeStacks and DeleteStack).", action, cfnVersion)
	}
	if err != nil {
		wire.WriteQueryError(w, cfnNamespace, asWireError(err))
		return
	}
	wire.WriteQuery(w, cfnResponse(action, out, w.Header().Get("X-Amzn-Requestid")))
}

// cfnResponse wraps a result as <ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>.
func cfnResponse(action string, result any, requestID string) any {
	type metadata struct {
		RequestID string `xml:"RequestId"`
	}
	type response struct {
		XMLName  xml.Name
		Xmlns    string   `xml:"xmlns,attr"`
		Result   any      `xml:",omitempty"`
		Metadata metadata `xml:"ResponseMetadata"`
	}
	resp := response{XMLName: xml.Name{Local: action + "Response"}, Xmlns: cfnNamespace, Metadata: metadata{requestID}}
	if result != nil {
		resp.Result = result
	}
	return resp
}

// formList reads PREFIX.member.1, PREFIX.member.2, … .
func formList(form url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[prefix+".member."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// formStructs reads PREFIX.member.N.FIELD for N = 1, 2, … while any field is present.
func formStructs(form url.Values, prefix string, fields ...string) []map[string]string {
	var out []map[string]string
	for i := 1; ; i++ {
		item := map[string]string{}
		for _, f := range fields {
			if v, ok := form[prefix+".member."+strconv.Itoa(i)+"."+f]; ok {
				item[f] = v[0]
			}
		}
		if len(item) == 0 {
			return out
		}
		out = append(out, item)
	}
}

var stackNameRE = regexp.MustCompile(`^[a-zA-Z][-a-zA-Z0-9]{0,127}$`)

var cfnCapabilities = []string{"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"}

// stackRequest is what CreateStack and UpdateStack share.
type stackRequest struct {
	name         string
	body         string
	template     map[string]any
	params       map[string]string
	capabilities []string
	tags         []cfnTag
	tagsGiven    bool
}

// readStackRequest reads and checks the members CreateStack and UpdateStack share. prev is the
// stack being updated (nil on create), for UsePreviousTemplate and UsePreviousValue.
func (s *Sim) readStackRequest(form url.Values, prev *cfnStack) (*stackRequest, error) {
	req := &stackRequest{name: form.Get("StackName")}
	if _, ok := form["StackName"]; !ok {
		return nil, validationError("1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null")
	}
	switch {
	case form.Get("TemplateURL") != "":
		return nil, validationError("deskpilot sim does not fetch templates: pass TemplateBody instead of TemplateURL")
	case len(form.Get("TemplateBody")) > 51200:
		return nil, validationError("1 validation error detected: Value at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to 51200")
	case form.Get("TemplateBody") != "":
		req.body = form.Get("TemplateBody")
	case prev != nil && form.Get("UsePreviousTemplate") == "true":
		req.body = prev.body
	default:
		return nil, validationError("Either Template URL or Template Body must be specified.")
	}
	tpl, err := parseTemplate(req.body)
	if err != nil {
		return nil, err
	}
	req.template = tpl
	req.capabilities = formList(form, "Capabilities")
	for _, c := range req.capabilities {
		if !slices.Contains(cfnCapabilities, c) {
			return nil, validationError("1 validation error detected: Value '[%s]' at 'capabilities' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [CAPABILITY_AUTO_EXPAND, CAPABILITY_NAMED_IAM, CAPABILITY_IAM]]", c)
		}
	}
	if err := checkCapabilities(tpl, req.capabilities); err != nil {
		return nil, err
	}
	given := map[string]string{}
	for _, p := range formStructs(form, "Parameters", "ParameterKey", "ParameterValue", "UsePreviousValue") {
		key := p["ParameterKey"]
		if p["UsePreviousValue"] == "true" {
			if prev == nil {
				return nil, validationError("UsePreviousValue is only valid when updating a stack (parameter %s)", key)
			}
			v, ok := prev.params[key]
			if !ok {
				return nil, validationError("Invalid input for parameter key %s. Cannot specify usePreviousValue as true for a parameter key not in the previous template", key)
			}
			given[key] = v
			continue
		}
		given[key] = p["ParameterValue"]
	}
	if req.params, err = templateParams(tpl, given); err != nil {
		return nil, err
	}
	for _, t := range formStructs(form, "Tags", "Key", "Value") {
		req.tags = append(req.tags, cfnTag{Key: t["Key"], Value: t["Value"]})
		req.tagsGiven = true
	}
	return req, nil
}

// cfnIAMNames are the IAM resource types whose name property makes a template need
// CAPABILITY_NAMED_IAM (any IAM resource needs at least CAPABILITY_IAM).
var cfnIAMNames = map[string]string{
	"AWS::IAM::Role": "RoleName", "AWS::IAM::User": "UserName", "AWS::IAM::Group": "GroupName",
	"AWS::IAM::InstanceProfile": "InstanceProfileName", "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
	"AWS::IAM::Policy": "", "AWS::IAM::AccessKey": "", "AWS::IAM::UserToGroupAddition": "",
}

// checkCapabilities refuses a template with IAM resources without the capability AWS asks for.
func checkCapabilities(tpl map[string]any, caps []string) error {
	need := ""
	resources, _ := tpl["Resources"].(map[string]any)
	for _, r := range resources {
		def, _ := r.(map[string]any)
		typ, _ := def["Type"].(string)
		nameProp, iam := cfnIAMNames[typ]
		if !iam {
			continue
		}
		if need == "" {
			need = "CAPABILITY_IAM"
		}
		props, _ := def["Properties"].(map[string]any)
		if _, named := props[nameProp]; nameProp != "" && named {
			need = "CAPABILITY_NAMED_IAM"
		}
	}
	switch {
	case need == "", slices.Contains(caps, "CAPABILITY_NAMED_IAM"):
		return nil
	case need == "CAPABILITY_IAM" && slices.Contains(caps, "CAPABILITY_IAM"):
		return nil
	}
	return cfnError("InsufficientCapabilitiesException", "Requires capabilities : [%s]", need)
}

var cfnSections = []string{"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings", "Conditions", "Transform", "Resources", "Outputs"}

// parseTemplate reads a JSON or YAML template into plain values, the YAML short forms (!Ref,
// !GetAtt, !Sub, …) turned into their long forms, and checks its sections.
func parseTemplate(body string) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(body), &doc); err != nil {
		return nil, validationError("Template format error: YAML not well-formed. (%v)", err)
	}
	if len(doc.Content) == 0 {
		return nil, validationError("Template format error: At least one Resources member must be defined.")
	}
	v, err := (&yamlWalk{active: map[*yaml.Node]bool{}}).value(doc.Content[0])
	if err != nil {
		return nil, validationError("Template format error: %v", err)
	}
	tpl, ok := v.(map[string]any)
	if !ok {
		return nil, validationError("Template format error: a template is a JSON object or a YAML mapping")
	}
	var unknown []string
	for _, k := range sortedKeys(tpl) {
		if !slices.Contains(cfnSections, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return nil, validationError("Template format error: Invalid template property or properties [%s]", strings.Join(unknown, ", "))
	}
	if v, ok := tpl["AWSTemplateFormatVersion"]; ok && fmt.Sprint(v) != "2010-09-09" {
		return nil, validationError("Template format error: Unsupported template version %v", v)
	}
	for _, k := range []string{"Rules", "Mappings", "Conditions", "Transform"} {
		if _, ok := tpl[k]; ok {
			return nil, validationError("deskpilot sim does not support the template section %s", k)
		}
	}
	resources, ok := tpl["Resources"].(map[string]any)
	if !ok || len(resources) == 0 {
		return nil, validationError("Template format error: At least one Resources member must be defined.")
	}
	for _, id := range sortedKeys(resources) {
		def, ok := resources[id].(map[string]any)
		if !ok {
			return nil, validationError("Template format error: [/Resources/%s] resource definition is malformed", id)
		}
		if typ, ok := def["Type"].(string); !ok || typ == "" {
			return nil, validationError("Template format error: [/Resources/%s] Every Resources object must contain a Type member.", id)
		}
		if _, ok := def["Condition"]; ok {
			return nil, validationError("deskpilot sim does not support conditions (resource %s)", id)
		}
	}
	return tpl, nil
}

// maxTemplateNodes bounds the values a template may expand to (YAML aliases can multiply
// them); CloudFormation's own limit on a template body is 51,200 bytes.
const maxTemplateNodes = 100000

// yamlWalk turns YAML nodes into maps, lists and scalars, refusing an alias inside its own
// anchor and an expansion past maxTemplateNodes.
type yamlWalk struct {
	nodes  int
	active map[*yaml.Node]bool
}

func (y *yamlWalk) value(n *yaml.Node) (any, error) {
	if y.nodes++; y.nodes > maxTemplateNodes {
		return nil, fmt.Errorf("the template expands to more than %d values", maxTemplateNodes)
	}
	var v any
	switch n.Kind {
	case yaml.AliasNode:
		if y.active[n.Alias] {
			return nil, fmt.Errorf("alias *%s at line %d refers to a value that contains it", n.Value, n.Line)
		}
		return y.value(n.Alias)
	case yaml.MappingNode:
		y.active[n] = true
		defer delete(y.active, n)
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := y.value(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		y.active[n] = true
		defer delete(y.active, n)
		list := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := y.value(c)
			if err != nil {
				return nil, err
			}
			list = append(list, val)
		}
		v = list
	case yaml.ScalarNode:
		if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unexpected YAML at line %d", n.Line)
	}
	return shortForm(n.Tag, v), nil
}

// shortForm turns a YAML short-form intrinsic (!Ref X, !GetAtt A.B, !Sub …) into its long form.
func shortForm(tag string, v any) any {
	if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") {
		return v
	}
	name := tag[1:]
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}
	case "GetAtt":
		if str, ok := v.(string); ok {
			res, att, _ := strings.Cut(str, ".")
			v = []any{res, att}
		}
	}
	return map[string]any{"Fn::" + name: v}
}

// templateParams resolves the template's parameters from the given values and the defaults.
func templateParams(tpl map[string]any, given map[string]string) (map[string]string, error) {
	defs, _ := tpl["Parameters"].(map[string]any)
	var unknown, missing []string
	for _, k := range sortedKeys(given) {
		if _, ok := defs[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return nil, validationError("Parameters: [%s] do not exist in the template", strings.Join(unknown, ", "))
	}
	out := map[string]string{}
	for _, k := range sortedKeys(defs) {
		def, ok := defs[k].(map[string]any)
		if !ok || def["Type"] == nil {
			return nil, validationError("Template format error: Every Parameters object must contain a Type member.")
		}
		v, ok := given[k]
		if !ok {
			d, has := def["Default"]
			if !has {
				missing = append(missing, k)
				continue
			}
			v = scalarString(d)
		}
		if allowed, ok := def["AllowedValues"].([]any); ok {
			found := false
			for _, a := range allowed {
				found = found || scalarString(a) == v
			}
			if !found {
				return nil, validationError("Parameter '%s' must be one of AllowedValues", k)
			}
		}
		out[k] = v
	}
	if len(missing) > 0 {
		return nil, validationError("Parameters: [%s] must have values", strings.Join(missing, ", "))
	}
	return out, nil
}

// scalarString is a template scalar as CloudFormation passes it on: a string.
func scalarString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// cfnPlan resolves a template against the emulated world without changing it: the physical id
// and attributes of every resource, and the outputs. A template error (an unresolvable
// reference, an unsupported function) is a ValidationError of the call; a resource the
// emulator would refuse (a bad queue attribute, a taken queue name, a bad event pattern) is a
// resource failure, which rolls the stack back.
type cfnPlan struct {
	s         *Sim
	base      string
	stackName string
	stackID   string
	params    map[string]string
	paramDefs map[string]any
	defs      map[string]any
	prev      map[string]*cfnResource
	done      map[string]*cfnResource
	visiting  []string
	// failed is the first resource failure, by logical id.
	failed, failure string
}

// noValue is AWS::NoValue: the property it is the value of is left out.
type noValue struct{}

func (p *cfnPlan) resource(id string) (*cfnResource, error) {
	if r, ok := p.done[id]; ok {
		return r, nil
	}
	if slices.Contains(p.visiting, id) {
		return nil, validationError("Circular dependency between resources: [%s]", strings.Join(append(slices.Clone(p.visiting), id), ", "))
	}
	raw, ok := p.defs[id].(map[string]any)
	if !ok {
		return nil, validationError("Template format error: Unresolved resource dependencies [%s] in the Resources block of the template", id)
	}
	p.visiting = append(p.visiting, id)
	defer func() { p.visiting = p.visiting[:len(p.visiting)-1] }()
	for _, dep := range dependsOn(raw["DependsOn"]) {
		if _, err := p.resource(dep); err != nil {
			return nil, err
		}
	}
	props := map[string]any{}
	if raw["Properties"] != nil {
		v, err := p.resolve(raw["Properties"])
		if err != nil {
			return nil, err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, validationError("Template format error: [/Resources/%s/Properties] must be an object", id)
		}
		props = m
	}
	r := &cfnResource{logical: id, typ: raw["Type"].(string), props: props, atts: map[string]string{}}
	p.identify(r)
	p.done[id] = r
	return r, nil
}

func dependsOn(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, d := range v {
			if s, ok := d.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// generatedName is the name CloudFormation gives a resource without one:
// STACK-LOGICALID-RANDOM, at most max characters.
func (p *cfnPlan) generatedName(r *cfnResource, max int) string {
	if prev := p.prev[r.logical]; prev != nil && prev.typ == r.typ {
		return prev.physical
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	suffix := make([]byte, 12)
	for i := range suffix {
		suffix[i] = alphabet[p.s.rng.IntN(len(alphabet))]
	}
	head := p.stackName + "-" + r.logical
	if len(head)+13 > max {
		head = head[:max-13]
	}
	return head + "-" + string(suffix)
}

// identify sets a resource's physical id and the attributes Fn::GetAtt can read.
func (p *cfnPlan) identify(r *cfnResource) {
	account, region := p.s.opts.AccountID, p.s.opts.Region
	named := func(prop string, max int) string {
		if v, ok := r.props[prop].(string); ok && v != "" {
			return v
		}
		if prev := p.prev[r.logical]; prev != nil && prev.typ == r.typ && prev.queue != "" {
			return prev.queue
		}
		return p.generatedName(r, max)
	}
	switch r.typ {
	case "AWS::SQS::Queue":
		r.queue = named("QueueName", 80)
		r.physical = p.s.queueURL(p.base, r.queue)
		r.atts["Arn"], r.atts["QueueName"], r.atts["QueueUrl"] = p.s.queueARN(r.queue), r.queue, r.physical
	case "AWS::Events::Rule":
		r.physical = named("Name", 64)
		arn := "arn:aws:events:" + region + ":" + account + ":rule/" + r.physical
		if bus, _ := r.props["EventBusName"].(string); bus != "" && bus != "default" {
			arn = "arn:aws:events:" + region + ":" + account + ":rule/" + bus + "/" + r.physical
		}
		r.atts["Arn"] = arn
	case "AWS::IAM::Role":
		r.physical = named("RoleName", 64)
		path, _ := r.props["Path"].(string)
		if path == "" {
			path = "/"
		}
		r.atts["Arn"] = "arn:aws:iam::" + account + ":role" + path + r.physical
		r.atts["RoleId"] = "AROA" + userIDFor("role/" + account + "/" + r.physical)[4:]
	case "AWS::IAM::InstanceProfile":
		r.physical = named("InstanceProfileName", 128)
		r.atts["Arn"] = "arn:aws:iam::" + account + ":instance-profile/" + r.physical
	case "AWS::IAM::ManagedPolicy":
		r.physical = "arn:aws:iam::" + account + ":policy/" + named("ManagedPolicyName", 128)
		r.atts["PolicyArn"] = r.physical
	default:
		r.physical = p.generatedName(r, 128)
	}
}

// resolve evaluates the intrinsic functions in a template value.
func (p *cfnPlan) resolve(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return p.intrinsic(k, arg)
				}
			}
		}
		out := make(map[string]any, len(v))
		for k, val := range v {
			r, err := p.resolve(val)
			if err != nil {
				return nil, err
			}
			if _, drop := r.(noValue); !drop {
				out[k] = r
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(v))
		for _, val := range v {
			r, err := p.resolve(val)
			if err != nil {
				return nil, err
			}
			if _, drop := r.(noValue); !drop {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return v, nil
}

func (p *cfnPlan) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, validationError("Template error: every Ref object must have a single String value.")
		}
		return p.ref(name)
	case "Fn::GetAtt":
		var parts []string
		switch a := arg.(type) {
		case string:
			res, att, _ := strings.Cut(a, ".")
			parts = []string{res, att}
		case []any:
			for _, x := range a {
				s, ok := x.(string)
				if !ok {
					return nil, validationError("Template error: every Fn::GetAtt object requires two non-empty parameters")
				}
				parts = append(parts, s)
			}
		}
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return nil, validationError("Template error: every Fn::GetAtt object requires two non-empty parameters")
		}
		return p.getAtt(parts[0], parts[1])
	case "Fn::Sub":
		return p.sub(arg)
	case "Fn::Join":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, validationError("Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined")
		}
		delim, ok := a[0].(string)
		list, err := p.resolve(a[1])
		items, isList := list.([]any)
		if err != nil {
			return nil, err
		}
		if !ok || !isList {
			return nil, validationError("Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined")
		}
		parts := make([]string, len(items))
		for i, it := range items {
			parts[i] = scalarString(it)
		}
		return strings.Join(parts, delim), nil
	case "Fn::Select":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, validationError("Template error: Fn::Select requires a list argument with two elements: an integer index and a list")
		}
		idx, err := p.resolve(a[0])
		if err != nil {
			return nil, err
		}
		list, err := p.resolve(a[1])
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(scalarString(idx))
		items, isList := list.([]any)
		if err != nil || !isList || i < 0 || i >= len(items) {
			return nil, validationError("Template error: Fn::Select cannot select nonexistent value at index %v", idx)
		}
		return items[i], nil
	}
	return nil, validationError("deskpilot sim does not support the intrinsic function %s", fn)
}

func (p *cfnPlan) ref(name string) (any, error) {
	switch name {
	case "AWS::Region":
		return p.s.opts.Region, nil
	case "AWS::AccountId":
		return p.s.opts.AccountID, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::StackName":
		return p.stackName, nil
	case "AWS::StackId":
		return p.stackID, nil
	case "AWS::NoValue":
		return noValue{}, nil
	case "AWS::NotificationARNs":
		return []any{}, nil
	}
	if v, ok := p.params[name]; ok {
		def, _ := p.paramDefs[name].(map[string]any)
		if typ, _ := def["Type"].(string); typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
			var list []any
			for _, item := range strings.Split(v, ",") {
				list = append(list, strings.TrimSpace(item))
			}
			return list, nil
		}
		return v, nil
	}
	if _, ok := p.defs[name]; !ok {
		return nil, validationError("Template format error: Unresolved resource dependencies [%s] in the Resources block of the template", name)
	}
	r, err := p.resource(name)
	if err != nil {
		return nil, err
	}
	return r.physical, nil
}

func (p *cfnPlan) getAtt(name, att string) (any, error) {
	if _, ok := p.defs[name]; !ok {
		return nil, validationError("Template error: instance of Fn::GetAtt references undefined resource %s", name)
	}
	r, err := p.resource(name)
	if err != nil {
		return nil, err
	}
	v, ok := r.atts[att]
	if !ok {
		return nil, validationError("Template error: deskpilot sim cannot resolve Fn::GetAtt %s.%s (it knows Arn of queues, rules, roles and instance profiles, QueueName and QueueUrl of queues, RoleId of roles)", name, att)
	}
	return v, nil
}

var subVarRE = regexp.MustCompile(`\$\{([^}]*)\}`)

func (p *cfnPlan) sub(arg any) (any, error) {
	var tpl string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		tpl = a
	case []any:
		if len(a) != 2 {
			return nil, validationError("Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string")
		}
		tpl, _ = a[0].(string)
		m, _ := a[1].(map[string]any)
		for k, v := range m {
			r, err := p.resolve(v)
			if err != nil {
				return nil, err
			}
			vars[k] = r
		}
	default:
		return nil, validationError("Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string")
	}
	var failure error
	out := subVarRE.ReplaceAllStringFunc(tpl, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}"
		}
		if v, ok := vars[name]; ok {
			return scalarString(v)
		}
		var v any
		var err error
		if res, att, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
			v, err = p.getAtt(res, att)
		} else {
			v, err = p.ref(name)
		}
		if err != nil && failure == nil {
			failure = err
		}
		return scalarString(v)
	})
	if failure != nil {
		return nil, failure
	}
	return out, nil
}

// plan resolves every resource and output of tpl.
func (s *Sim) plan(tpl map[string]any, params map[string]string, stackName, stackID, base string, prev map[string]*cfnResource) (*cfnPlan, []cfnOutput, error) {
	p := &cfnPlan{s: s, base: base, stackName: stackName, stackID: stackID, params: params, prev: prev, done: map[string]*cfnResource{}}
	p.defs, _ = tpl["Resources"].(map[string]any)
	p.paramDefs, _ = tpl["Parameters"].(map[string]any)
	for _, id := range sortedKeys(p.defs) {
		if _, err := p.resource(id); err != nil {
			return nil, nil, err
		}
	}
	var outputs []cfnOutput
	defs, _ := tpl["Outputs"].(map[string]any)
	for _, k := range sortedKeys(defs) {
		def, ok := defs[k].(map[string]any)
		if !ok || def["Value"] == nil {
			return nil, nil, validationError("Template format error: Every Outputs member must contain a Value object")
		}
		v, err := p.resolve(def["Value"])
		if err != nil {
			return nil, nil, err
		}
		o := cfnOutput{OutputKey: k, OutputValue: outputString(v)}
		if d, err := p.resolve(def["Description"]); err == nil && d != nil {
			o.Description = scalarString(d)
		}
		if exp, ok := def["Export"].(map[string]any); ok {
			if n, err := p.resolve(exp["Name"]); err == nil {
				o.ExportName = scalarString(n)
			}
		}
		outputs = append(outputs, o)
	}
	p.check()
	return p, outputs, nil
}

// outputString is an output's value as DescribeStacks shows it (a list joined by commas).
func outputString(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = scalarString(x)
		}
		return strings.Join(parts, ",")
	}
	return scalarString(v)
}

// cfnQueueProps maps AWS::SQS::Queue properties onto queue attributes.
var cfnQueueProps = map[string]string{
	"DelaySeconds": "DelaySeconds", "MaximumMessageSize": "MaximumMessageSize", "MessageRetentionPeriod": "MessageRetentionPeriod",
	"ReceiveMessageWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout": "VisibilityTimeout",
	"RedrivePolicy": "RedrivePolicy", "RedriveAllowPolicy": "RedriveAllowPolicy", "KmsMasterKeyId": "KmsMasterKeyId",
	"KmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled": "SqsManagedSseEnabled",
	"FifoQueue": "FifoQueue", "ContentBasedDeduplication": "ContentBasedDeduplication", "DeduplicationScope": "DeduplicationScope",
	"FifoThroughputLimit": "FifoThroughputLimit",
}

// check validates what the emulator acts on: the queues' attributes and names, and the rules'
// patterns and queue targets. The first failure is kept in p.failed and p.failure.
func (p *cfnPlan) check() {
	fail := func(id string, err error) {
		if p.failed == "" {
			p.failed, p.failure = id, err.Error()
		}
	}
	planned := map[string]bool{}
	names := map[string]string{}
	for _, id := range sortedKeys(p.done) {
		if r := p.done[id]; r.queue != "" && r.typ == "AWS::SQS::Queue" {
			planned[r.atts["Arn"]] = true
			if other, dup := names[r.queue]; dup {
				fail(id, fmt.Errorf("%s already exists in stack (resource %s)", r.queue, other))
			}
			names[r.queue] = id
		}
	}
	owned := map[string]bool{}
	for _, r := range p.prev {
		if r.queue != "" {
			owned[r.queue] = true
		}
	}
	for _, id := range sortedKeys(p.done) {
		r := p.done[id]
		switch r.typ {
		case "AWS::SQS::Queue":
			attrs := map[string]string{}
			tags := map[string]string{}
			for _, k := range sortedKeys(r.props) {
				v := r.props[k]
				switch attr, ok := cfnQueueProps[k]; {
				case k == "QueueName":
				case k == "Tags":
					for _, t := range asList(v) {
						tm, _ := t.(map[string]any)
						tags[scalarString(tm["Key"])] = scalarString(tm["Value"])
					}
				case !ok:
					fail(id, fmt.Errorf("Encountered unsupported property %s", k))
				case k == "RedrivePolicy" || k == "RedriveAllowPolicy":
					if str, isStr := v.(string); isStr {
						attrs[attr] = str
					} else {
						b, _ := json.Marshal(v)
						attrs[attr] = string(b)
					}
				default:
					attrs[attr] = scalarString(v)
				}
			}
			set, rp, err := p.s.canonicalAttrs(attrs, planned)
			if err != nil {
				var se *sqsErr
				if errors.As(err, &se) {
					err = errors.New(se.message)
				}
				fail(id, err)
				continue
			}
			r.queueAttrs, r.redrive, r.queueTags = set, rp, tags
			if _, exists := p.s.sqs.queues[r.queue]; exists && !owned[r.queue] {
				fail(id, fmt.Errorf("%s already exists", r.queue))
			}
			if at, ok := p.s.sqs.deleted[r.queue]; ok && !owned[r.queue] && p.s.now.Sub(at) < p.s.scale(sqsRecentlyDeleted) {
				fail(id, fmt.Errorf("You must wait 60 seconds after deleting a queue before you can create another with the same name."))
			}
		case "AWS::Events::Rule":
			raw, ok := r.props["EventPattern"]
			if !ok {
				continue // a scheduled rule: the emulator sends no scheduled events
			}
			var b []byte
			if str, isStr := raw.(string); isStr {
				b = []byte(str)
			} else {
				b, _ = json.Marshal(raw)
			}
			pattern, err := parsePattern(b)
			if err != nil {
				fail(id, err)
				continue
			}
			if state, _ := r.props["State"].(string); state == "DISABLED" {
				continue
			}
			for _, t := range asList(r.props["Targets"]) {
				tm, _ := t.(map[string]any)
				arn, _ := tm["Arn"].(string)
				name, ok := strings.CutPrefix(arn, "arn:aws:sqs:"+p.s.opts.Region+":"+p.s.opts.AccountID+":")
				if !ok || (!planned[arn] && p.s.sqs.queues[name] == nil) {
					continue // not a queue of the emulator: kept, not acted on
				}
				r.targets = append(r.targets, &eventTarget{url: p.s.queueURL(p.base, name), queue: name, rule: r.atts["Arn"],
					stack: p.stackID, pattern: pattern, raw: json.RawMessage(b)})
			}
		}
	}
}

func asList(v any) []any {
	list, _ := v.([]any)
	return list
}

// apply makes the world match the plan: it creates or updates the planned queues (an updated
// queue gets the template's attributes, the others back to their defaults), deletes the queues
// of prev the plan no longer has, and replaces the stack's event targets. Everything was
// checked before, so it cannot fail.
func (s *Sim) apply(p *cfnPlan) map[string]*cfnResource {
	keep := map[string]bool{}
	for _, id := range sortedKeys(p.done) {
		r := p.done[id]
		if r.typ != "AWS::SQS::Queue" {
			continue
		}
		keep[r.queue] = true
	}
	for _, r := range p.prev {
		if r.queue != "" && !keep[r.queue] {
			if q := s.sqs.queues[r.queue]; q != nil {
				s.deleteQueueLocked(q)
			}
		}
	}
	for _, id := range sortedKeys(p.done) {
		r := p.done[id]
		if r.typ != "AWS::SQS::Queue" {
			continue
		}
		if q := s.sqs.queues[r.queue]; q != nil {
			all := map[string]string{}
			for k, v := range sqsDefaults {
				all[k] = v
			}
			for _, k := range sqsRemovable {
				all[k] = ""
			}
			for k, v := range r.queueAttrs {
				all[k] = v
			}
			q.setAttrs(all, r.redrive)
			q.tags = r.queueTags
			q.modified = s.now
			continue
		}
		name := r.queue
		q, _, err := s.createQueueLocked(&name, nil, r.queueTags, nil)
		if err != nil {
			continue // checked in plan; cannot happen
		}
		q.setAttrs(r.queueAttrs, r.redrive)
	}
	s.sqs.targets = slices.DeleteFunc(s.sqs.targets, func(t *eventTarget) bool { return t.stack == p.stackID })
	for _, id := range sortedKeys(p.done) {
		s.sqs.targets = append(s.sqs.targets, p.done[id].targets...)
	}
	return p.done
}

// findStack finds a stack by name or stack id.
func (s *Sim) findStack(nameOrID string) *cfnStack {
	if st, ok := s.cfnStacks[nameOrID]; ok {
		return st
	}
	for _, st := range s.cfnStacks {
		if st.id == nameOrID {
			return st
		}
	}
	return nil
}

// stackIDResult is the result of CreateStack and UpdateStack.
type stackIDResult struct {
	XMLName xml.Name
	StackID string `xml:"StackId"`
}

func newStackIDResult(action, id string) stackIDResult {
	return stackIDResult{XMLName: xml.Name{Local: action + "Result"}, StackID: id}
}

func (s *Sim) cfnCreateStack(form url.Values, base string) (any, error) {
	s.lock()
	defer s.mu.Unlock()
	req, err := s.readStackRequest(form, nil)
	if err != nil {
		return nil, err
	}
	if !stackNameRE.MatchString(req.name) {
		return nil, validationError("1 validation error detected: Value '%s' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*|arn:[-a-zA-Z0-9:/._+]*", req.name)
	}
	if s.cfnStacks[req.name] != nil {
		return nil, cfnError("AlreadyExistsException", "Stack [%s] already exists", req.name)
	}
	id := fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%s", s.opts.Region, s.opts.AccountID, req.name, newUUID(s))
	p, outputs, err := s.plan(req.template, req.params, req.name, id, base, nil)
	if err != nil {
		return nil, err
	}
	st := &cfnStack{id: id, name: req.name, description: scalarString(req.template["Description"]), template: req.template, body: req.body,
		params: req.params, capabilities: req.capabilities, tags: req.tags, created: s.now, resources: map[string]*cfnResource{}}
	switch {
	case p.failed == "":
		st.resources = s.apply(p)
		st.outputs = outputs
		st.status = "CREATE_COMPLETE"
	case form.Get("OnFailure") == "DELETE":
		return newStackIDResult("CreateStack", id), nil // created, failed and deleted before anyone looks
	case form.Get("OnFailure") == "DO_NOTHING" || form.Get("DisableRollback") == "true":
		st.status = "CREATE_FAILED"
		st.reason = fmt.Sprintf("The following resource(s) failed to create: [%s]. %s: %s", p.failed, p.failed, p.failure)
	default:
		st.status = "ROLLBACK_COMPLETE"
		st.reason = fmt.Sprintf("The following resource(s) failed to create: [%s]. Rollback requested by user. %s: %s", p.failed, p.failed, p.failure)
	}
	s.cfnStacks[st.name] = st
	return newStackIDResult("CreateStack", id), nil
}

func (s *Sim) cfnUpdateStack(form url.Values, base string) (any, error) {
	s.lock()
	defer s.mu.Unlock()
	name := form.Get("StackName")
	st := s.findStack(name)
	if st == nil {
		if _, ok := form["StackName"]; !ok {
			return nil, validationError("1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null")
		}
		return nil, validationError("Stack [%s] does not exist", name)
	}
	switch st.status {
	case "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE":
	default:
		return nil, validationError("Stack:%s is in %s state and can not be updated.", st.id, st.status)
	}
	req, err := s.readStackRequest(form, st)
	if err != nil {
		return nil, err
	}
	if reflect.DeepEqual(req.template, st.template) && reflect.DeepEqual(req.params, st.params) && (!req.tagsGiven || reflect.DeepEqual(req.tags, st.tags)) {
		return nil, validationError("No updates are to be performed.")
	}
	p, outputs, err := s.plan(req.template, req.params, st.name, st.id, base, st.resources)
	if err != nil {
		return nil, err
	}
	st.updated = s.now
	if p.failed != "" {
		st.status = "UPDATE_ROLLBACK_COMPLETE"
		st.reason = fmt.Sprintf("The following resource(s) failed to update: [%s]. %s: %s", p.failed, p.failed, p.failure)
		return newStackIDResult("UpdateStack", st.id), nil
	}
	st.resources = s.apply(p)
	st.outputs = outputs
	st.template, st.body, st.params, st.capabilities = req.template, req.body, req.params, req.capabilities
	st.description = scalarString(req.template["Description"])
	if req.tagsGiven {
		st.tags = req.tags
	}
	st.status, st.reason = "UPDATE_COMPLETE", ""
	return newStackIDResult("UpdateStack", st.id), nil
}

// cfnDeleteStack deletes a stack and the queues and event targets it made. Deleting a stack
// that does not exist succeeds, as in AWS.
func (s *Sim) cfnDeleteStack(form url.Values) (any, error) {
	if _, ok := form["StackName"]; !ok {
		return nil, validationError("1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null")
	}
	s.lock()
	defer s.mu.Unlock()
	st := s.findStack(form.Get("StackName"))
	if st == nil {
		return nil, nil
	}
	for _, r := range st.resources {
		if r.queue != "" {
			if q := s.sqs.queues[r.queue]; q != nil {
				s.deleteQueueLocked(q)
			}
		}
	}
	s.sqs.targets = slices.DeleteFunc(s.sqs.targets, func(t *eventTarget) bool { return t.stack == st.id })
	delete(s.cfnStacks, st.name)
	return nil, nil
}

// cfnWireStack is a stack in DescribeStacks' XML shape.
type cfnWireStack struct {
	StackID           string         `xml:"StackId"`
	StackName         string         `xml:"StackName"`
	Description       string         `xml:"Description,omitempty"`
	Parameters        []cfnWireParam `xml:"Parameters>member"`
	CreationTime      string         `xml:"CreationTime"`
	LastUpdatedTime   string         `xml:"LastUpdatedTime,omitempty"`
	StackStatus       string         `xml:"StackStatus"`
	StackStatusReason string         `xml:"StackStatusReason,omitempty"`
	DisableRollback   bool           `xml:"DisableRollback"`
	Capabilities      []string       `xml:"Capabilities>member"`
	Outputs           []cfnOutput    `xml:"Outputs>member"`
	Tags              []cfnTag       `xml:"Tags>member"`
	EnableTermination bool           `xml:"EnableTerminationProtection"`
	Drift             cfnWireDrift   `xml:"DriftInformation"`
}

type cfnWireParam struct {
	ParameterKey   string `xml:"ParameterKey"`
	ParameterValue string `xml:"ParameterValue"`
}

type cfnWireDrift struct {
	StackDriftStatus string `xml:"StackDriftStatus"`
}

func cfnTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (s *Sim) cfnDescribeStacks(form url.Values) (any, error) {
	s.lock()
	defer s.mu.Unlock()
	var stacks []*cfnStack
	if name := form.Get("StackName"); name != "" {
		st := s.findStack(name)
		if st == nil {
			return nil, validationError("Stack with id %s does not exist", name)
		}
		stacks = []*cfnStack{st}
	} else {
		for _, name := range sortedKeys(s.cfnStacks) {
			stacks = append(stacks, s.cfnStacks[name])
		}
	}
	type result struct {
		XMLName xml.Name       `xml:"DescribeStacksResult"`
		Stacks  []cfnWireStack `xml:"Stacks>member"`
	}
	out := result{Stacks: []cfnWireStack{}}
	for _, st := range stacks {
		ws := cfnWireStack{StackID: st.id, StackName: st.name, Description: st.description, CreationTime: cfnTime(st.created),
			StackStatus: st.status, StackStatusReason: st.reason, Capabilities: st.capabilities, Outputs: st.outputs, Tags: st.tags,
			Drift: cfnWireDrift{"NOT_CHECKED"}}
		if !st.updated.IsZero() {
			ws.LastUpdatedTime = cfnTime(st.updated)
		}
		for _, k := range sortedKeys(st.params) {
			ws.Parameters = append(ws.Parameters, cfnWireParam{k, st.params[k]})
		}
		out.Stacks = append(out.Stacks, ws)
	}
	return out, nil
}
