// Package sts emulates the two AWS STS operations tools use (query protocol, 2011-06-15):
// GetCallerIdentity, to check their credentials and find their account, and AssumeRole, to
// work in another account. The package knows the wire shapes and validates input as STS does;
// who the caller is, which roles exist and whom they trust is the caller's business (see
// Serve's assume function).
package sts

import (
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// QueryNamespace is the XML namespace of STS responses.
const QueryNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// UserName is the IAM user every long-term access key of the emulator signs as.
const UserName = "deskpilot-sim"

// Caller is the principal a request is signed by, as GetCallerIdentity reports it.
type Caller struct {
	Account string
	Arn     string
	UserID  string
}

// User returns the IAM user deskpilot-sim of account.
func User(account string) Caller {
	return Caller{Account: account, Arn: "arn:aws:iam::" + account + ":user/" + UserName, UserID: userID(account)}
}

// AssumeRoleInput is a validated AssumeRole request. RoleAccount and RoleName are read from
// RoleArn (the name is the ARN's last path segment).
type AssumeRoleInput struct {
	RoleArn, RoleAccount, RoleName string
	RoleSessionName                string
	// ExternalID is "" when the request has none.
	ExternalID string
	// DurationSeconds is 0 when the request has none (the role's default applies).
	DurationSeconds int32
}

// AssumeRoleOutput is what a successful AssumeRole returns.
type AssumeRoleOutput struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	Expiration                                 time.Time
	// AssumedRoleID is ROLEID:SESSION, Arn arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
	AssumedRoleID, Arn string
}

// Backend answers STS requests as the IAM user deskpilot-sim of one account, with no roles to
// assume. The emulator itself uses Serve, which knows the caller.
type Backend struct {
	caller Caller
}

// New returns the STS backend of the account accountID.
func New(accountID string) *Backend {
	return &Backend{caller: User(accountID)}
}

// ServeQuery answers an STS request whose form holds Action=<Op> as the account's user. Every
// AssumeRole is refused (there are no roles).
func (b *Backend) ServeQuery(w http.ResponseWriter, r *http.Request) {
	Serve(w, r, b.caller, func(in AssumeRoleInput) (AssumeRoleOutput, error) {
		return AssumeRoleOutput{}, NotAuthorized(b.caller, in.RoleArn)
	})
}

// NotAuthorized is the error AssumeRole answers when the role does not exist, or does not trust
// the caller (STS does not tell the two apart).
func NotAuthorized(caller Caller, roleArn string) *wire.Error {
	return &wire.Error{Code: "AccessDenied", Status: http.StatusForbidden,
		Message: "User: " + caller.Arn + " is not authorized to perform: sts:AssumeRole on resource: " + roleArn}
}

// ValidationError is STS's error for input it refuses (HTTP 400).
func ValidationError(format string, args ...any) *wire.Error {
	return &wire.Error{Code: "ValidationError", Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// Serve answers an STS request whose form holds Action=<Op>, signed by caller. assume decides
// a validated AssumeRole: it returns the credentials, or the error to answer (a *wire.Error).
// The router has normally parsed the form already.
func Serve(w http.ResponseWriter, r *http.Request, caller Caller, assume func(AssumeRoleInput) (AssumeRoleOutput, error)) {
	if r.Form == nil {
		_ = r.ParseForm()
	}
	switch action := r.Form.Get("Action"); action {
	case "GetCallerIdentity":
		wire.WriteQuery(w, getCallerIdentityResponse{
			Xmlns:    QueryNamespace,
			Result:   callerIdentity{Arn: caller.Arn, UserID: caller.UserID, Account: caller.Account},
			Metadata: responseMetadata{RequestID: requestID(w)},
		})
	case "AssumeRole":
		in, verr := ParseAssumeRole(r.Form.Get, r.Form.Has)
		if verr != nil {
			wire.WriteQueryError(w, QueryNamespace, verr)
			return
		}
		out, err := assume(in)
		if err != nil {
			e, ok := err.(*wire.Error)
			if !ok {
				e = &wire.Error{Code: "InternalFailure", Status: http.StatusInternalServerError, Message: err.Error()}
			}
			wire.WriteQueryError(w, QueryNamespace, e)
			return
		}
		wire.WriteQuery(w, assumeRoleResponse{
			Xmlns: QueryNamespace,
			Result: assumeRoleResult{
				AssumedRoleUser: assumedRoleUser{AssumedRoleID: out.AssumedRoleID, Arn: out.Arn},
				Credentials: credentials{AccessKeyID: out.AccessKeyID, SecretAccessKey: out.SecretAccessKey,
					SessionToken: out.SessionToken, Expiration: out.Expiration.UTC().Format(time.RFC3339)},
			},
			Metadata: responseMetadata{RequestID: requestID(w)},
		})
	default:
		wire.WriteQueryError(w, QueryNamespace,
			wire.Errorf("InvalidAction", "Could not find operation %s for version 2011-06-15.", action))
	}
}

var (
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]*$`)
	externalIDPattern  = regexp.MustCompile(`^[\w+=,.@:/-]*$`)
	// roleArnPattern is an IAM role ARN: partition, empty region, 12-digit account, role/ and an
	// optional path before the name.
	roleArnPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})$`)
)

