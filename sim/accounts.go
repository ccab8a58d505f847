package sim

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/sts"
	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// Several accounts and regions in one emulator. A *Sim is one world: one (account, region)
// with its own fleets, images, stacks, WorkSpaces, queues, call log, faults and event targets.
// The Sim that New returns is the world of Options.AccountID and Options.Region, and the root:
// it holds the declared accounts, the temporary credentials STS issued, and the other worlds,
// each created on first use with the root's Options (its Clock included) but its own account
// and region. The root's ServeHTTP routes every AWS request to a world:
//
//  1. The access key and the region are read from the SigV4 credential (the Authorization
//     header, or the X-Amz-Credential query parameter of a presigned request).
//  2. The account is the account of the role whose temporary key it is (AssumeRole issued it;
//     the session token must come with it, and it must not have expired by the emulator's
//     clock), or the account that declares the key as a long-term key, or else the root
//     account: every other key, and an unsigned request, is the root account's IAM user
//     deskpilot-sim.
//  3. The region is the credential's region; an unsigned request's is Options.Region.
//  4. A call into a region an account's DeniedRegions lists fails as a service control policy
//     denies it, except STS's.
//  5. STS is answered for the caller: GetCallerIdentity names the user or the assumed role, and
//     AssumeRole checks the role's trust policy (TrustedAccounts, ExternalID) against the
//     caller's account.

// Account is an emulated AWS account: Options.AccountID's or another.
type Account struct {
	ID string `json:"Id" yaml:"Id"` // 12 digits
	// AccessKeys are long-term access key ids that sign as this account's IAM user
	// deskpilot-sim (16 to 128 word characters; a key belongs to one account).
	AccessKeys []string `json:"AccessKeys,omitempty" yaml:"AccessKeys"`
	Roles      []Role   `json:"Roles,omitempty" yaml:"Roles"`
	// DeniedRegions are regions where a service control policy denies every call but STS's
	// (as the usual region-deny SCP exempts global services).
	DeniedRegions []string `json:"DeniedRegions,omitempty" yaml:"DeniedRegions"`
}

// Role is an IAM role of an Account that AssumeRole can assume.
type Role struct {
	Name string `json:"RoleName" yaml:"RoleName"`
	// TrustedAccounts are the accounts whose principals the trust policy allows to assume the role.
	TrustedAccounts []string `json:"TrustedAccounts" yaml:"TrustedAccounts"`
	// ExternalID, when set, must be passed as ExternalId (the trust policy's sts:ExternalId condition).
	ExternalID string `json:"ExternalId,omitempty" yaml:"ExternalId"`
	// MaxSessionDuration in seconds, 3600..43200; default 3600.
	MaxSessionDuration int32 `json:"MaxSessionDuration,omitempty" yaml:"MaxSessionDuration"`
}

// defaultSessionDuration is AssumeRole's default DurationSeconds, and the most a role session
// may ask for when it assumes another role (role chaining).
const defaultSessionDuration = 3600

