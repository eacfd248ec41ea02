// Package apitest is what every API test uses: Keys makes a keyring with one
// key of each kind (and a revoked one) for a server under test, and Client
// sends requests to that server, in process or over HTTP, and checks each
// exchange against the OpenAPI document the server itself serves at
// /openapi.json (kin-openapi's openapi3filter: the request and the
// response, status, headers and body). So the spec and the code cannot
// drift: a field, a status or a parameter the spec does not describe fails
// the test that met it.
//
// It does not import package api, so that api's own tests can use it; a
// test builds its server with api.Config{Auth: api.Auth{Keys: k.Ring}}.
// Only tests import it: kin-openapi stays out of the binary.
package apitest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/rummage/rummage/keys"
)

// Keys is a keyring for a server under test.
type Keys struct {
	Ring *keys.Ring
	// Secrets of active keys, by kind.
	Search, Public, Events, Admin string
	// Revoked is the secret of a revoked search key.
	Revoked string
}

// NewKeys returns a fresh keyring in memory, for a test that changes it
// (revokes, creates); tests that only read can share Shared().
func NewKeys(t testing.TB) *Keys {
	t.Helper()
	k, err := newKeys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func init() {
	// The pages the server serves besides JSON (/docs and its viewer).
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/javascript", openapi3filter.PlainBodyDecoder)
}

// Shared returns one keyring per test binary.
var Shared = sync.OnceValue(func() *Keys {
	k, err := newKeys()
	if err != nil {
		panic(err)
	}
	return k
})

func newKeys() (*Keys, error) {
	ctx := context.Background()
	r, err := keys.Open(ctx, &keys.MemStore{}, keys.RingConfig{})
	if err != nil {
		return nil, err
	}
	k := &Keys{Ring: r}
	for _, d := range []struct {
		kind keys.Kind
		dst  *string
	}{{keys.Search, &k.Search}, {keys.Public, &k.Public}, {keys.Events, &k.Events}, {keys.Admin, &k.Admin}, {keys.Search, &k.Revoked}} {
		if *d.dst, _, err = r.Create(ctx, d.kind, "apitest "+string(d.kind)); err != nil {
			return nil, err
		}
	}
	if _, err := r.Revoke(ctx, keys.IDOf(k.Revoked)); err != nil {
		return nil, err
	}
	return k, nil
}

// Of returns the secret of the active key of kind.
func (k *Keys) Of(kind keys.Kind) string {
	switch kind {
	case keys.Search:
		return k.Search
	case keys.Public:
		return k.Public
	case keys.Events:
		return k.Events
	case keys.Admin:
		return k.Admin
	}
	panic("apitest: unknown kind " + kind)
}

// UserToken returns a user token for user signed by the key signer (a
// secret of a search or admin key), valid for ttl from now.
func UserToken(t testing.TB, signer, user string, ttl time.Duration) string {
	t.Helper()
	tok, err := keys.SignUserToken(signer, user, time.Now(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Response is what the server answered.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode decodes the JSON body into v, refusing unknown fields.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %d response: %v\n%s", r.Status, err, r.Body)
	}
}

// Option changes a request before it is sent.
type Option func(*http.Request)

// WithKey sends secret as the request's key instead of the client's.
func WithKey(secret string) Option {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }
}

// Anonymous sends no key.
func Anonymous() Option { return func(r *http.Request) { r.Header.Del("Authorization") } }

// WithHeader sets a header.
func WithHeader(name, value string) Option {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

// WithUserToken sends a user token.
func WithUserToken(tok string) Option { return WithHeader(keys.UserTokenHeader, tok) }

// WithContext sends the request under ctx.
func WithContext(ctx context.Context) Option {
	return func(r *http.Request) { *r = *r.WithContext(ctx) }
}

// Client talks to one server and checks every exchange against its spec.
type Client struct {
	h    http.Handler // in process; nil for a remote server
	base string       // "http://host:port" of a remote server
	key  string
	spec *Spec
}

// NewClient returns a client of h that sends key ("" for none) with every
// request. It loads the spec h serves at /openapi.json.
func NewClient(t testing.TB, h http.Handler, key string) *Client {
	t.Helper()
	c := &Client{h: h, key: key}
	c.spec = c.loadSpec(t)
	return c
}

// NewRemote returns a client of the server at base ("http://127.0.0.1:8080").
func NewRemote(t testing.TB, base, key string) *Client {
	t.Helper()
	c := &Client{base: strings.TrimRight(base, "/"), key: key}
	c.spec = c.loadSpec(t)
	return c
}

var (
	specs     sync.Map // sha256 of the document → *Spec
	handlerOf sync.Map // in-process handler, or remote base URL → *Spec
)

func (c *Client) loadSpec(t testing.TB) *Spec {
	t.Helper()
	var cacheKey any = c.base // a remote server keeps its spec
	if c.h != nil {
		cacheKey = nil
		if reflect.TypeOf(c.h).Comparable() {
			cacheKey = c.h
		}
	}
	if cacheKey != nil {
		if s, ok := handlerOf.Load(cacheKey); ok {
			return s.(*Spec)
		}
	}
	r := c.send(t, http.MethodGet, "/openapi.json", nil, Anonymous())
	if r.Status != http.StatusOK {
		t.Fatalf("apitest: GET /openapi.json: %d %s", r.Status, r.Body)
	}
	sum := sha256.Sum256(r.Body)
	v, ok := specs.Load(sum)
	if !ok {
		s, err := LoadSpec(r.Body)
		if err != nil {
			t.Fatalf("apitest: the served /openapi.json: %v", err)
		}
		v, _ = specs.LoadOrStore(sum, s)
	}
	if cacheKey != nil {
		handlerOf.Store(cacheKey, v)
	}
	return v.(*Spec)
}

// Spec returns the document the client checks against.
func (c *Client) Spec() *Spec { return c.spec }

// Get sends GET target (a path with its query).
func (c *Client) Get(t testing.TB, target string, opts ...Option) *Response {
	t.Helper()
	return c.Do(t, http.MethodGet, target, nil, opts...)
}

// Do sends a request and checks the exchange against the spec; a mismatch
// fails the test (Errorf: the test goes on to its own checks).
func (c *Client) Do(t testing.TB, method, target string, body []byte, opts ...Option) *Response {
	t.Helper()
	req, resp := c.exchange(t, method, target, body, opts...)
	if err := c.spec.Check(req, resp.Status, resp.Header, resp.Body); err != nil {
		t.Errorf("apitest: %s %s → %d does not match the OpenAPI document: %v\nbody: %.600s", method, target, resp.Status, err, resp.Body)
	}
	return resp
}

func (c *Client) send(t testing.TB, method, target string, body []byte, opts ...Option) *Response {
	t.Helper()
	_, r := c.exchange(t, method, target, body, opts...)
	return r
}

func (c *Client) newRequest(t testing.TB, method, target string, body []byte, opts []Option) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	var req *http.Request
	if c.h != nil {
		req = httptest.NewRequest(method, target, rd)
	} else {
		var err error
		if req, err = http.NewRequest(method, c.base+target, rd); err != nil {
			t.Fatal(err)
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for _, o := range opts {
		o(req)
	}
	return req
}

// exchange sends the request; it returns a copy of the request as sent,
// for the checks.
func (c *Client) exchange(t testing.TB, method, target string, body []byte, opts ...Option) (*http.Request, *Response) {
	t.Helper()
	req := c.newRequest(t, method, target, body, opts)
	sent := req.Clone(req.Context())
	if body != nil {
		sent.Body = io.NopCloser(bytes.NewReader(body))
	}
	if c.h != nil {
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, req)
		return sent, &Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return sent, &Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// Spec is a loaded, valid OpenAPI document.
type Spec struct {
	Doc    *openapi3.T
	router routers.Router
}

// LoadSpec parses and validates an OpenAPI document.
func LoadSpec(data []byte) (*Spec, error) {
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("not a valid OpenAPI document: %w", err)
	}
	if doc.OpenAPI != "3.0.3" {
		return nil, fmt.Errorf("openapi %q; this checker is for 3.0.3", doc.OpenAPI)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &Spec{Doc: doc, router: r}, nil
}

// statusClientClosed is what the server records when the client went away;
// nobody receives it, so there is nothing to check.
const statusClientClosed = 499

// Check checks one exchange: a request the spec rejects must get a 4xx; a
// path that is not in the spec must get a 404, a method it does not list a
// 405 with Allow, both with the error body; every other response must be
// one the operation lists, with its headers and a body of its schema.
func (s *Spec) Check(req *http.Request, status int, header http.Header, body []byte) error {
	if status == statusClientClosed {
		return nil
	}
	ctx := context.Background()
	route, params, err := s.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		if status != http.StatusNotFound {
			return fmt.Errorf("the path is not in the spec, so the answer must be 404 (responses.NotFound), not %d", status)
		}
		return s.checkErrorBody(header, body)
	case errors.Is(err, routers.ErrMethodNotAllowed):
		if status != http.StatusMethodNotAllowed || header.Get("Allow") == "" {
			return fmt.Errorf("the spec lists no %s here, so the answer must be 405 with Allow (responses.MethodNotAllowed), not %d", req.Method, status)
		}
		return s.checkErrorBody(header, body)
	case err != nil:
		return err
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: authenticate, SkipSettingDefaults: true, MultiError: true},
	}
	if reqErr := openapi3filter.ValidateRequest(ctx, in); reqErr != nil && (status < 400 || status >= 500) {
		return fmt.Errorf("the spec rejects this request (%v), but the server answered %d", reqErr, status)
	}
	if status < 300 {
		if name := undeclaredParam(route.Operation, req); name != "" {
			return fmt.Errorf("the server took the query parameter %q, which the operation does not declare", name)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(ctx, out)
}

// undeclaredParam returns a query parameter of req that op does not
// declare, or "".
func undeclaredParam(op *openapi3.Operation, req *http.Request) string {
	for name := range req.URL.Query() {
		if op.Parameters.GetByInAndName(openapi3.ParameterInQuery, name) == nil {
			return name
		}
	}
	return ""
}

func (s *Spec) checkErrorBody(header http.Header, body []byte) error {
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("error Content-Type %q, want application/json", ct)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("error body: %w", err)
	}
	ref := s.Doc.Components.Schemas["Error"]
	if ref == nil {
		return errors.New("the spec has no components.schemas.Error")
	}
	return ref.Value.VisitJSON(v)
}

// authenticate is the spec's side of security: a requirement holds when
// the request carries its credential at all (whether the key is good is
// the server's to say, and the tests check what it says).
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	sc := in.SecurityScheme
	switch {
	case sc.Type == "http" && strings.EqualFold(sc.Scheme, "bearer"):
		if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return nil
		}
	case sc.Type == "apiKey" && sc.In == "header":
		if r.Header.Get(sc.Name) != "" {
			return nil
		}
	default:
		return fmt.Errorf("apitest: security scheme %s of type %s is not checked yet", in.SecuritySchemeName, sc.Type)
	}
	return in.NewError(nil)
}

// StripQueryID takes a listing list's leading query_id (unique per answer)
// out of its bytes, for tests that compare bodies; other bodies pass
// unchanged.
func StripQueryID(body []byte) []byte {
	return queryIDField.ReplaceAll(body, []byte("{"))
}

var queryIDField = regexp.MustCompile(`^\{"query_id":"[^"]*",`)
