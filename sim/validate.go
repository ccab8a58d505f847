package sim

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// Patterns from the AppStream model.
var (
	appStreamNamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$`)
	// The model's last segment is {0,1023}; RE2 allows repeats up to 1000, so its length is
	// checked apart (maxARNLength).
	arnPattern = regexp.MustCompile(`^arn:aws(?:\-cn|\-iso\-b|\-iso|\-us\-gov)?:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9][A-Za-z0-9:_/+=,@.\\-]*$`)
	// The model's key pattern also forbids an "aws:" prefix, which RE2 cannot express (no
	// look-ahead); tagKeyProblem checks that separately.
	tagKeyRest   = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	tagValueRule = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// maxARNLength is the longest ARN the model's pattern admits: the prefix segments at their
// longest plus a 1024-character resource.
const maxARNLength = 1300

// validation collects constraint violations and reports them the way AWS does:
// "2 validation errors detected: Value … at '…' failed to satisfy constraint: …; …".
type validation struct {
	problems []string
}

func (v *validation) add(value any, member, constraint string) {
	var shown string
	switch x := value.(type) {
	case nil:
		shown = "null"
	case *string:
		if x == nil {
			shown = "null"
		} else {
			shown = "'" + *x + "'"
		}
	case string:
		shown = "'" + x + "'"
	default:
		shown = fmt.Sprintf("'%v'", x)
	}
	v.problems = append(v.problems, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", shown, member, constraint))
}

// required records a missing required member.
func (v *validation) required(present bool, member string) {
	if !present {
		v.add(nil, member, "Member must not be null")
	}
}

// name checks a member against the AppStream name pattern; nil means absent and is not checked.
func (v *validation) name(value *string, member string) {
	if value != nil && !appStreamNamePattern.MatchString(*value) {
		v.add(*value, member, "Member must satisfy regular expression pattern: ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$")
	}
}

func (v *validation) length(value *string, member string, min, max int) {
	if value == nil {
		return
	}
	n := utf8.RuneCountInString(*value)
	if n < min {
		v.add(*value, member, fmt.Sprintf("Member must have length greater than or equal to %d", min))
	}
	if n > max {
		v.add(*value, member, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
}

func (v *validation) enum(value *string, member string, allowed ...string) {
	if value == nil {
		return
	}
	for _, a := range allowed {
		if *value == a {
			return
		}
	}
	v.add(*value, member, "Member must satisfy enum value set: ["+strings.Join(allowed, ", ")+"]")
}

func (v *validation) intRange(value *int32, member string, min, max int64) {
	if value == nil {
		return
	}
	if int64(*value) < min {
		v.add(*value, member, fmt.Sprintf("Member must have value greater than or equal to %d", min))
	}
	if int64(*value) > max {
		v.add(*value, member, fmt.Sprintf("Member must have value less than or equal to %d", max))
	}
}

func (v *validation) listLen(n int, member string, min, max int) {
	if n < min {
		v.add(fmt.Sprintf("[%d items]", n), member, fmt.Sprintf("Member must have length greater than or equal to %d", min))
	}
	if max > 0 && n > max {
		v.add(fmt.Sprintf("[%d items]", n), member, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
}

// pattern checks a member against a model pattern; shown is the pattern as the model spells it.
func (v *validation) pattern(value *string, member string, re *regexp.Regexp, shown string) {
	if value != nil && !re.MatchString(*value) {
		v.add(*value, member, "Member must satisfy regular expression pattern: "+shown)
	}
}

func (v *validation) arn(value *string, member string) {
	if value != nil && (len(*value) > maxARNLength || !arnPattern.MatchString(*value)) {
		v.add(*value, member, "Member must satisfy regular expression pattern: ^arn:aws(?:\\-cn|\\-iso\\-b|\\-iso|\\-us\\-gov)?:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9][A-Za-z0-9:_/+=,@.\\\\-]{0,1023}$")
	}
}

// appStreamTags checks an AppStream tag map (TagResource, CreateFleet, CreateStack).
func (v *validation) appStreamTags(tags map[string]string, member string, min int) {
	if tags == nil && min == 0 {
		return
	}
	v.listLen(len(tags), member, min, 50)
	for _, k := range sortedKeys(tags) {
		if problem := tagKeyProblem(k); problem != "" {
			v.add(k, member+".key", problem)
		}
		val := tags[k]
		if utf8.RuneCountInString(val) > 256 {
			v.add(val, member+".value", "Member must have length less than or equal to 256")
		} else if !tagValueRule.MatchString(val) {
			v.add(val, member+".value", `Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)
		}
	}
}

