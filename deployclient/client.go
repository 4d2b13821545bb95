// Package deployclient is the client of the zato HTTP API (docs/architecture.md) and of stock Zato's /ide-deploy.
// The CLI, the language server and the tests use it.
package deployclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/zato-go/zato/wire"
)

// KindZato is a stock Zato server: only /ide-deploy is available and it gives no per-server confirmation.
const KindZato = "zato"

// KindZatoGo names this project's servers explicitly; it is the same as leaving kind empty.
const KindZatoGo = "zato-go"

// Config says how to reach one target.
type Config struct {
	URL                string
	Username, Password string
	CAFile             string // PEM bundle trusted in addition to nothing else (the system pool is not used when set)
	InsecureSkipVerify bool
	Timeout            time.Duration // per request; long-polls and event streams get their wait on top. Default 30s.
	Kind               string        // "" (this project's server) or "zato" (stock Zato)
	Retries            int           // retries on network errors and 5xx; default 3, negative for none
	// WaitForStart is how long a write keeps trying a server that refuses connections (one that is starting:
	// `zato start ENV & zato deploy x.py`); 0: only the Retries.
	WaitForStart time.Duration
	Logger       *slog.Logger // retries and other noise at debug level; default discards
}

// Client talks to one target. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string
	r    *resty.Client
	log  *slog.Logger
	// noneAnswered: Dial tried every server and none answered; this is the first, whose requests will say so.
	noneAnswered bool
}

// Errors callers branch on. Use errors.Is: they wrap the detail.
var (
	// ErrConflict is a 409 conflict: the module changed since the version the upload named as its base.
	ErrConflict = errors.New("conflict")
	// ErrUnauthorized is a 401 or 403: wrong user name or password.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnreachable is a network failure: connection refused or reset, DNS, TLS, a timeout before any answer.
	ErrUnreachable = errors.New("unreachable")
	// ErrUnsupported is an operation the target's kind does not offer (stock Zato has only /ide-deploy).
	ErrUnsupported = errors.New("not supported by this server kind")
)

// APIError is an error answer (4xx, 5xx) from the server.
type APIError struct {
	Status    int    // HTTP status
	Code      string // "bad_name", "not_found", ... (for invoke errors, the Python exception type)
	Message   string
	Traceback string // invoke errors only
	// Conflict is the version someone else deployed since the upload's base (409 conflict only).
	Conflict *wire.Conflict
}

func (e *APIError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("server answered %d: %s", e.Status, e.Message)
}

// Is makes errors.Is(err, ErrUnauthorized) true for 401 and 403 answers.
func (e *APIError) Is(target error) bool {
	if target == ErrConflict {
		return e.Status == http.StatusConflict && e.Conflict != nil
	}
	return target == ErrUnauthorized && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// New builds a client. It does not contact the server (see Ping).
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bad server URL %q: want http(s)://host:port", cfg.URL)
	}
	switch cfg.Kind {
	case "", KindZato:
	case KindZatoGo:
		cfg.Kind = ""
	default:
		return nil, fmt.Errorf("unknown server kind %q (want %q, the default, or %q)", cfg.Kind, KindZatoGo, KindZato)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	} else if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tlsConf := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // opt-in for self-signed dev servers
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	tr.MaxIdleConnsPerHost = 16
	tr.DialContext = dialer()
	// No http.Client timeout: it would cut event streams and long-polls. Each call sets a context deadline instead.
	r := resty.NewWithClient(&http.Client{Transport: tr}).
		SetBaseURL(u.String()).
		SetLogger(restyLogger{log}).
		SetRetryCount(cfg.Retries).
		SetRetryWaitTime(100*time.Millisecond).
		SetRetryMaxWaitTime(2*time.Second).
		SetDisableWarn(true). // basic auth over plain HTTP is the local quickstart; not worth a log line per request
		SetHeader("User-Agent", "zato-go-deployclient")
	if cfg.Username != "" || cfg.Password != "" {
		r.SetBasicAuth(cfg.Username, cfg.Password)
	}
	return &Client{cfg: cfg, base: u.String(), r: r, log: log}, nil
}

// URL is the server the client talks to.
func (c *Client) URL() string { return c.base }

// Kind is "" or KindZato.
func (c *Client) Kind() string { return c.cfg.Kind }

// retryPolicy says when a request may be sent again.
type retryPolicy int

