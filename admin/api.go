package admin

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	_ "embed"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/topic"
)

// The JSON admin API. docs/admin-api.md describes it for people and
// openapi.yaml for tools; a test checks that every route here is in both.

const apiPrefix = "/api/v1/"

// Paging defaults and bounds for list endpoints.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// maxPublishBody bounds a POST /api/v1/publish body (a base64 payload of
// up to ~12 MiB).
const maxPublishBody = 16 << 20

//go:embed openapi.yaml
var openAPISpec []byte

func (a *Server) mountAPI() {
	api := http.NewServeMux()
	add := func(pattern string, h http.HandlerFunc) {
		api.Handle(pattern, h)
		method, path, _ := strings.Cut(pattern, " ")
		a.routes = append(a.routes, Route{Method: method, Path: path, Guarded: true})
	}
	add("GET /api/v1/broker", a.getBroker)
	add("GET /api/v1/clients", a.listClients)
	add("GET /api/v1/clients/{id...}", a.getClient)
	add("DELETE /api/v1/clients/{id...}", a.disconnectClient)
	add("GET /api/v1/subscriptions", a.listSubscriptions)
	add("GET /api/v1/retained", a.listRetained)
	add("DELETE /api/v1/retained", a.deleteRetained)
	add("POST /api/v1/publish", a.publish)
	add("POST /api/v1/reload", a.reload)
	add("GET /api/v1/cluster", a.getCluster)
	add("GET /api/v1/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(openAPISpec)
	})
	// The stream takes the token from the query too, so it is mounted on
	// the outer mux with its own guard; its pattern is more specific than
	// /api/v1/ and wins.
	a.mux.Handle("GET /api/v1/stats/stream", a.guardWith(http.HandlerFunc(a.statsStream), true))
	a.routes = append(a.routes, Route{Method: "GET", Path: "/api/v1/stats/stream", Guarded: true})

	// Whether a token is needed and whether the request has it: open to
	// all, so the dashboard can ask for a token before calling anything
	// (instead of collecting 401s).
	a.handle("GET /api/v1/auth", false, http.HandlerFunc(a.authStatus))

	a.mux.Handle(apiPrefix, a.guard(jsonErrors(api)))
}

func (a *Server) authStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"token_required": a.opts.Token != "", "authorized": a.authorized(r, false)})
}

// jsonErrors answers requests the API has no route for with a JSON error
// (404, or 405 with Allow) instead of the mux's plain text.
func jsonErrors(api *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := api.Handler(r); pattern != "" {
			api.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{header: http.Header{}}
		api.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		status := rec.status
		if status == 0 {
			status = http.StatusNotFound
		}
		msg := "no such endpoint: " + r.URL.Path
		if status == http.StatusMethodNotAllowed {
			msg = fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path)
		}
		writeError(w, status, msg)
	})
}

// statusRecorder keeps only the status and headers of the mux's answer.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (s *statusRecorder) WriteHeader(status int)      { s.status = status }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

// errorBody is every error's JSON.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// page reads ?limit= and ?offset=.
func page(r *http.Request) (limit, offset int, err error) {
	limit, offset = defaultLimit, 0
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > maxLimit {
			return 0, 0, fmt.Errorf("limit %q is not a number from 1 to %d", s, maxLimit)
		}
	}
	if s := q.Get("offset"); s != "" {
		if offset, err = strconv.Atoi(s); err != nil || offset < 0 {
			return 0, 0, fmt.Errorf("offset %q is not a number from 0 up", s)
		}
	}
	return limit, offset, nil
}

// window returns the page of items.
func window[T any](items []T, limit, offset int) []T {
	if offset >= len(items) {
		return []T{}
	}
	return items[offset:min(offset+limit, len(items))]
}

// ListenerInfo is one listener the broker serves.
type ListenerInfo struct {
	Network string `json:"network"`
	Address string `json:"address"`
}