var (
	accountIDPattern = regexp.MustCompile(`^\d{12}$`)
	// regionPattern is the shape of every AWS region name (us-east-1, us-gov-west-1, eu-central-2…).
	regionPattern    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d{1,2}$`)
	accessKeyPattern = regexp.MustCompile(`^\w{16,128}$`)
	roleNamePattern  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	externalIDRe     = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

// validate checks an account and fills in defaults.
func (a *Account) validate() error {
	if !accountIDPattern.MatchString(a.ID) {
		return badRequestf("Id must be 12 digits, not %q", a.ID)
	}
	for _, k := range a.AccessKeys {
		if !accessKeyPattern.MatchString(k) {
			return badRequestf("access key %q must be 16 to 128 letters, digits or underscores", k)
		}
	}
	names := map[string]bool{}
	for i := range a.Roles {
		r := &a.Roles[i]
		if !roleNamePattern.MatchString(r.Name) {
			return badRequestf("RoleName %q must be 1 to 64 characters of [A-Za-z0-9_+=,.@-]", r.Name)
		}
		if names[r.Name] {
			return badRequestf("role %s is declared twice", r.Name)
		}
		names[r.Name] = true
		for _, t := range r.TrustedAccounts {
			if !accountIDPattern.MatchString(t) {
				return badRequestf("role %s: TrustedAccounts must be 12-digit account ids, not %q", r.Name, t)
			}
		}
		if r.TrustedAccounts == nil {
			r.TrustedAccounts = []string{}
		}
		if r.ExternalID != "" && (len(r.ExternalID) < 2 || len(r.ExternalID) > 1224 || !externalIDRe.MatchString(r.ExternalID)) {
			return badRequestf("role %s: ExternalId must be 2 to 1224 characters of [A-Za-z0-9_+=,.@:/-]", r.Name)
		}
		if r.MaxSessionDuration == 0 {
			r.MaxSessionDuration = defaultSessionDuration
		}
		if r.MaxSessionDuration < 3600 || r.MaxSessionDuration > 43200 {
			return badRequestf("role %s: MaxSessionDuration must be 3600 to 43200 seconds, not %d", r.Name, r.MaxSessionDuration)
		}
	}
	for _, region := range a.DeniedRegions {
		if !regionPattern.MatchString(region) {
			return badRequestf("DeniedRegions: %q is not a region name (such as eu-west-1)", region)
		}
	}
	return nil
}

func (a Account) clone() Account {
	a.AccessKeys = slices.Clone(a.AccessKeys)
	a.DeniedRegions = slices.Clone(a.DeniedRegions)
	roles := make([]Role, len(a.Roles))
	for i, r := range a.Roles {
		r.TrustedAccounts = slices.Clone(r.TrustedAccounts)
		roles[i] = r
	}
	a.Roles = roles
	if len(roles) == 0 {
		a.Roles = nil
	}
	return a
}

// registry is the root's: the declared accounts, the issued temporary credentials and the
// worlds. Its lock is never held while a world's lock is taken.
type registry struct {
	mu       sync.Mutex
	accounts map[string]Account
	// keys maps each declared long-term access key to its account.
	keys   map[string]string
	creds  map[string]*tempCredential
	worlds map[worldKey]*Sim
}

type worldKey struct{ account, region string }

// tempCredential is a temporary credential AssumeRole issued.
type tempCredential struct {
	accessKey, token string
	account, role    string
	session          string
	issued, expires  time.Time
}

func newRegistry() *registry {
	return &registry{accounts: map[string]Account{}, keys: map[string]string{}, creds: map[string]*tempCredential{}, worlds: map[worldKey]*Sim{}}
}

// top is the root world, which holds the registry.
func (s *Sim) top() *Sim {
	if s.parent != nil {
		return s.parent
	}
	return s
}

// SetAccount declares an account, or replaces its declaration (the root account may be set
// too, to give it roles, keys or denied regions). Nothing changes when a is invalid: a 400
// ControlError says why. Temporary credentials already issued stay valid.
func (s *Sim) SetAccount(a Account) error {
	a = a.clone()
	if err := a.validate(); err != nil {
		return err
	}
	reg := s.top().reg
	reg.mu.Lock()
	defer reg.mu.Unlock()
	for _, k := range a.AccessKeys {
		if owner, ok := reg.keys[k]; ok && owner != a.ID {
			return badRequestf("access key %s already belongs to account %s", k, owner)
		}
	}
	if old, ok := reg.accounts[a.ID]; ok {
		for _, k := range old.AccessKeys {
			delete(reg.keys, k)
		}
	}
	for _, k := range a.AccessKeys {
		reg.keys[k] = a.ID
	}
	reg.accounts[a.ID] = a
	return nil
}

// Accounts returns the declared accounts and the root account (declared or not), by ID.
func (s *Sim) Accounts() []Account {
	root := s.top()
	reg := root.reg
	reg.mu.Lock()
	defer reg.mu.Unlock()
	out := make([]Account, 0, len(reg.accounts)+1)
	if _, ok := reg.accounts[root.opts.AccountID]; !ok {
		out = append(out, Account{ID: root.opts.AccountID})
	}
	for _, a := range reg.accounts {
		out = append(out, a.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// account returns a declared account, or the root account when it is not declared.
func (s *Sim) account(id string) (Account, bool) {
	root := s.top()
	root.reg.mu.Lock()
	defer root.reg.mu.Unlock()
	a, ok := root.reg.accounts[id]
	if !ok && id == root.opts.AccountID {
		return Account{ID: id}, true
	}
	return a, ok
}

// World returns the world of an account in a region, creating it on first use (with the
// root's Options, clock included, and the root's base URL). World(AccountID(), Region()) is
// the root itself. It does not declare the account; the control API only reaches worlds of
// declared accounts (and the root's).
func (s *Sim) World(account, region string) *Sim {
	root := s.top()
	if account == root.opts.AccountID && region == root.opts.Region {
		return root
	}
	root.mu.Lock()
	base := root.baseURL
	root.mu.Unlock()
	reg := root.reg
	reg.mu.Lock()
	defer reg.mu.Unlock()
	k := worldKey{account, region}
	if w, ok := reg.worlds[k]; ok {
		return w
	}
	opts := root.opts
	opts.AccountID, opts.Region = account, region
	if opts.RandSeed != 0 {
		h := fnv.New64a()
		_, _ = h.Write([]byte(account + "/" + region))
		opts.RandSeed ^= h.Sum64() | 1
	}
	w := newWorld(opts)
	w.parent = root
	w.sns.ShareSigner(root.sns)
	w.baseURL = base
	reg.worlds[k] = w
	return w
}

// worlds returns the root and every world created so far.
func (s *Sim) worlds() []*Sim {
	root := s.top()
	root.reg.mu.Lock()
	defer root.reg.mu.Unlock()
	out := []*Sim{root}
	keys := make([]worldKey, 0, len(root.reg.worlds))
	for k := range root.reg.worlds {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].account+"/"+keys[i].region < keys[j].account+"/"+keys[j].region
	})
	for _, k := range keys {
		out = append(out, root.reg.worlds[k])
	}
	return out
}

// ExpireCredentials makes every temporary credential issued for a role of account expire now,
// and returns how many were still valid.
func (s *Sim) ExpireCredentials(account string) int {
	root := s.top()
	now := root.clock.Now()
	root.reg.mu.Lock()
	defer root.reg.mu.Unlock()
	n := 0
	for _, c := range root.reg.creds {
		if c.account == account && now.Before(c.expires) {
			c.expires = now
			n++
		}
	}
	return n
}

// principal is who signed a request.
type principal struct {
	sts.Caller
	accessKey string
	// role and session are set for an assumed role; roleID is the role's AROA… id.
	role, session, roleID string
	issued                time.Time
}

func userPrincipal(account, key string) principal {
	return principal{Caller: sts.User(account), accessKey: key}
}

// requestAuth is what the root decided about a request before handing it to a world: who
// signed it, and the error to answer instead of serving it (nil: serve it).
type requestAuth struct {
	who principal
	// deny is an authentication failure (expired or invalid token, bad region).
	deny *authError
	// scp is set when the account's service control policy denies the region.
	scp bool
}

// authError is an authentication failure, spelt per protocol.
type authError struct {
	queryCode, jsonCode, message string
	// jsonStatus is the status for JSON 1.1 services, otherStatus for every other protocol.
	jsonStatus, otherStatus int
}

var (
	errExpiredToken = &authError{queryCode: "ExpiredToken", jsonCode: "ExpiredTokenException",
		message: "The security token included in the request is expired", jsonStatus: http.StatusBadRequest, otherStatus: http.StatusForbidden}
	errInvalidToken = &authError{queryCode: "InvalidClientTokenId", jsonCode: "UnrecognizedClientException",
		message: "The security token included in the request is invalid.", jsonStatus: http.StatusForbidden, otherStatus: http.StatusForbidden}
)

func errBadRegion(region string) *authError {
	return &authError{queryCode: "SignatureDoesNotMatch", jsonCode: "InvalidSignatureException",
		message:    fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", region),
		jsonStatus: http.StatusForbidden, otherStatus: http.StatusForbidden}
}

type authKey struct{}

func withAuth(ctx context.Context, a *requestAuth) context.Context {
	return context.WithValue(ctx, authKey{}, a)
}

// authOf returns what the root decided about the request, or, for a request that did not come
// through the root (a world served directly), the world account's user.
func (s *Sim) authOf(ctx context.Context) *requestAuth {
	if a, ok := ctx.Value(authKey{}).(*requestAuth); ok {
		return a
	}
	return &requestAuth{who: userPrincipal(s.opts.AccountID, "")}
}

// Credential is what a SigV4 credential scope says: the access key, and the date, region and
// service it was signed for (empty when the credential has no full scope).
type Credential struct {
	AccessKey, Date, Region, Service string
}

// ParseCredential reads the SigV4 credential of a request: from its Authorization header
// ("AWS4-HMAC-SHA256 Credential=AKID/20261203/eu-west-1/appstream/aws4_request, …") or, for a
// presigned request, its X-Amz-Credential query parameter; and the session token, from the
// X-Amz-Security-Token header or query parameter. ok is false for an unsigned request. The
// signature is not checked.
func ParseCredential(authorization, queryCredential string) (c Credential, ok bool) {
	var raw string
	if authorization != "" {
		algorithm, rest, found := strings.Cut(strings.TrimSpace(authorization), " ")
		if !found || !strings.HasPrefix(algorithm, "AWS4-") {
			return Credential{}, false
		}
		for _, part := range strings.Split(rest, ",") {
			if v, isCred := strings.CutPrefix(strings.TrimSpace(part), "Credential="); isCred {
				raw = v
				break
			}
		}
	} else {
		raw = queryCredential
	}
	if raw == "" {
		return Credential{}, false
	}
	parts := strings.Split(raw, "/")
	c.AccessKey = parts[0]
	if c.AccessKey == "" {
		return Credential{}, false
	}
	// A scope comes whole or not at all: a credential with an empty date, region or service
	// is unscoped, so the request falls back to the default region rather than half a scope.
	if len(parts) == 5 && parts[4] == "aws4_request" && parts[1] != "" && parts[2] != "" && parts[3] != "" {
		c.Date, c.Region, c.Service = parts[1], parts[2], parts[3]
	}
	return c, true
}

// credentialOf is ParseCredential applied to a request, with its session token.
func credentialOf(r *http.Request) (c Credential, token string, ok bool) {
	q := r.URL.Query()
	c, ok = ParseCredential(r.Header.Get("Authorization"), q.Get("X-Amz-Credential"))
	token = r.Header.Get("X-Amz-Security-Token")
	if token == "" {
		token = q.Get("X-Amz-Security-Token")
	}
	return c, token, ok
}

// resolve decides who signed a request and which world serves it (steps 1 to 4 above).
func (s *Sim) resolve(r *http.Request) (*Sim, *requestAuth) {
	root := s.top()
	cred, token, signed := credentialOf(r)
	auth := &requestAuth{who: userPrincipal(root.opts.AccountID, cred.AccessKey)}
	region := root.opts.Region
	if signed {
		switch {
		case cred.Region == "":
		case regionPattern.MatchString(cred.Region):
			region = cred.Region
		default:
			auth.deny = errBadRegion(cred.Region)
		}
		now := root.clock.Now()
		reg := root.reg
		reg.mu.Lock()
		if tc, ok := reg.creds[cred.AccessKey]; ok {
			auth.who = root.rolePrincipal(tc)
			switch {
			case token != tc.token:
				auth.deny = errInvalidToken
			case !now.Before(tc.expires):
				auth.deny = errExpiredToken
			}
		} else if account, ok := reg.keys[cred.AccessKey]; ok {
			auth.who = userPrincipal(account, cred.AccessKey)
		}
		reg.mu.Unlock()
	} else if w := root.snsLinkWorld(r); w != nil {
		return w, auth
	}
	if a, ok := root.account(auth.who.Account); ok && slices.Contains(a.DeniedRegions, region) {
		auth.scp = true
	}
	return root.World(auth.who.Account, region), auth
}

// snsLinkWorld is the world of the topic (or subscription) an unsigned SNS link names (the
// SubscribeURL and UnsubscribeURL of SNS messages, which a subscriber follows without
// credentials), when that world exists.
func (s *Sim) snsLinkWorld(r *http.Request) *Sim {
	if r.Method != http.MethodGet {
		return nil
	}
	q := r.URL.Query()
	var arn string
	switch q.Get("Action") {
	case "ConfirmSubscription":
		arn = q.Get("TopicArn")
	case "Unsubscribe":
		arn = q.Get("SubscriptionArn")
	default:
		return nil
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[2] != "sns" {
		return nil
	}
	region, account := parts[3], parts[4]
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	return s.reg.worlds[worldKey{account, region}]
}

// rolePrincipal is the principal of an assumed role's session; the caller holds reg.mu.
func (s *Sim) rolePrincipal(tc *tempCredential) principal {
	roleID := roleIDOf(tc.account, tc.role)
	return principal{
		Caller: sts.Caller{Account: tc.account, Arn: "arn:aws:sts::" + tc.account + ":assumed-role/" + tc.role + "/" + tc.session,
			UserID: roleID + ":" + tc.session},
		accessKey: tc.accessKey, role: tc.role, session: tc.session, roleID: roleID,
		issued: tc.issued,
	}
}

// roleIDOf is the stable AROA… id of a role.
func roleIDOf(account, role string) string {
	return "AROA" + userIDFor("role/" + account + "/" + role)[4:]
}

// assumeRole decides a validated AssumeRole for caller: the trust check, then the duration,
// then new credentials dated by the emulator's clock.
func (s *Sim) assumeRole(caller principal, in sts.AssumeRoleInput) (sts.AssumeRoleOutput, error) {
	root := s.top()
	chained := caller.role != ""
	if chained && in.DurationSeconds > defaultSessionDuration {
		return sts.AssumeRoleOutput{}, sts.ValidationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assuming other roles.")
	}
	account, ok := root.account(in.RoleAccount)
	var role *Role
	if ok {
		for i := range account.Roles {
			if account.Roles[i].Name == in.RoleName {
				role = &account.Roles[i]
			}
		}
	}
	if role == nil || !slices.Contains(role.TrustedAccounts, caller.Account) || (role.ExternalID != "" && role.ExternalID != in.ExternalID) {
		return sts.AssumeRoleOutput{}, sts.NotAuthorized(caller.Caller, in.RoleArn)
	}
	duration := in.DurationSeconds
	if duration == 0 {
		duration = defaultSessionDuration
	}
	if duration > role.MaxSessionDuration {
		return sts.AssumeRoleOutput{}, sts.ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	now := root.clock.Now().UTC().Truncate(time.Second)
	tc := &tempCredential{
		accessKey: "ASIA" + randomBase32(16), token: randomToken(),
		account: in.RoleAccount, role: in.RoleName, session: in.RoleSessionName,
		issued: now, expires: now.Add(time.Duration(duration) * time.Second),
	}
	root.reg.mu.Lock()
	root.reg.creds[tc.accessKey] = tc
	p := root.rolePrincipal(tc)
	root.reg.mu.Unlock()
	return sts.AssumeRoleOutput{
		AccessKeyID: tc.accessKey, SecretAccessKey: randomBase64(30), SessionToken: tc.token, Expiration: tc.expires,
		AssumedRoleID: p.UserID, Arn: p.Arn,
	}, nil
}

// serveSTS answers an STS call for the caller the root resolved.
func (s *Sim) serveSTS(w http.ResponseWriter, r *http.Request) {
	who := s.authOf(r.Context()).who
	sts.Serve(w, r, who.Caller, func(in sts.AssumeRoleInput) (sts.AssumeRoleOutput, error) {
		return s.assumeRole(who, in)
	})
}

// iamPrefix is the service prefix of IAM actions (sts:AssumeRole, appstream:CreateFleet…): the
// signing name of the service.
func iamPrefix(service string) string {
	if service == ServiceSESv2 {
		return ServiceSES
	}
	return service
}

// refuse answers a request the root decided not to serve (an authentication failure, or a
// service control policy's deny), in the protocol's shape, and reports whether it did.
func (s *Sim) refuse(w http.ResponseWriter, r *http.Request, service, op string, p wire.Protocol, xmlns string) bool {
	auth := s.authOf(r.Context())
	var code, queryCode, message string
	var status int
	switch {
	case auth.deny != nil:
		d := auth.deny
		code, queryCode, message, status = d.jsonCode, d.queryCode, d.message, d.otherStatus
		if p == wire.JSON11 {
			status = d.jsonStatus
		}
	case auth.scp && service != ServiceSTS:
		message = "User: " + auth.who.Arn + " is not authorized to perform: " + iamPrefix(service) + ":" + op +
			" on resource: * with an explicit deny in a service control policy"
		code, queryCode, status = "AccessDeniedException", "AccessDenied", http.StatusForbidden
		if p == wire.JSON11 {
			status = http.StatusBadRequest
		}
	default:
		return false
	}
	switch p {
	case wire.Query:
		wire.WriteQueryError(w, xmlns, &wire.Error{Code: queryCode, Message: message, Status: status})
	case wire.JSON10: // SQS: query-compatible
		writeSQSError(w, newSQSErr(code, queryCode, status, "%s", message))
	default:
		wire.WriteJSONError(w, p, &wire.Error{Code: code, Message: message, Status: status})
	}
	return true
}

const base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func randomBase32(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = base32Alphabet[b[i]%32]
	}
	return string(b)
}

func randomBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// randomToken is a session token: opaque, long, base64 like STS's.
func randomToken() string { return "IQoJb3JpZ2luX2Vj" + randomBase64(192) }

// accountRoutes adds the root's account and STS endpoints, and the per-world control API.
func (s *Sim) accountRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/accounts", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, map[string]any{"Accounts": s.Accounts()})
	})
	mux.HandleFunc("POST /_sim/accounts", func(w http.ResponseWriter, r *http.Request) {
		var a Account
		if !readControl(w, r, &a) {
			return
		}
		if err := s.SetAccount(a); err != nil {
			writeControlError(w, err)
			return
		}
		stored, _ := s.account(a.ID)
		writeControl(w, http.StatusOK, stored)
	})
	mux.HandleFunc("POST /_sim/sts/expire", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Account string }
		if !readControl(w, r, &in) {
			return
		}
		if !accountIDPattern.MatchString(in.Account) {
			writeControlError(w, badRequestf("Account must be a 12-digit account id, not %q", in.Account))
			return
		}
		writeControl(w, http.StatusOK, map[string]int{"Expired": s.ExpireCredentials(in.Account)})
	})
	mux.HandleFunc("/_sim/accounts/{id}/regions/{region}/{rest...}", func(w http.ResponseWriter, r *http.Request) {
		id, region, rest := r.PathValue("id"), r.PathValue("region"), r.PathValue("rest")
		if _, ok := s.account(id); !ok {
			writeControlError(w, notFoundf("account %s is not declared: POST /_sim/accounts {\"Id\": %q} first (GET /_sim/accounts lists them)", id, id))
			return
		}
		if !regionPattern.MatchString(region) {
			writeControlError(w, badRequestf("%q is not a region name (such as eu-west-1)", region))
			return
		}
		if rest == "accounts" || strings.HasPrefix(rest, "accounts/") || strings.HasPrefix(rest, "sts/") {
			writeControlError(w, notFoundf("/_sim/%s is an endpoint of the whole emulator, not of one world: use it without /_sim/accounts/%s/regions/%s", rest, id, region))
			return
		}
		world := s.World(id, region)
		r2 := r.Clone(context.WithValue(r.Context(), scopedKey{}, true))
		r2.URL.Path = "/_sim/" + rest
		r2.URL.RawPath = ""
		world.control.ServeHTTP(w, r2)
	})
}

// scopedKey marks a control request that came through /_sim/accounts/{id}/regions/{region}/:
// it concerns that world alone (POST …/reset resets only it).
type scopedKey struct{}

func scoped(r *http.Request) bool {
	v, _ := r.Context().Value(scopedKey{}).(bool)
	return v
}
