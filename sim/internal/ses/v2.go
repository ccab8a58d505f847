package ses

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// maxV2Body bounds a SESv2 request body: a 10 MB raw message is about 13.4 MB in base64.
const maxV2Body = 16 << 20

const identitiesPath = "/v2/email/identities"

// v2Op answers one SESv2 operation. identity is the {EmailIdentity} path parameter, if any.
type v2Op func(b *Backend, r *http.Request, identity string) (any, *wire.Error)

var v2Ops = map[string]v2Op{
	"SendEmail":           (*Backend).sendEmailV2,
	"CreateEmailIdentity": (*Backend).createEmailIdentity,
	"GetEmailIdentity":    (*Backend).getEmailIdentity,
	"ListEmailIdentities": (*Backend).listEmailIdentities,
	"DeleteEmailIdentity": (*Backend).deleteEmailIdentity,
}

// OperationV2 names the SESv2 operation a request is for, or "" if the emulator does not
// implement it.
func OperationV2(r *http.Request) string {
	op, _ := routeV2(r)
	return op
}

// ServeV2 answers a request under /v2/email/.
func (b *Backend) ServeV2(w http.ResponseWriter, r *http.Request) {
	out, err := b.serveV2(r)
	if err != nil {
		wire.WriteJSONError(w, wire.RestJSON, err)
		return
	}
	wire.WriteJSON(w, wire.RestJSON, out)
}

func (b *Backend) serveV2(r *http.Request) (any, *wire.Error) {
	op, identity := routeV2(r)
	if op == "" {
		return nil, &wire.Error{Code: "UnknownOperationException", Status: http.StatusNotFound,
			Message: "The emulator does not implement " + r.Method + " " + r.URL.Path + "."}
	}
	return v2Ops[op](b, r, identity)
}

// routeV2 matches a request against the REST routes of the implemented operations. Two routes
// lead to ListEmailIdentities: SDKs before mid-2026 send GET /v2/email/identities, later ones
// POST /v2/email/list-identities.
func routeV2(r *http.Request) (op, identity string) {
	path := r.URL.EscapedPath()
	switch {
	case path == "/v2/email/outbound-emails" && r.Method == http.MethodPost:
		return "SendEmail", ""
	case path == identitiesPath && r.Method == http.MethodPost:
		return "CreateEmailIdentity", ""
	case path == identitiesPath && r.Method == http.MethodGet,
		path == "/v2/email/list-identities" && r.Method == http.MethodPost:
		return "ListEmailIdentities", ""
	}
	escaped, ok := strings.CutPrefix(path, identitiesPath+"/")
	if !ok || escaped == "" || strings.Contains(escaped, "/") {
		return "", ""
	}
	name, err := url.PathUnescape(escaped)
	if err != nil {
		return "", ""
	}
	switch r.Method {
	case http.MethodGet:
		return "GetEmailIdentity", name
	case http.MethodDelete:
		return "DeleteEmailIdentity", name
	}
	return "", ""
}

// readJSON decodes a request body into v; an empty body leaves v as it is.
func readJSON(r *http.Request, v any) *wire.Error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxV2Body+1))
	if err != nil {
		return wire.Errorf("BadRequestException", "Could not read the request body: %v", err)
	}
	if len(body) > maxV2Body {
		return tooLarge(len(body) / 4 * 3)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return wire.Errorf("BadRequestException", "Could not parse the request body: %v", err)
	}
	return nil
}

func badRequest(format string, args ...any) *wire.Error {
	return wire.Errorf("BadRequestException", format, args...)
}

func notFound(identity string) *wire.Error {
	return &wire.Error{Code: "NotFoundException", Status: http.StatusNotFound,
		Message: "Email identity " + identity + " does not exist."}
}

type sendEmailRequest struct {
	FromEmailAddress string
	Destination      *destinationsJSON
	ReplyToAddresses []string
	Content          *emailContent
}

type sendEmailResponse struct {
	MessageID string `json:"MessageId"`
}

type emailContent struct {
	Simple   *simpleContent
	Raw      *rawContent
	Template *json.RawMessage
}

