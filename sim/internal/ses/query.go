package ses

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// queryOp answers one SES v1 action from its form. It returns the members of the action's
// <Action>Result element, or nil for the deprecated actions whose response has none.
type queryOp func(b *Backend, form url.Values) (any, *wire.Error)

var queryOps = map[string]queryOp{
	"SendEmail":                         (*Backend).sendEmail,
	"SendRawEmail":                      (*Backend).sendRawEmail,
	"VerifyEmailIdentity":               (*Backend).verifyEmailIdentity,
	"VerifyEmailAddress":                (*Backend).verifyEmailAddress,
	"VerifyDomainIdentity":              (*Backend).verifyDomainIdentity,
	"ListIdentities":                    (*Backend).listIdentities,
	"DeleteIdentity":                    (*Backend).deleteIdentity,
	"GetIdentityVerificationAttributes": (*Backend).getIdentityVerificationAttributes,
}

// ServeQuery answers an SES v1 request, whose form holds Action=<Op>. The router has normally
// parsed the form already.
func (b *Backend) ServeQuery(w http.ResponseWriter, r *http.Request) {
	if r.Form == nil {
		_ = r.ParseForm()
	}
	action := r.Form.Get("Action")
	op, ok := queryOps[action]
	if !ok {
		wire.WriteQueryError(w, QueryNamespace,
			wire.Errorf("InvalidAction", "Could not find operation %s for version 2010-12-01.", action))
		return
	}
	result, err := op(b, r.Form)
	if err != nil {
		wire.WriteQueryError(w, QueryNamespace, err)
		return
	}
	resp := queryResponse{
		XMLName:  xml.Name{Local: action + "Response"},
		Xmlns:    QueryNamespace,
		Metadata: responseMetadata{RequestID: requestID(w)},
	}
	if result != nil {
		resp.Result = &queryResult{name: action + "Result", members: result}
	}
	wire.WriteQuery(w, resp)
}

// queryResponse is the envelope of every query response:
// <ActionResponse xmlns=…><ActionResult>…</ActionResult><ResponseMetadata>…</ResponseMetadata>.
type queryResponse struct {
	XMLName  xml.Name
	Xmlns    string `xml:"xmlns,attr"`
	Result   *queryResult
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// queryResult is an <ActionResult> element holding the members of an operation's output.
type queryResult struct {
	name    string
	members any
}

// MarshalXML writes the members inside an element named after the action.
func (r *queryResult) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	return e.EncodeElement(r.members, xml.StartElement{Name: xml.Name{Local: r.name}})
}

// xmlList is a query-protocol list: <Name><member>…</member>…</Name>, present even when empty.
type xmlList struct {
	Members []string `xml:"member"`
}

type messageIDResult struct {
	MessageID string `xml:"MessageId"`
}

type verifyDomainResult struct {
	VerificationToken string
}

type listIdentitiesResult struct {
	Identities xmlList
	NextToken  string `xml:",omitempty"`
}

type verificationAttributesResult struct {
	VerificationAttributes attributeMap
}

// attributeMap is a query-protocol map: <entry><key>…</key><value>…</value></entry>….
type attributeMap struct {
	Entries []attributeEntry `xml:"entry"`
}

type attributeEntry struct {
	Key   string                 `xml:"key"`
	Value verificationAttributes `xml:"value"`
}

type verificationAttributes struct {
	VerificationStatus string
	VerificationToken  string `xml:",omitempty"`
}

func (b *Backend) sendEmail(form url.Values) (any, *wire.Error) {
	req := required{form: form}
	req.value("Source", "source")
	req.structure("Destination", "destination")
	if req.structure("Message", "message") {
		if req.structure("Message.Subject", "message.subject") {
			req.value("Message.Subject.Data", "message.subject.data")
		}
		if req.structure("Message.Body", "message.body") {
			req.content("Message.Body.Text", "message.body.text")
			req.content("Message.Body.Html", "message.body.html")
		}
	}
	if err := req.err(); err != nil {
		return nil, err
	}
	id, err := b.send(email{
		api:     apiV1,
		source:  form.Get("Source"),
		to:      formList(form, "Destination.ToAddresses"),
		cc:      formList(form, "Destination.CcAddresses"),
		bcc:     formList(form, "Destination.BccAddresses"),
		replyTo: formList(form, "ReplyToAddresses"),
		subject: form.Get("Message.Subject.Data"),
		text:    form.Get("Message.Body.Text.Data"),
		html:    form.Get("Message.Body.Html.Data"),
	})
	if err != nil {
		return nil, err
	}
	return messageIDResult{MessageID: id}, nil
}

func (b *Backend) sendRawEmail(form url.Values) (any, *wire.Error) {
	req := required{form: form}
	if req.structure("RawMessage", "rawMessage") {
		req.value("RawMessage.Data", "rawMessage.data")
	}
	if err := req.err(); err != nil {
		return nil, err
	}
	data, decodeErr := base64.StdEncoding.DecodeString(form.Get("RawMessage.Data"))
	if decodeErr != nil {
		return nil, wire.Errorf("InvalidParameterValue", "RawMessage.Data is not valid base64.")
	}
	e, err := rawEmail(apiV1, form.Get("Source"), formList(form, "Destinations"), data)
	if err != nil {
		return nil, err
	}
	id, err := b.send(e)
	if err != nil {
		return nil, err
	}
	return messageIDResult{MessageID: id}, nil
}