const (
	// retrySafe: reads. Any network error or 5xx.
	retrySafe retryPolicy = iota
	// retryKeyedWrite: uploads, rollbacks, undeploys, sent with an idempotency key (see NewKey): a repeat with the
	// same key returns the deployment the first try made, so network errors and 5xx qualify, but not a timeout
	// (the server is slow, not gone).
	retryKeyedWrite
	// retryNotSent: invocations run user code, so only failures that prove nothing reached the server.
	retryNotSent
)

func (p retryPolicy) condition(resp *resty.Response, err error) bool {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return false
		}
		switch p {
		case retryNotSent:
			return notSent(err)
		case retryKeyedWrite:
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
		return true
	}
	if resp == nil || resp.StatusCode() < 500 || p == retryNotSent {
		return false
	}
	// 501 and 505 will not get better; a 503 is doKeyed's to ask again, after the server's Retry-After, and to
	// report if the deadline comes first.
	switch resp.StatusCode() {
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported, http.StatusServiceUnavailable:
		return false
	}
	return true
}

// NotSent reports an error that proves the request never reached a server (a refused connection, DNS, a connection
// the server had closed before the request was written): sending
// it again, to that server or another, cannot run it twice.
func NotSent(err error) bool { return notSent(err) }

// notSent reports failures that happen before a request leaves: refused connections, DNS, closed connections.
func notSent(err error) bool {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, errPeerClosed) || errors.As(err, &dnsErr) || (errors.As(err, &opErr) && opErr.Op == "dial")
}

// req starts a request with the per-call deadline and retry policy.
func (c *Client) req(ctx context.Context, p retryPolicy) *resty.Request {
	return c.r.R().SetContext(ctx).AddRetryCondition(p.condition)
}

// withTimeout bounds one call by the configured timeout plus extra (a long-poll's wait).
func (c *Client) withTimeout(ctx context.Context, extra time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.Timeout+extra)
}

// retryAfterOf is how long a 503 asks to wait (its Retry-After seconds, within 100 ms and 5 s).
func retryAfterOf(resp *resty.Response) time.Duration {
	d := 500 * time.Millisecond
	if n, err := strconv.Atoi(resp.Header().Get("Retry-After")); err == nil {
		d = time.Duration(n) * time.Second
	}
	return min(max(d, 100*time.Millisecond), 5*time.Second)
}

// sleepCtx waits d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// NewKey returns a fresh idempotency key for one write: every try of that write carries it.
func NewKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// do sends a request and decodes a 2xx JSON answer into out (nil to skip). Errors are ErrUnreachable, ErrUnauthorized
// (as an *APIError), *APIError, or the context's error.
func (c *Client) do(parent context.Context, p retryPolicy, method, path string, body, out any) error {
	return c.doKeyed(parent, p, "", method, path, body, out)
}

// doKeyed is do with an idempotency key ("" for none).
func (c *Client) doKeyed(parent context.Context, p retryPolicy, key, method, path string, body, out any) error {
	ctx, cancel := c.withTimeout(parent, 0)
	defer cancel()
	if key == "" && p == retryKeyedWrite {
		p = retryNotSent // without a key a repeat could make a second deployment
	}
	var resp, unavailable *resty.Response
	var err error
	waitUntil := time.Now().Add(c.cfg.WaitForStart)
	if p != retryKeyedWrite {
		waitUntil = time.Time{}
	}
	for {
		r := c.req(ctx, p)
		if key != "" {
			r.SetHeader(wire.IdempotencyHeader, key)
		}
		if body != nil {
			r.SetHeader("Content-Type", "application/json").SetBody(body)
		}
		resp, err = r.Execute(method, path)
		// A server whose ODB is away for a moment (PostgreSQL restarting) says so with 503 and Retry-After: wait as
		// told and ask again within the deadline (reads, and writes with their key), rather than give up after
		// the HTTP client's few retries.
		if err == nil && p != retryNotSent && resp.StatusCode() == http.StatusServiceUnavailable {
			unavailable = resp
			if sleepCtx(ctx, retryAfterOf(resp)) {
				continue
			}
			break
		}
		// A server that is not listening yet (it is starting: `zato start ENV & zato deploy x.py`) never saw the
		// request: wait for it within the deadline rather than give up after the HTTP client's few retries.
		if err == nil || !notSent(err) || time.Now().After(waitUntil) || !sleepCtx(ctx, 200*time.Millisecond) {
			break
		}
	}
	if err != nil && unavailable != nil && parent.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		// The deadline ran out while asking again: what the server last said (its ODB is away) is the news, not
		// that this last try got no answer.
		return c.answerError(unavailable.StatusCode(), unavailable.Body())
	}
	if err != nil {
		return c.netErr(parent, method, path, err)
	}
	if resp.IsError() {
		return c.answerError(resp.StatusCode(), resp.Body())
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Body(), out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// netErr classifies a transport error: the caller's own cancellation or deadline stays itself; everything else,
// including our per-request timeout, is unreachable.
func (c *Client) netErr(parent context.Context, method, path string, err error) error {
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("%s %s%s: %w", method, c.base, path, perr)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s%s: %w: no answer within %s", method, c.base, path, ErrUnreachable, c.cfg.Timeout)
	}
	// net/http's *url.Error repeats the method and URL said above: its cause alone ("dial tcp ...: connection refused").
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	return fmt.Errorf("%s %s%s: %w: %w", method, c.base, path, ErrUnreachable, err)
}