type simpleContent struct {
	Subject *textContent
	Body    *struct {
		Text *textContent
		HTML *textContent
	}
	Headers []struct{ Name, Value string }
}

type textContent struct {
	Data    *string
	Charset string
}

func (c *textContent) data() string {
	if c == nil || c.Data == nil {
		return ""
	}
	return *c.Data
}

type rawContent struct {
	Data []byte // base64 on the wire
}

func (b *Backend) sendEmailV2(r *http.Request, _ string) (any, *wire.Error) {
	var req sendEmailRequest
	if err := readJSON(r, &req); err != nil {
		return nil, err
	}
	e, err := req.email()
	if err != nil {
		return nil, err
	}
	id, err := b.send(e)
	if err != nil {
		return nil, err
	}
	return sendEmailResponse{MessageID: id}, nil
}

// email checks the request's shape and turns it into the message to send.
func (req *sendEmailRequest) email() (email, *wire.Error) {
	c := req.Content
	if c == nil {
		return email{}, missingMembers("BadRequestException", "content")
	}
	switch n := countTrue(c.Simple != nil, c.Raw != nil, c.Template != nil); {
	case n != 1:
		return email{}, badRequest("Exactly one of Simple, Raw or Template must be given in Content.")
	case c.Template != nil:
		return email{}, badRequest("templates are not supported by the emulator")
	case c.Raw != nil:
		if c.Raw.Data == nil {
			return email{}, missingMembers("BadRequestException", "content.raw.data")
		}
		var envelope []string
		if d := req.Destination; d != nil {
			envelope = slices.Concat(d.ToAddresses, d.CcAddresses, d.BccAddresses)
		}
		return rawEmail(apiV2, req.FromEmailAddress, envelope, c.Raw.Data)
	}
	return req.simpleEmail()
}