func (b *Backend) verifyEmailIdentity(form url.Values) (any, *wire.Error) {
	if err := b.verifyEmail(form); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// verifyEmailAddress is the deprecated twin of VerifyEmailIdentity; its response has no result.
func (b *Backend) verifyEmailAddress(form url.Values) (any, *wire.Error) {
	return nil, b.verifyEmail(form)
}

func (b *Backend) verifyEmail(form url.Values) *wire.Error {
	req := required{form: form}
	req.value("EmailAddress", "emailAddress")
	if err := req.err(); err != nil {
		return err
	}
	addr := form.Get("EmailAddress")
	if bare, problem := checkAddress(addr); problem != "" || bare != addr {
		return wire.Errorf("InvalidParameterValue", "Invalid email address %s.", addr)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addIdentity(addr, kindEmail)
	return nil
}

func (b *Backend) verifyDomainIdentity(form url.Values) (any, *wire.Error) {
	req := required{form: form}
	req.value("Domain", "domain")
	if err := req.err(); err != nil {
		return nil, err
	}
	domain := form.Get("Domain")
	if !validDomain(domain) {
		return nil, wire.Errorf("InvalidParameterValue", "Invalid domain name %s.", domain)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return verifyDomainResult{VerificationToken: b.addIdentity(domain, kindDomain).token}, nil
}

func (b *Backend) listIdentities(form url.Values) (any, *wire.Error) {
	keep := func(*identity) bool { return true }
	switch t := form.Get("IdentityType"); t {
	case "":
	case kindEmail.v1(), kindDomain.v1():
		keep = func(id *identity) bool { return id.kind.v1() == t }
	default:
		return nil, wire.Errorf("ValidationError", "1 validation error detected: Value '%s' at 'identityType' "+
			"failed to satisfy constraint: Member must satisfy enum value set: [EmailAddress, Domain]", t)
	}
	size := 1000
	if s := form.Get("MaxItems"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return nil, wire.Errorf("InvalidParameterValue", "MaxItems must be between 1 and 1000.")
		}
		size = n
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ids, next, err := page(b.sortedIdentities(keep), form.Get("NextToken"), size)
	if err != nil {
		return nil, wire.Errorf("InvalidParameterValue", "Invalid NextToken.")
	}
	out := listIdentitiesResult{Identities: xmlList{Members: []string{}}, NextToken: next}
	for _, id := range ids {
		out.Identities.Members = append(out.Identities.Members, id.name)
	}
	return out, nil
}

// deleteIdentity forgets an identity. Like AWS it succeeds for identities that do not exist.
func (b *Backend) deleteIdentity(form url.Values) (any, *wire.Error) {
	req := required{form: form}
	req.value("Identity", "identity")
	if err := req.err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.identities, identityKey(form.Get("Identity")))
	return struct{}{}, nil
}

// getIdentityVerificationAttributes reports on the identities asked about; like AWS it leaves
// out those it has never heard of.
func (b *Backend) getIdentityVerificationAttributes(form url.Values) (any, *wire.Error) {
	names := formList(form, "Identities")
	if _, ok := form["Identities"]; !ok && names == nil {
		return nil, missingMembers("ValidationError", "identities")
	}
	if len(names) > 100 {
		return nil, wire.Errorf("ValidationError", "1 validation error detected: Value '[%s]' at 'identities' "+
			"failed to satisfy constraint: Member must have length less than or equal to 100", strings.Join(names, ", "))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := verificationAttributesResult{}
	for _, name := range names {
		id, ok := b.identities[identityKey(name)]
		if !ok {
			continue
		}
		out.VerificationAttributes.Entries = append(out.VerificationAttributes.Entries, attributeEntry{
			Key:   name,
			Value: verificationAttributes{VerificationStatus: "Success", VerificationToken: id.token},
		})
	}
	return out, nil
}

// formList reads a query-protocol list: prefix.member.1, prefix.member.2, … up to the first gap.
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

// required collects the required members missing from a query form, named by their paths in
// AWS's validation messages ("message.subject.data").
type required struct {
	form    url.Values
	missing []string
}

// value requires the form key.
func (r *required) value(key, path string) {
	if _, ok := r.form[key]; !ok {
		r.missing = append(r.missing, path)
	}
}

// structure requires a structure member, which is present when any key lies under it. It
// reports whether it is present, so that its own required members can be checked.
func (r *required) structure(prefix, path string) bool {
	for key := range r.form {
		if key == prefix || strings.HasPrefix(key, prefix+".") {
			return true
		}
	}
	r.missing = append(r.missing, path)
	return false
}

// content requires Data of an optional Content member, if the member was given at all.
func (r *required) content(prefix, path string) {
	for key := range r.form {
		if strings.HasPrefix(key, prefix+".") {
			r.value(prefix+".Data", path+".data")
			return
		}
	}
}

func (r *required) err() *wire.Error {
	if len(r.missing) == 0 {
		return nil
	}
	return missingMembers("ValidationError", r.missing...)
}