// brokerInfo is GET /api/v1/broker.
type brokerInfo struct {
	Version       string         `json:"version"`
	StartedAt     time.Time      `json:"started_at"`
	UptimeSeconds int64          `json:"uptime_seconds"`
	WebSocketURL  string         `json:"websocket_url"`
	Listeners     []ListenerInfo `json:"listeners"`
	Reload        bool           `json:"reload_available"`
	Clustered     bool           `json:"clustered"` // GET /api/v1/cluster answers
	Stats         statsBody      `json:"stats"`
}

func (a *Server) getBroker(w http.ResponseWriter, _ *http.Request) {
	st := a.srv.Stats()
	info := brokerInfo{
		Version:       a.srv.Version(),
		StartedAt:     time.Now().Add(-time.Duration(st.UptimeSeconds) * time.Second).UTC().Truncate(time.Second),
		UptimeSeconds: st.UptimeSeconds,
		WebSocketURL:  a.opts.WebSocketURL,
		Listeners:     []ListenerInfo{},
		Reload:        a.opts.Reload != nil,
		Clustered:     a.opts.Cluster != nil,
		Stats:         statsJSON(st),
	}
	for _, addr := range a.srv.Addrs() {
		info.Listeners = append(info.Listeners, ListenerInfo{Network: addr.Network(), Address: addr.String()})
	}
	writeJSON(w, http.StatusOK, info)
}

// clientList is GET /api/v1/clients.
type clientList struct {
	Total   int                 `json:"total"`
	Offset  int                 `json:"offset"`
	Limit   int                 `json:"limit"`
	Clients []broker.ClientInfo `json:"clients"`
}

func (a *Server) listClients(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := page(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q := r.URL.Query()
	var connected *bool
	if s := q.Get("connected"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("connected %q is not true or false", s))
			return
		}
		connected = &b
	}
	prefix, username := q.Get("prefix"), q.Get("username")
	_, byUser := q["username"]
	search := strings.ToLower(q.Get("q"))
	all := a.srv.Clients()
	out := all[:0]
	for _, c := range all {
		switch {
		case connected != nil && c.Connected != *connected,
			!strings.HasPrefix(c.ClientID, prefix),
			byUser && c.Username != username,
			search != "" && !strings.Contains(strings.ToLower(c.ClientID), search) &&
				!strings.Contains(strings.ToLower(c.Username), search) &&
				!strings.Contains(c.Remote, search):
			continue
		}
		out = append(out, c)
	}
	writeJSON(w, http.StatusOK, clientList{Total: len(out), Offset: offset, Limit: limit, Clients: window(out, limit, offset)})
}

// clientDetail is GET /api/v1/clients/{id}.
type clientDetail struct {
	Client        broker.ClientInfo         `json:"client"`
	Subscriptions []broker.SubscriptionInfo `json:"subscriptions"`
}

func (a *Server) getClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ci, subs, ok := a.srv.Client(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no session for client %q", id))
		return
	}
	if subs == nil {
		subs = []broker.SubscriptionInfo{}
	}
	writeJSON(w, http.StatusOK, clientDetail{Client: ci, Subscriptions: subs})
}

func (a *Server) disconnectClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.srv.Disconnect(id) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("client %q is not connected", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"client_id": id, "disconnected": true})
}

// subscriptionList is GET /api/v1/subscriptions.
type subscriptionList struct {
	Total         int                       `json:"total"`
	Offset        int                       `json:"offset"`
	Limit         int                       `json:"limit"`
	Subscriptions []broker.SubscriptionInfo `json:"subscriptions"`
}