func (req *sendEmailRequest) simpleEmail() (email, *wire.Error) {
	s := req.Content.Simple
	var missing []string
	switch {
	case s.Subject == nil:
		missing = append(missing, "content.simple.subject")
	case s.Subject.Data == nil:
		missing = append(missing, "content.simple.subject.data")
	}
	if s.Body == nil {
		missing = append(missing, "content.simple.body")
	} else {
		if s.Body.Text != nil && s.Body.Text.Data == nil {
			missing = append(missing, "content.simple.body.text.data")
		}
		if s.Body.HTML != nil && s.Body.HTML.Data == nil {
			missing = append(missing, "content.simple.body.html.data")
		}
	}
	if len(missing) > 0 {
		return email{}, missingMembers("BadRequestException", missing...)
	}
	if len(s.Headers) > 15 {
		return email{}, badRequest("A message can have at most 15 custom headers.")
	}
	if req.FromEmailAddress == "" {
		return email{}, badRequest("FromEmailAddress is required when Content is Simple.")
	}
	e := email{
		api:     apiV2,
		source:  req.FromEmailAddress,
		replyTo: req.ReplyToAddresses,
		subject: s.Subject.data(),
		text:    s.Body.Text.data(),
		html:    s.Body.HTML.data(),
	}
	if d := req.Destination; d != nil {
		e.to, e.cc, e.bcc = d.ToAddresses, d.CcAddresses, d.BccAddresses
	}
	return e, nil
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

type createIdentityRequest struct {
	EmailIdentity *string
	Tags          []tag
}

type createIdentityResponse struct {
	IdentityType             string
	VerifiedForSendingStatus bool
}

func (b *Backend) createEmailIdentity(r *http.Request, _ string) (any, *wire.Error) {
	var req createIdentityRequest
	if err := readJSON(r, &req); err != nil {
		return nil, err
	}
	if req.EmailIdentity == nil {
		return nil, missingMembers("BadRequestException", "emailIdentity")
	}
	name := *req.EmailIdentity
	k := kindOf(name)
	if !validIdentity(name, k) {
		return nil, badRequest("Invalid email identity %s.", name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.identities[identityKey(name)]; ok {
		return nil, wire.Errorf("AlreadyExistsException", "Email identity %s already exists.", name)
	}
	b.addIdentity(name, k).tags = slices.Clone(req.Tags)
	return createIdentityResponse{IdentityType: k.v2(), VerifiedForSendingStatus: true}, nil
}

func validIdentity(name string, k kind) bool {
	if k == kindDomain {
		return validDomain(name)
	}
	bare, problem := checkAddress(name)
	return problem == "" && bare == name
}

type emailIdentityResponse struct {
	IdentityType             string
	FeedbackForwardingStatus bool
	VerifiedForSendingStatus bool
	VerificationStatus       string
	Policies                 map[string]string
	Tags                     []tag
}

func (b *Backend) getEmailIdentity(_ *http.Request, name string) (any, *wire.Error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id, ok := b.identities[identityKey(name)]
	if !ok {
		return nil, notFound(name)
	}
	return emailIdentityResponse{
		IdentityType:             id.kind.v2(),
		FeedbackForwardingStatus: true,
		VerifiedForSendingStatus: true,
		VerificationStatus:       "SUCCESS",
		Policies:                 map[string]string{},
		Tags:                     append([]tag{}, id.tags...),
	}, nil
}

func (b *Backend) deleteEmailIdentity(_ *http.Request, name string) (any, *wire.Error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := identityKey(name)
	if _, ok := b.identities[key]; !ok {
		return nil, notFound(name)
	}
	delete(b.identities, key)
	return struct{}{}, nil
}

type listIdentitiesRequest struct {
	Filter    map[string]string
	NextToken string
	PageSize  *int
}

type identityInfo struct {
	IdentityType       string
	IdentityName       string
	SendingEnabled     bool
	VerificationStatus string
}

type listIdentitiesResponse struct {
	EmailIdentities []identityInfo
	NextToken       string `json:",omitempty"`
}

func (b *Backend) listEmailIdentities(r *http.Request, _ string) (any, *wire.Error) {
	req, err := readListRequest(r)
	if err != nil {
		return nil, err
	}
	size := 1000
	if req.PageSize != nil && *req.PageSize != 0 {
		if *req.PageSize < 0 || *req.PageSize > 1000 {
			return nil, badRequest("PageSize must be between 0 and 1000.")
		}
		size = *req.PageSize
	}
	keep, err := identityFilter(req.Filter)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ids, next, pageErr := page(b.sortedIdentities(keep), req.NextToken, size)
	if pageErr != nil {
		return nil, badRequest("Invalid NextToken.")
	}
	out := listIdentitiesResponse{EmailIdentities: []identityInfo{}, NextToken: next}
	for _, id := range ids {
		out.EmailIdentities = append(out.EmailIdentities, identityInfo{
			IdentityType:       id.kind.v2(),
			IdentityName:       id.name,
			SendingEnabled:     true,
			VerificationStatus: "SUCCESS",
		})
	}
	return out, nil
}

// readListRequest reads ListEmailIdentities from the query string (GET) or the body (POST).
func readListRequest(r *http.Request) (listIdentitiesRequest, *wire.Error) {
	var req listIdentitiesRequest
	if r.Method == http.MethodPost {
		err := readJSON(r, &req)
		return req, err
	}
	q := r.URL.Query()
	req.NextToken = q.Get("NextToken")
	if s := q.Get("PageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return req, badRequest("PageSize must be a number.")
		}
		req.PageSize = &n
	}
	return req, nil
}

// identityFilter turns a ListEmailIdentities Filter into a predicate. Every identity in the
// emulator is verified, so VERIFICATION_STATUS keeps all of them or none.
func identityFilter(filter map[string]string) (func(*identity) bool, *wire.Error) {
	keep := []func(*identity) bool{}
	for key, value := range filter {
		switch key {
		case "IDENTITY_TYPE":
			keep = append(keep, func(id *identity) bool { return id.kind.v2() == value })
		case "VERIFICATION_STATUS":
			keep = append(keep, func(*identity) bool { return value == "SUCCESS" })
		case "IDENTITY_NAME_CONTAINS":
			keep = append(keep, func(id *identity) bool { return strings.Contains(id.name, value) })
		default:
			return nil, badRequest("Invalid filter key %s.", key)
		}
	}
	return func(id *identity) bool {
		for _, k := range keep {
			if !k(id) {
				return false
			}
		}
		return true
	}, nil
}
