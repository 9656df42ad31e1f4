package consistency

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// MiddlewareOption configures [Middleware].
type MiddlewareOption func(*middleware)

type middleware struct {
	header   string
	cookie   string
	path     string
	maxAge   time.Duration
	secure   bool
	sameSite http.SameSite
	session  []SessionOption
	log      *slog.Logger
}

// Header names the request and response header that carries the token
// (default "Replica-Token"). An empty name turns the header off.
func Header(name string) MiddlewareOption { return func(m *middleware) { m.header = name } }

// Cookie names the cookie that carries the token (default "replica_token").
// An empty name turns the cookie off.
func Cookie(name string) MiddlewareOption { return func(m *middleware) { m.cookie = name } }

// CookieAttributes sets the cookie's path (default "/"), lifetime (default
// one minute: a token matters only until replicas catch up), Secure flag
// (default false) and SameSite mode (default Lax). The cookie is always
// HttpOnly.
func CookieAttributes(path string, maxAge time.Duration, secure bool, sameSite http.SameSite) MiddlewareOption {
	return func(m *middleware) { m.path, m.maxAge, m.secure, m.sameSite = path, maxAge, secure, sameSite }
}

// WithSessionOptions passes options to the session each request gets.
func WithSessionOptions(opts ...SessionOption) MiddlewareOption {
	return func(m *middleware) { m.session = append(m.session, opts...) }
}

// MiddlewareLogger receives a debug line for each malformed token ignored.
func MiddlewareLogger(l *slog.Logger) MiddlewareOption { return func(m *middleware) { m.log = l } }

// Middleware gives every request a session ([WithSession]) that starts from
// the token the client sent, in a header or a cookie, and writes the
// session's newest token back, as the header and the cookie, before the
// response is committed. So a client that wrote something reads it back on
// its next request, whatever replica serves it and whichever process of
// yours handles it. A malformed token is ignored (logged at debug level), as
// if none had been sent.
func Middleware(next http.Handler, opts ...MiddlewareOption) http.Handler {
	m := &middleware{header: "Replica-Token", cookie: "replica_token", path: "/", maxAge: time.Minute, sameSite: http.SameSiteLaxMode}
	for _, o := range opts {
		if o != nil {
			o(m)
		}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := WithSession(r.Context(), m.session...)
		s := SessionFrom(ctx)
		if tok, ok := m.read(r); ok {
			s.merge(tok)
		}
		tw := &tokenWriter{ResponseWriter: w, m: m, s: s}
		next.ServeHTTP(tw, r.WithContext(ctx))
		tw.commit()
	})
}

// read returns the token the request carries, from the header first.
func (m *middleware) read(r *http.Request) (Token, bool) {
	var raw []string
	if m.header != "" {
		raw = append(raw, r.Header.Get(m.header))
	}
	if m.cookie != "" {
		if c, err := r.Cookie(m.cookie); err == nil {
			raw = append(raw, c.Value)
		}
	}
	var tok Token
	found := false
	for _, v := range raw {
		if v == "" {
			continue
		}
		t, err := ParseToken(v)
		if err != nil {
			m.log.Debug("consistency: ignoring a malformed token", "err", err)
			continue
		}
		tok, found = tok.Merge(t), true
	}
	return tok, found
}

// tokenWriter sets the token's header and cookie just before the response
// is committed.
type tokenWriter struct {
	http.ResponseWriter
	m         *middleware
	s         *Session
	committed bool
}

func (w *tokenWriter) commit() {
	if w.committed {
		return
	}
	w.committed = true
	t := w.s.Token()
	if t.IsZero() {
		return
	}
	v := t.String()
	if w.m.header != "" {
		w.Header().Set(w.m.header, v)
	}
	if w.m.cookie != "" {
		http.SetCookie(w.ResponseWriter, &http.Cookie{Name: w.m.cookie, Value: v, Path: w.m.path,
			MaxAge: int(w.m.maxAge.Seconds()), Secure: w.m.secure, HttpOnly: true, SameSite: w.m.sameSite})
	}
}

func (w *tokenWriter) WriteHeader(code int) {
	w.commit()
	w.ResponseWriter.WriteHeader(code)
}

func (w *tokenWriter) Write(b []byte) (int, error) {
	w.commit()
	return w.ResponseWriter.Write(b)
}

// Flush commits the token and flushes, if the underlying writer can.
func (w *tokenWriter) Flush() {
	w.commit()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands the connection over, if the underlying writer can.
func (w *tokenWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("consistency: the response writer cannot be hijacked")
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *tokenWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