func (a *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := page(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var subs []broker.SubscriptionInfo
	if id, ok := r.URL.Query()["client"]; ok {
		if _, s, found := a.srv.Client(id[0]); found {
			subs = s
		}
	} else {
		subs = a.srv.Subscriptions()
	}
	if subs == nil {
		subs = []broker.SubscriptionInfo{}
	}
	writeJSON(w, http.StatusOK, subscriptionList{Total: len(subs), Offset: offset, Limit: limit, Subscriptions: window(subs, limit, offset)})
}

// retainedMessage is one retained message in JSON: the payload as text
// when it is valid UTF-8, else in base64, with Encoding saying which.
type retainedMessage struct {
	Topic    string `json:"topic"`
	QoS      byte   `json:"qos"`
	Size     int    `json:"size"`
	Encoding string `json:"encoding"` // "utf-8" or "base64"
	Payload  string `json:"payload"`
}

// retainedList is GET /api/v1/retained.
type retainedList struct {
	Filter    string            `json:"filter"`
	Count     int               `json:"count"`
	Truncated bool              `json:"truncated"`
	Messages  []retainedMessage `json:"messages"`
}

func (a *Server) listRetained(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter := q.Get("filter")
	if filter == "" {
		filter = "#"
	}
	limit := defaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q is not a number from 1 to %d", s, maxLimit))
			return
		}
		limit = n
	}
	msgs, err := a.srv.Retained(filter, limit+1)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := retainedList{Filter: filter, Messages: []retainedMessage{}}
	if len(msgs) > limit {
		msgs, out.Truncated = msgs[:limit], true
	}
	for _, m := range msgs {
		rm := retainedMessage{Topic: m.Topic, QoS: m.QoS, Size: len(m.Payload), Encoding: "utf-8", Payload: string(m.Payload)}
		if !utf8.Valid(m.Payload) {
			rm.Encoding, rm.Payload = "base64", base64.StdEncoding.EncodeToString(m.Payload)
		}
		out.Messages = append(out.Messages, rm)
	}
	out.Count = len(out.Messages)
	writeJSON(w, http.StatusOK, out)
}

func (a *Server) deleteRetained(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("topic")
	if err := topic.ValidateName(name); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("topic %q: %v", name, err))
		return
	}
	if !a.srv.DeleteRetained(name) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no retained message on %q", name))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"topic": name, "deleted": true})
}

// publishRequest is the body of POST /api/v1/publish. Payload is text;
// PayloadBase64 carries binary payloads. At most one of them is set.
type publishRequest struct {
	Topic         string  `json:"topic"`
	Payload       *string `json:"payload"`
	PayloadBase64 *string `json:"payload_base64"`
	QoS           int     `json:"qos"`
	Retain        bool    `json:"retain"`
}

func (a *Server) publish(w http.ResponseWriter, r *http.Request) {
	var req publishRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPublishBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", tooLarge.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "body is not a publish request: "+err.Error())
		return
	}
	if err := topic.ValidateName(req.Topic); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("topic %q: %v", req.Topic, err))
		return
	}
	if req.QoS < 0 || req.QoS > 2 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("qos %d is not 0, 1 or 2", req.QoS))
		return
	}
	var payload []byte
	switch {
	case req.Payload != nil && req.PayloadBase64 != nil:
		writeError(w, http.StatusBadRequest, "set payload or payload_base64, not both")
		return
	case req.Payload != nil:
		payload = []byte(*req.Payload)
	case req.PayloadBase64 != nil:
		var err error
		if payload, err = base64.StdEncoding.DecodeString(*req.PayloadBase64); err != nil {
			writeError(w, http.StatusBadRequest, "payload_base64: "+err.Error())
			return
		}
	}
	if err := a.srv.Publish(req.Topic, payload, byte(req.QoS), req.Retain); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, topic.ErrInvalid) || errors.Is(err, broker.ErrInvalidQoS) {
			status = http.StatusBadRequest
		}
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"topic": req.Topic, "size": len(payload), "qos": req.QoS, "retain": req.Retain})
}

func (a *Server) reload(w http.ResponseWriter, _ *http.Request) {
	if a.opts.Reload == nil {
		writeError(w, http.StatusNotImplemented, "reload is not available in this process")
		return
	}
	if err := a.opts.Reload(); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "configuration refused, the running one stays: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"reloaded": true})
}

// errNotClustered is the 404 of GET /api/v1/cluster on a single node.
const errNotClustered = "this node is not clustered (no cluster.listen in its configuration)"

func (a *Server) getCluster(w http.ResponseWriter, _ *http.Request) {
	if a.opts.Cluster == nil {
		writeError(w, http.StatusNotFound, errNotClustered)
		return
	}
	writeJSON(w, http.StatusOK, a.opts.Cluster())
}