// ParseAssumeRole reads and validates AssumeRole's parameters as STS does: the model's length
// and pattern constraints, all reported in one ValidationError, then the role ARN's shape.
// get and has read the form (url.Values' Get and Has).
func ParseAssumeRole(get func(string) string, has func(string) bool) (AssumeRoleInput, *wire.Error) {
	in := AssumeRoleInput{RoleArn: get("RoleArn"), RoleSessionName: get("RoleSessionName"), ExternalID: get("ExternalId")}
	var v validation
	v.str(in.RoleArn, has("RoleArn"), "roleArn", 20, 2048, nil, "")
	v.str(in.RoleSessionName, has("RoleSessionName"), "roleSessionName", 2, 64, sessionNamePattern, `[\w+=,.@-]*`)
	if has("ExternalId") {
		v.str(in.ExternalID, true, "externalId", 2, 1224, externalIDPattern, `[\w+=,.@:\/-]*`)
	}
	if has("DurationSeconds") {
		raw := get("DurationSeconds")
		n, err := strconv.ParseInt(raw, 10, 32)
		switch {
		case err != nil:
			v.add("Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must be an integer", raw)
		case n < 900:
			v.add("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", n)
		case n > 43200:
			v.add("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200", n)
		default:
			in.DurationSeconds = int32(n)
		}
	}
	if err := v.err(); err != nil {
		return in, err
	}
	m := roleArnPattern.FindStringSubmatch(in.RoleArn)
	if m == nil {
		return in, ValidationError("%s is not a valid IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", in.RoleArn)
	}
	in.RoleAccount, in.RoleName = m[1], m[2]
	return in, nil
}

// validation collects constraint violations in AWS's words.
type validation struct{ msgs []string }

func (v *validation) add(format string, args ...any) {
	v.msgs = append(v.msgs, fmt.Sprintf(format, args...))
}

func (v *validation) str(val string, present bool, member string, minLen, maxLen int, re *regexp.Regexp, pattern string) {
	switch {
	case !present:
		v.add("Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	case len(val) < minLen:
		v.add("Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", val, member, minLen)
	case len(val) > maxLen:
		v.add("Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", val, member, maxLen)
	case re != nil && !re.MatchString(val):
		v.add("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", val, member, pattern)
	}
}

func (v *validation) err() *wire.Error {
	switch len(v.msgs) {
	case 0:
		return nil
	case 1:
		return ValidationError("1 validation error detected: %s", v.msgs[0])
	}
	return ValidationError("%d validation errors detected: %s", len(v.msgs), strings.Join(v.msgs, "; "))
}

type getCallerIdentityResponse struct {
	XMLName  xml.Name         `xml:"GetCallerIdentityResponse"`
	Xmlns    string           `xml:"xmlns,attr"`
	Result   callerIdentity   `xml:"GetCallerIdentityResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type callerIdentity struct {
	Arn     string
	UserID  string `xml:"UserId"`
	Account string
}

// assumeRoleResponse is AssumeRole's output in the official model's order: Credentials,
// AssumedRoleUser (PackedPolicySize and SourceIdentity are left out: no policies or source
// identities are passed).
type assumeRoleResponse struct {
	XMLName  xml.Name         `xml:"AssumeRoleResponse"`
	Xmlns    string           `xml:"xmlns,attr"`
	Result   assumeRoleResult `xml:"AssumeRoleResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type assumeRoleResult struct {
	Credentials     credentials     `xml:"Credentials"`
	AssumedRoleUser assumedRoleUser `xml:"AssumedRoleUser"`
}

type credentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type assumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	Arn           string `xml:"Arn"`
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// userID returns a unique id shaped like an IAM user's ("AIDA" and 17 characters of [A-Z2-7]),
// the same for the same account every time.
func userID(accountID string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	sum := sha256.Sum256([]byte("deskpilot-sim/" + accountID))
	id := []byte("AIDA")
	for _, c := range sum[:17] {
		id = append(id, alphabet[c%32])
	}
	return string(id)
}

// requestID returns the request id the router put on the response, or sets a new one, so that
// the id in the body matches the x-amzn-RequestId header.
func requestID(w http.ResponseWriter) string {
	h := w.Header()
	if id := h.Get("X-Amzn-Requestid"); id != "" {
		return id
	}
	id := wire.RequestID()
	h.Set("X-Amzn-Requestid", id)
	return id
}