// tagKeyProblem returns why key is not a valid AppStream tag key, or "".
func tagKeyProblem(key string) string {
	n := utf8.RuneCountInString(key)
	switch {
	case n < 1:
		return "Member must have length greater than or equal to 1"
	case n > 128:
		return "Member must have length less than or equal to 128"
	case strings.HasPrefix(strings.ToLower(key), "aws:"):
		return `Member must satisfy regular expression pattern: ^(^(?!aws:).[\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`
	}
	_, size := utf8.DecodeRuneInString(key)
	if !tagKeyRest.MatchString(key[size:]) {
		return `Member must satisfy regular expression pattern: ^(^(?!aws:).[\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`
	}
	return ""
}

// err returns the collected violations as one ValidationException, or nil.
func (v *validation) err() error {
	switch len(v.problems) {
	case 0:
		return nil
	case 1:
		return wire.Errorf("ValidationException", "1 validation error detected: %s", v.problems[0])
	}
	return wire.Errorf("ValidationException", "%d validation errors detected: %s", len(v.problems), strings.Join(v.problems, "; "))
}

// tokenErrorCodes is the error each paginated operation answers a bad NextToken with, when its
// service models one: Application Auto Scaling declares InvalidNextTokenException, WorkSpaces
// only InvalidParameterValuesException. AppStream models no token error, so it answers with the
// generic ValidationException.
var tokenErrorCodes = map[string]string{
	"DescribeScalableTargets":            "InvalidNextTokenException",
	"DescribeScalingActivities":          "InvalidNextTokenException",
	"DescribeScheduledActions":           "InvalidNextTokenException",
	"DescribeWorkspaces":                 "InvalidParameterValuesException",
	"DescribeWorkspacesConnectionStatus": "InvalidParameterValuesException",
	"DescribeWorkspaceDirectories":       "InvalidParameterValuesException",
	"DescribeWorkspaceBundles":           "InvalidParameterValuesException",
}

// page cuts items into one page starting at the position encoded in token. Tokens are opaque
// to callers and bound to the operation that issued them, like AWS's.
func page[T any](items []T, token *string, size int, op string) ([]T, *string, error) {
	start := 0
	code, ok := tokenErrorCodes[op]
	if !ok {
		code = "ValidationException"
	}
	if token != nil && *token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*token)
		prefix := op + ":"
		if err != nil || !strings.HasPrefix(string(raw), prefix) {
			return nil, nil, wire.Errorf(code, "The NextToken %q is not valid for %s.", *token, op)
		}
		n, err := strconv.Atoi(strings.TrimPrefix(string(raw), prefix))
		if err != nil || n < 0 || n > len(items) {
			return nil, nil, wire.Errorf(code, "The NextToken %q is not valid for %s.", *token, op)
		}
		start = n
	}
	end := start + size
	if end >= len(items) {
		return items[start:], nil, nil
	}
	next := base64.RawURLEncoding.EncodeToString([]byte(op + ":" + strconv.Itoa(end)))
	return items[start:end], &next, nil
}

func str(s string) *string { return &s }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// paged is a list output with its NextToken, which is left out on the last page: AWS omits it,
// and some clients treat an explicit null differently from an absent member.
func paged(key string, items any, next *string) map[string]any {
	out := map[string]any{key: items}
	if next != nil {
		out["NextToken"] = *next
	}
	return out
}