// answerError is apiError with a refused login told in the user's words: which server refused which user.
func (c *Client) answerError(status int, body []byte) error {
	err := apiError(status, body)
	if ae, ok := err.(*APIError); ok && (status == http.StatusUnauthorized || status == http.StatusForbidden) {
		ae.Message = fmt.Sprintf("%s refused user %q: check the user name and password", c.base, c.cfg.Username)
	}
	return err
}

// apiError decodes {"error": {...}} (API errors and invoke errors share it).
func apiError(status int, body []byte) error {
	var e struct {
		Error struct {
			Code, Type, Message, Traceback string
			Current                        *wire.Conflict `json:"current"`
		} `json:"error"`
	}
	ae := &APIError{Status: status}
	if json.Unmarshal(body, &e) == nil && (e.Error.Message != "" || e.Error.Code != "" || e.Error.Type != "") {
		ae.Code, ae.Message, ae.Traceback, ae.Conflict = e.Error.Code, e.Error.Message, e.Error.Traceback, e.Error.Current
		if ae.Code == "" {
			ae.Code = e.Error.Type
		}
	} else if page, ok := htmlPage(body); ok {
		// Another web server, or a proxy's error page: its markup says nothing to the user.
		ae.Message = fmt.Sprintf("an HTML page%s, not a zato server's answer: check the url", page)
	} else {
		ae.Message = strings.TrimSpace(string(body))
		if len(ae.Message) > 300 {
			ae.Message = ae.Message[:300] + "..."
		}
		if ae.Message == "" {
			ae.Message = http.StatusText(status)
		}
	}
	return ae
}

// htmlPage says whether body is an HTML page, and gives its title as ` ("title")` when it has one.
func htmlPage(body []byte) (string, bool) {
	b := bytes.TrimSpace(body)
	lower := bytes.ToLower(b[:min(len(b), 512)])
	if !bytes.HasPrefix(lower, []byte("<!doctype html")) && !bytes.HasPrefix(lower, []byte("<html")) && !bytes.Contains(lower, []byte("<head")) {
		return "", false
	}
	s := string(b)
	i := strings.Index(strings.ToLower(s), "<title>")
	j := strings.Index(strings.ToLower(s), "</title>")
	if i < 0 || j < i {
		return "", true
	}
	title := strings.Join(strings.Fields(s[i+len("<title>"):j]), " ")
	if len(title) > 80 {
		title = title[:80] + "..."
	}
	return fmt.Sprintf(" (%q)", title), true
}

// restyLogger sends resty's retry chatter to slog at debug level: the CLI and the LSP report failures themselves.
type restyLogger struct{ l *slog.Logger }

func (r restyLogger) Errorf(f string, v ...any) { r.l.Debug("http", "error", fmt.Sprintf(f, v...)) }
func (r restyLogger) Warnf(f string, v ...any)  { r.l.Debug("http", "warn", fmt.Sprintf(f, v...)) }
func (r restyLogger) Debugf(f string, v ...any) { r.l.Debug("http", "debug", fmt.Sprintf(f, v...)) }

var _ io.Closer = (*Client)(nil)

// Close releases idle connections.
func (c *Client) Close() error {
	c.r.GetClient().CloseIdleConnections()
	return nil
}
